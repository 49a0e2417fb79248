"""Importing orders: upsert by order_id, totals exact to the cent, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from core.audit import Actor
from core.errors import BadInput
from core.imports import import_contacts, import_orders
from core.store.models import Contact, Order, OrderTotals
from tests.test_import_contacts import CFG, dump, write_csv

ME = Actor("tester", "cli")


@pytest.fixture
def people(db, tmp_path):
    import_contacts(write_csv(tmp_path, "email\nann@x.org\nbob@x.org\n", "people.csv"), ME, cfg=CFG)


def orders(tmp_path, text, name="orders.csv", **kw):
    return import_orders(write_csv(tmp_path, text, name), ME, cfg=CFG, **kw)


def aggregates(email):
    c = Contact.get(Contact.email_norm == email)
    return c.orders_count, c.orders_total, c.orders_max, c.orders_first_date, c.orders_last_date


def test_order_totals_are_exact_to_the_cent(people, tmp_path):
    report = orders(tmp_path, (
        "order_id,email,total,currency,created_at\n"
        "o1,Ann@X.org,0.10,EUR,2025-01-02\n"
        "o2,ann@x.org,0.20,EUR,2025-03-04T12:00:00\n"
        "o3,ann@x.org,299.70,EUR,2024-12-31\n"
    ))
    assert (report.created, report.skipped) == (3, 0)
    assert aggregates("ann@x.org") == (3, 30000, 29970, dt.date(2024, 12, 31), dt.date(2025, 3, 4))
    assert aggregates("bob@x.org") == (0, 0, None, None, None)
    assert sorted(t for (t,) in Order.select(Order.total).tuples()) == [10, 20, 29970]


@pytest.mark.parametrize("text,cents", [("12.5", 1250), ("12", 1200), ("0.05", 5), ("-3.10", -310), (".5", 50)])
def test_a_total_is_kept_in_cents(people, tmp_path, text, cents):
    orders(tmp_path, f"order_id,email,total,created_at\no1,ann@x.org,{text},2025-01-01\n")
    assert Order.get().total == cents


def test_bad_order_rows_are_reported_with_their_line(people, tmp_path):
    report = orders(tmp_path, (
        "order_id,email,total,currency,created_at\n"
        "o1,ann@x.org,10,EUR,2025-01-01\n"
        "o2,ghost@x.org,10,EUR,2025-01-01\n"
        "o3,ann@x.org,12.345,EUR,2025-01-01\n"
        "o4,ann@x.org,ten,EUR,2025-01-01\n"
        "o5,ann@x.org,10,EUR,2025-02-30\n"
        ",ann@x.org,10,EUR,2025-01-01\n"
        "o7,,10,EUR,2025-01-01\n"
        "o8,ann@x.org,10,EUR,\n"
    ))
    assert [(b.line, b.reason) for b in report.bad_rows] == [
        (3, 'no contact has the email "ghost@x.org"; import the contacts first'),
        (4, 'total "12.345" has more than 2 decimals'),
        (5, 'total "ten" is not a number'),
        (6, 'created_at "2025-02-30" is not a real date'),
        (7, "no order_id"),
        (8, "no email"),
        (9, "no created_at (the order's date)"),
    ]
    assert [o for (o,) in Order.select(Order.order_id).tuples()] == ["o1"]
    assert aggregates("ann@x.org")[:2] == (1, 1000)


def test_orders_upsert_by_order_id_and_a_moved_order_moves_its_totals(people, tmp_path):
    orders(tmp_path, "order_id,email,total,created_at\no1,ann@x.org,10,2025-01-01\no2,ann@x.org,5,2025-01-02\n", "1.csv")
    report = orders(tmp_path, "order_id,email,total,created_at\no2,bob@x.org,7.50,2025-02-01\n", "2.csv")
    assert (report.created, report.updated) == (0, 1)
    assert Order.select().count() == 2
    assert aggregates("ann@x.org") == (1, 1000, 1000, dt.date(2025, 1, 1), dt.date(2025, 1, 1))
    assert aggregates("bob@x.org") == (1, 750, 750, dt.date(2025, 2, 1), dt.date(2025, 2, 1))


def test_importing_the_same_orders_twice_leaves_the_same_database(people, tmp_path):
    text = "order_id;email;total;currency;created_at\no1;ann@x.org;10;EUR;2025-01-01\no2;bob@x.org;2.5;;2025-01-02\n"
    orders(tmp_path, text)
    before = dump()
    report = orders(tmp_path, text)
    assert dump() == before and (report.created, report.updated) == (0, 2)


def test_strict_orders_write_nothing_when_an_email_is_unknown(people, tmp_path):
    report = orders(tmp_path, "order_id,email,total,created_at\no1,ann@x.org,1,2025-01-01\no2,zed@x.org,1,2025-01-01\n",
                    strict=True)
    assert not report.written and [b.line for b in report.bad_rows] == [3]
    assert Order.select().count() == 0 and aggregates("ann@x.org")[0] == 0


def test_an_orders_file_needs_its_columns(people, tmp_path):
    with pytest.raises(BadInput, match="no order_id, total column"):
        orders(tmp_path, "email,created_at\nann@x.org,2025-01-01\n")


def test_other_columns_of_an_orders_file_are_ignored_and_said(people, tmp_path):
    report = orders(tmp_path, "order_id,email,total,created_at,Note\no1,ann@x.org,1,2025-01-01,gift\n")
    assert report.ignored_columns == ["Note"] and report.created == 1


_ROW = st.tuples(st.integers(0, 5), st.sampled_from(["ann@x.org", "bob@x.org"]), st.integers(-5000, 90000),
                 st.integers(0, 40))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(_ROW, min_size=1, max_size=7), min_size=1, max_size=4),
       batch_size=st.integers(1, 4))
def test_the_order_totals_always_equal_those_recomputed_from_the_orders(people, tmp_path, files, batch_size):
    """A law: whatever files come, in whatever batches (all new: their totals are
    added to the contact's; some already there or moved: recomputed), every
    contact's five aggregates are those of its orders."""
    Order.delete().execute()
    OrderTotals.delete().execute()
    for k, rows in enumerate(files):
        text = "order_id,email,total,created_at\n" + "".join(
            f"o{o},{email},{cents // 100}.{cents % 100:02d},{dt.date(2025, 1, 1) + dt.timedelta(days=day)}\n"
            for o, email, cents, day in rows)
        orders(tmp_path, text, name=f"orders{k}.csv", batch_size=batch_size)
        for contact in Contact.select():
            mine = [(o.total, o.created_at) for o in Order.select().where(Order.contact == contact.id)]
            expected = (len(mine), sum(t for t, _ in mine), max((t for t, _ in mine), default=None),
                        min((d for _, d in mine), default=None), max((d for _, d in mine), default=None))
            assert aggregates(contact.email_norm) == expected
