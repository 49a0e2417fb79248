"""The small pieces alone, without parser or database: the calendar rules
(dates.py) and the canonical spelling (format.py)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from core.conditions import dates, format
from core.conditions import tree as T

D = dt.date


@pytest.mark.parametrize("today, n, unit, expected", [
    (D(2024, 3, 31), 1, "months", D(2024, 2, 29)),
    (D(2023, 3, 31), 1, "months", D(2023, 2, 28)),
    (D(2024, 3, 31), 13, "months", D(2023, 2, 28)),
    (D(2024, 1, 31), 2, "months", D(2023, 11, 30)),
    (D(2024, 2, 29), 1, "years", D(2023, 2, 28)),
    (D(2024, 6, 10), 2, "weeks", D(2024, 5, 27)),
    (D(2024, 1, 1), 1, "days", D(2023, 12, 31)),
    (D(2024, 1, 1), 0, "days", D(2024, 1, 1)),
    (D(2024, 1, 1), 100_000, "years", dt.date.min),
    (D(2024, 1, 1), 10**9, "days", dt.date.min),
])
def test_n_units_ago(today, n, unit, expected):
    assert dates.ago(today, n, unit) == expected


def test_birthday_codes_wrap_over_new_year_in_two_ranges():
    codes = dates.birthday_codes(D(2023, 12, 28), 7)
    assert codes == {1228, 1229, 1230, 1231, 101, 102, 103}
    assert dates.md_ranges(codes) == [(101, 103), (1228, 1231)]


def test_february_29_joins_february_28_in_years_without_it():
    assert dates.birthday_codes(D(2023, 2, 28), 1) == {228, 229}
    assert dates.birthday_codes(D(2024, 2, 28), 1) == {228}
    assert dates.md_ranges(dates.birthday_codes(D(2023, 2, 27), 3)) == [(227, 301)]
    assert dates.md_ranges(dates.birthday_codes(D(2024, 1, 1), 366)) == [(101, 1231)]


def test_a_month_of_codes_is_one_range_across_month_ends():
    assert dates.md_ranges(dates.birthday_codes(D(2024, 1, 20), 30)) == [(120, 218)]


@pytest.mark.parametrize("today, years, cutoff", [
    (D(2024, 6, 10), 33, D(1991, 6, 10)),
    (D(2023, 2, 28), 23, D(2000, 2, 29)),  # born Feb 29 2000: 23 on Feb 28 2023
    (D(2024, 2, 29), 23, D(2001, 2, 28)),
    (D(2024, 6, 10), 2025, None),
    (D(2024, 6, 10), -8000, dt.date.max),
])
def test_age_cutoff_is_the_latest_birth_date_of_that_age(today, years, cutoff):
    assert dates.age_cutoff(today, years) == cutoff


def test_age_on_counts_whole_years_with_the_february_29_rule():
    assert dates.age_on(D(2000, 2, 29), D(2023, 2, 28)) == 23
    assert dates.age_on(D(2000, 2, 29), D(2024, 2, 28)) == 23
    assert dates.age_on(D(2000, 3, 1), D(2023, 2, 28)) == 22


def _t(field, op, value=None, window=None):
    return T.Test(field, op, value, window)


A, B, C = _t("region", "=", T.Text("a")), _t("city", "=", T.Text("b")), _t("country", "=", T.Text("c"))


@pytest.mark.parametrize("tree, text", [
    (T.Or((A, T.And((B, C)))), "region = a or city = b and country = c"),
    (T.And((A, T.Or((B, C)))), "region = a and (city = b or country = c)"),
    (T.And((A, T.And((B, C)))), "region = a and (city = b and country = c)"),  # the tree's shape is kept
    (T.Or((T.Or((A, B)), C)), "(region = a or city = b) or country = c"),
    (T.Not(T.And((A, B))), "not (region = a and city = b)"),
    (T.Not(T.Not(A)), "not not region = a"),
    (T.Not(T.InSegment("VIPs")), "not (in segment VIPs)"),
    (T.InSegment("VIPs", True), "not in segment VIPs"),
    (T.InSegment("Do not contact"), 'in segment "Do not contact"'),
    (T.InSegment(12), "in segment #12"),
    (_t("region", "=", T.Text('say "hi"')), r'region = "say \"hi\""'),
    (_t("region", "=", T.Text("and")), 'region = "and"'),
    (_t("region", "=", T.Text("Київ")), "region = Київ"),
    (_t("orders.total", ">", T.Number(Decimal("1E+2"))), "orders.total > 100"),
    (_t("created_at", "=", T.Ago(0, "days")), "created_at = today"),
    (_t("created_at", "=", T.Ago(1, "days")), "created_at = yesterday"),
    (_t("created_at", "between", T.Range(T.Date(D(2024, 1, 1)), T.Ago(2, "weeks"))),
     "created_at between 2024-01-01 and 2 weeks ago"),
    (_t("orders.count", ">=", T.Number(Decimal(5)), T.Span(30, "days")), "orders.count(last 30 days) >= 5"),
    (_t("birthday", "in month", T.Month(6)), "birthday in month june"),
    (_t("custom.vip", "=", T.YesNo(False)), "custom.vip = no"),
    (_t("interests", "has any", T.Items((T.Text("sport"), T.Text("any")))), 'interests has any (sport, "any")'),
])
def test_the_canonical_spelling(tree, text):
    assert format(tree) == text
