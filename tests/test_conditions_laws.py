"""The laws of the language, over generated trees (hypothesis):

- round trip: parse(format(t)) == t, and from_json(to_json(t)) == t;
- two values: `not C` selects exactly the contacts C does not select;
- `A and B` is the intersection, `A or B` the union;
- the SQL agrees with a small Python evaluator (test_conditions_support.py).

The database laws run on SQLite and PostgreSQL over one set of generated
contacts per test (made once, not per example), so they stay fast.
"""
from __future__ import annotations

import datetime as dt
import random
import unicodedata
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.conditions import format, from_json, parse, to_json
from core.conditions import tree as T
from core.conditions.fields import WINDOW_UNITS
from core.store.models import Contact
from core.text import norm
from tests.test_conditions_support import CUSTOM, make_contact, make_segment, py_eval, selected

TEXT_FIELDS = ("email", "phone", "first_name", "last_name", "country", "region", "city", "language")
DB_LAW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def depth(t) -> int:
    if isinstance(t, (T.And, T.Or)):
        return 1 + max(depth(i) for i in t.items)
    if isinstance(t, T.Not):
        return 1 + depth(t.item)
    return 1


def combine(leaves):
    """And, Or and Not over LEAVES, at most a few levels deep."""
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.builds(T.Not, inner),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: T.And(tuple(xs))),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: T.Or(tuple(xs))),
        ),
        max_leaves=8,
    ).filter(lambda t: depth(t) <= 12)


def leaves_of(field, texts, numbers, days, *, choices=None):
    """Every operator of FIELD's type over the given pools of values."""
    text = texts.map(T.Text)
    items = st.lists(text, min_size=1, max_size=3).map(lambda xs: T.Items(tuple(xs)))
    number = numbers.map(T.Number)
    day = st.one_of(days.map(T.Date), st.builds(T.Ago, st.integers(0, 800), st.sampled_from(T.UNITS)))
    empty = st.sampled_from(["is empty", "is not empty"]).map(lambda op: T.Test(field, op))
    if choices:
        choice = st.sampled_from(choices).map(T.Text)
        return st.one_of(empty, st.builds(T.Test, st.just(field), st.sampled_from(["=", "!="]), choice),
                         st.builds(T.Test, st.just(field), st.sampled_from(["in", "not in"]),
                                   st.lists(choice, min_size=1, max_size=2).map(lambda xs: T.Items(tuple(xs)))))
    kinds = {
        "text": st.one_of(
            st.builds(T.Test, st.just(field), st.sampled_from(["=", "!=", "contains", "not contains",
                                                               "starts with", "ends with"]), text),
            st.builds(T.Test, st.just(field), st.sampled_from(["in", "not in"]), items)),
        "number": st.one_of(
            st.builds(T.Test, st.just(field), st.sampled_from(["=", "!=", ">", ">=", "<", "<="]), number),
            st.builds(T.Test, st.just(field), st.just("between"), st.builds(T.Range, number, number))),
        "date": st.one_of(
            st.builds(T.Test, st.just(field), st.sampled_from(["=", "!=", "before", "after"]), day),
            st.builds(T.Test, st.just(field), st.just("between"), st.builds(T.Range, day, day)),
            st.builds(T.Test, st.just(field), st.just("in last"),
                      st.builds(T.Span, st.integers(1, 800), st.sampled_from(T.UNITS)))),
        "set": st.one_of(
            st.builds(T.Test, st.just(field), st.just("has"), text),
            st.builds(T.Test, st.just(field), st.sampled_from(["has any", "has all", "has none"]), items)),
        "yesno": st.builds(T.Test, st.just(field), st.just("="), st.booleans().map(T.YesNo)),
    }
    kind = ("number" if field in ("age", "custom.score") or field.startswith("orders.") and "date" not in field
            else "date" if field in ("birth_date", "created_at", "custom.since") or field.endswith("_date")
            else "set" if field == "interests" else "yesno" if field == "custom.vip" else "text")
    return st.one_of(empty, kinds[kind])


def windowed(numbers):
    return st.builds(
        lambda field, window, op, n: T.Test(field, op, T.Number(n), window),
        st.sampled_from(["orders.count", "orders.total"]),
        st.builds(T.Span, st.integers(1, 400), st.sampled_from(WINDOW_UNITS)),
        st.sampled_from(["=", "!=", ">", ">=", "<", "<="]), numbers)


def birthdays():
    return st.one_of(
        st.just(T.Test("birthday", "is today")),
        st.builds(lambda n: T.Test("birthday", "in next", T.Span(n, "days")), st.integers(1, 400)),
        st.builds(lambda m: T.Test("birthday", "in month", T.Month(m)), st.integers(1, 12)))


