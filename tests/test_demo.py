"""`segmenta demo`: realistic, deterministic demo data, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json
import re

import peewee as pw
import pytest
from click.testing import CliRunner

from core import clock, demo
from core.audit import Actor
from core.cli.main import cli
from core.store.models import Contact, Membership, Order, Segment
from tests.test_import_contacts import dump

ME = Actor("tester", "cli")
TODAY = dt.date(2025, 6, 15)


@pytest.fixture(autouse=True)
def fixed_today():
    old = clock.set_clock(clock.FixedClock(dt.datetime(2025, 6, 15, 9, 0)))
    yield
    clock.set_clock(old)


def test_the_same_seed_gives_the_same_data():
    assert list(demo.contact_rows(300, 7, TODAY)) == list(demo.contact_rows(300, 7, TODAY))
    assert list(demo.contact_rows(300, 7, TODAY)) != list(demo.contact_rows(300, 8, TODAY))


def test_running_the_demo_again_with_its_seed_changes_nothing(db):
    first = demo.run(300, seed=7, actor=ME, examples=False)
    before = dump()
    again = demo.run(300, seed=7, actor=ME, examples=False)
    assert dump() == before
    assert (first.contacts, first.orders) == (again.contacts, again.orders) == (300, Order.select().count())


def test_demo_data_looks_like_a_real_shop(db):
    report = demo.run(2000, seed=1, actor=ME, examples=False)
    assert Contact.select().count() == 2000
    assert 2.2 < report.orders / 2000 < 2.8  # about 2.5 orders a contact
    names = [n for (n,) in Contact.select(Contact.first_name).tuples()]
    assert any(re.search("[а-яіїєґ]", n, re.I) for n in names)  # Ukrainian Cyrillic
    assert any(re.search("[łńśżźąę]", n) for (n,) in Contact.select(Contact.last_name).tuples())  # Polish
    regions = {r for (r,) in Contact.select(Contact.region).distinct().tuples()}
    assert {"Kyiv", "Lviv", "Warsaw", "Kraków", "Madrid", "London"} <= regions
    assert Contact.select().where(Contact.birth_md == 229).exists()
    assert Contact.select().where(Contact.birth_date.is_null()).exists()
    active = Contact.select().where(Contact.status == "active").count()
    assert active > 1600 and Contact.select().where(Contact.status != "active").exists()
    assert Contact.select().where(Contact.interests.contains("sport")).exists()
    created = Contact.select(pw.fn.MIN(Contact.created_at), pw.fn.MAX(Contact.created_at)).tuples().get()
    assert str(created[0]) >= str(TODAY - dt.timedelta(days=3 * 365)) and str(created[1]) <= str(TODAY)


def test_demo_order_totals_agree_with_the_orders(db):
    demo.run(300, seed=2, actor=ME, examples=False)
    sums = dict(Order.select(Order.contact, pw.fn.SUM(Order.total)).group_by(Order.contact).tuples())
    kept = {c.id: c.orders_total for c in Contact.select() if c.orders_count}
    assert kept == {k: int(v) for k, v in sums.items()}


def test_demo_makes_the_example_segments_once(db):
    report = demo.run(500, seed=3, actor=ME)
    assert [s["name"] for s in report.segments] == ["Kyiv women", "Big spenders", "Birthdays this week", "VIP"]
    kyiv = Segment.get(Segment.name == "Kyiv women")
    members = (Contact.select().join(Membership, on=(Membership.contact == Contact.id))
               .where(Membership.segment == kyiv))
    assert members.count() > 0 and {(c.gender, c.region) for c in members} == {("female", "Kyiv")}
    assert Segment.get(Segment.name == "VIP").member_count == demo.VIP_SIZE
    demo.run(500, seed=3, actor=ME)
    assert Segment.select().count() == 4


def test_demo_command_and_if_empty(db_url):
    runner = CliRunner()
    r = runner.invoke(cli, ["--db", db_url, "demo", "--contacts", "200", "--seed", "5"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Demo data: 200 contacts, ")
    assert "Kyiv women (dynamic):" in r.stdout and "VIP (list): 50 members" in r.stdout
    r = runner.invoke(cli, ["--db", db_url, "demo", "--contacts", "300", "--if-empty", "--json"],
                      catch_exceptions=False)
    assert json.loads(r.stdout)["skipped"] is True
    assert Contact.select().count() == 200