# ---- round trip (no database) ----------------------------------------------------

ANY_TEXT = st.one_of(
    st.sampled_from(["Kyiv", "Київ", "and", "DAYS", "Any", "300", "2024-01-01", "a b", 'say "hi"', "back\\slash",
                     "O'Brien", "-", "@gmail.com", "ſegment", "K", "#12", "(x)", "x,y", " padded "]),
    st.text(min_size=1, max_size=10),
).filter(lambda s: not any(unicodedata.category(ch) in ("Cc", "Cs") for ch in s) and norm(s) is not None)
ANY_NUMBER = st.one_of(*[st.decimals(min_value=-10**11, max_value=10**11, places=k) for k in range(0, 7)])
ANY_DAY = st.dates(min_value=dt.date(1, 1, 1))
SEGMENT_REF = st.one_of(st.integers(1, 2**31 - 1), ANY_TEXT)
ROUND_TRIP_LEAVES = st.one_of(
    *[leaves_of(f, ANY_TEXT, ANY_NUMBER, ANY_DAY) for f in
      TEXT_FIELDS + ("custom.tier", "custom.note", "interests", "age", "orders.count", "orders.total",
                     "orders.avg", "orders.max", "custom.score", "birth_date", "created_at",
                     "orders.first_date", "orders.last_date", "custom.since", "custom.vip")],
    leaves_of("gender", ANY_TEXT, ANY_NUMBER, ANY_DAY, choices=["female", "male", "other"]),
    leaves_of("status", ANY_TEXT, ANY_NUMBER, ANY_DAY, choices=["active", "unsubscribed", "bounced"]),
    windowed(ANY_NUMBER), birthdays(),
    st.builds(T.InSegment, SEGMENT_REF, st.booleans()),
)


@settings(max_examples=500, deadline=None)
@given(combine(ROUND_TRIP_LEAVES))
def test_format_then_parse_gives_the_same_tree(t):
    text = format(t)
    assert parse(text, custom_fields=CUSTOM) == t, text
    assert format(parse(text, custom_fields=CUSTOM)) == text  # one canonical spelling


@settings(max_examples=200, deadline=None)
@given(combine(ROUND_TRIP_LEAVES))
def test_the_stored_form_round_trips(t):
    assert from_json(to_json(t)) == t


# ---- laws on the database ------------------------------------------------------------

REGIONS = ["Київ", "КИЇВ ", "Lviv", "lviv", "Odesa", "Ки_ї%в", None, None]
TODAYS = [dt.date(2023, 12, 28), dt.date(2023, 2, 28), dt.date(2024, 2, 29), dt.date(2024, 3, 31),
          dt.date(2024, 6, 10)]
TOTALS = ["0.10", "0.20", "299.70", "5", "100", "150.25", "19.99", "0.01"]


def random_contacts(seed: int = 7, n: int = 40):
    """Varied contacts, empty values included, with birthdays around the test days."""
    r = random.Random(seed)
    pick = r.choice
    out = []
    for i in range(n):
        born = pick([None, dt.date(2000, 2, 29), dt.date(1990, 1, 2), dt.date(1985, 12, 31)]
                    + [dt.date(r.randint(1950, 2012), r.randint(1, 12), r.randint(1, 28)) for _ in range(4)]
                    + [d.replace(year=r.randint(1960, 2010)) for d in TODAYS if (d.month, d.day) != (2, 29)])
        orders = [(pick(TOTALS), dt.date(2024, 6, 10) - dt.timedelta(days=r.randint(0, 500)))
                  for _ in range(pick([0, 0, 1, 2, 3]))]
        custom = {k: v for k, v in {
            "tier": pick(["gold", "Silver", None]), "score": pick([0, 2, 7.5, None]),
            "since": pick([dt.date(2020, 1, 1), dt.date(2023, 12, 1), None]), "vip": pick([True, False, None]),
        }.items() if v is not None}
        out.append(make_contact(
            f"c{i}@{pick(['example.com', 'Example.ORG', 'gmail.com'])}",
            region=pick(REGIONS), city=pick(["Kyiv", "Lviv", "100%_sure", None]),
            first_name=pick(["Ann", "ann", "Ölaf", None]), gender=pick(["female", "male", "other", None]),
            status=pick(["active", "unsubscribed", "bounced"]), birth_date=born,
            created_at=dt.date(2024, 6, 10) - dt.timedelta(days=r.randint(0, 800)),
            interests=r.sample(["Sport", "Kids", "Music", "Travel"], r.randint(0, 3)),
            orders=orders, custom=custom))
    return out


DB_TEXTS = st.sampled_from(["Київ", "київ", "lviv", "LVIV", "odesa", "ки", "ї", "iv", "_", "%", "ann", "kyiv",
                            "100%", "sport", "KIDS", "music", "gold", "silver", "@gmail.com", "example", "c1"])
DB_NUMBERS = st.sampled_from([Decimal(x) for x in ["0", "1", "2", "5", "7.5", "19.99", "100", "150.25", "250.125",
                                                     "300", "300.001", "299.999", "0.3", "-1", "24", "33", "64"]])
DB_DAYS = st.sampled_from([dt.date(2000, 2, 29), dt.date(1990, 1, 2), dt.date(2020, 1, 1), dt.date(2023, 12, 1),
                           dt.date(2024, 1, 1), dt.date(2023, 6, 10), dt.date(2024, 3, 31)])
DB_LEAVES = st.one_of(
    *[leaves_of(f, DB_TEXTS, DB_NUMBERS, DB_DAYS) for f in
      ("email", "region", "city", "first_name", "phone", "custom.tier", "interests", "age", "orders.count",
       "orders.total", "orders.avg", "orders.max", "custom.score", "birth_date", "created_at",
       "orders.first_date", "orders.last_date", "custom.since", "custom.vip")],
    leaves_of("gender", DB_TEXTS, DB_NUMBERS, DB_DAYS, choices=["female", "male", "other"]),
    leaves_of("status", DB_TEXTS, DB_NUMBERS, DB_DAYS, choices=["active", "unsubscribed", "bounced"]),
    windowed(DB_NUMBERS), birthdays(),
    st.builds(T.InSegment, st.sampled_from(["Club", "club", "Women", "Club or women"]), st.booleans()),
)
DB_TREES = combine(DB_LEAVES)


def world():
    contacts = random_contacts()
    club = make_segment("Club", members=contacts[::3])
    women = T.Test("gender", "=", T.Text("female"))
    make_segment("Women", "dynamic", women)
    either = T.Or((T.InSegment("club"), T.InSegment("Women")))
    make_segment("Club or women", "dynamic", either)
    members = {c.facts["email"] for c in contacts[::3]}
    segments = {"Club": members, "club": members, club.id: members, "Women": women, "Club or women": either}
    return contacts, segments


def all_ids():
    return {cid for (cid,) in Contact.select(Contact.id).tuples()}


def test_sql_agrees_with_the_python_evaluator(db):
    contacts, segments = world()

    @DB_LAW
    @given(DB_TREES, st.sampled_from(TODAYS))
    def law(t, today):
        want = {c.id for c in contacts if py_eval(t, c.facts, today, segments)}
        assert selected(t, today) == want, format(t)

    law()


def test_not_selects_exactly_the_complement(db):
    world()
    everyone = all_ids()

    @DB_LAW
    @given(DB_TREES, st.sampled_from(TODAYS))
    def law(t, today):
        assert selected(T.Not(t), today) == everyone - selected(t, today), format(t)

    law()


def test_and_is_the_intersection_and_or_the_union(db):
    world()

    @DB_LAW
    @given(DB_TREES, DB_TREES, st.sampled_from(TODAYS))
    def law(a, b, today):
        sa, sb = selected(a, today), selected(b, today)
        assert selected(T.And((a, b)), today) == sa & sb
        assert selected(T.Or((a, b)), today) == sa | sb

    law()


EXTREME_TREES = combine(st.one_of(
    *[leaves_of(f, ANY_TEXT, ANY_NUMBER, ANY_DAY) for f in
      ("region", "custom.tier", "interests", "age", "orders.count", "orders.total", "orders.avg", "orders.max",
       "custom.score", "birth_date", "created_at", "custom.since", "custom.vip")],
    windowed(ANY_NUMBER), birthdays(),
    st.builds(T.Test, st.sampled_from(["created_at", "orders.last_date"]), st.just("in last"),
              st.builds(T.Span, st.integers(1, 100_000), st.sampled_from(T.UNITS))),
))


def test_whatever_parses_runs_on_the_database(db):
    """Extreme values the parser accepts (a trillion, year 1, 100,000 years ago)
    never make the database fail: no overflow, no out-of-range date."""
    contacts = random_contacts(n=12)
    make_contact("big@x.org", birth_date=dt.date(1, 1, 1), created_at=dt.date(9999, 12, 31),
                 orders=[("99999999.99", dt.date(1, 1, 1))] * 3, custom={"score": 1e300, "since": dt.date(9999, 12, 31)})

    @DB_LAW
    @given(EXTREME_TREES, st.sampled_from(TODAYS + [dt.date(1, 1, 1), dt.date(9999, 12, 31)]))
    def law(t, today):
        assert selected(t, today) <= all_ids()

    law()
    assert contacts
