"""Dynamic segments: create, refresh, join/leave at once, members, why — on both backends."""
import datetime as dt
import json

import pytest
from click.testing import CliRunner

from core import clock, segments
from core.audit import Actor
from core.cli.main import cli
from core.copy import copy
from core.delete import delete
from core.errors import ConditionError, Conflict, Refused
from core.imports import import_contacts, import_orders
from core.membership import contacts_changed
from core.preview import preview
from core.refresh import refresh
from core.store import db as store_db
from core.store.models import Contact, Membership, MembershipChange, RefreshRun, Segment
from core.why import why
from tests.factories import make_contacts

ME = Actor("tester", "cli")


def members(seg):
    return {c for (c,) in Membership.select(Membership.contact).where(Membership.segment == seg).tuples()}


def test_create_dynamic_computes_members_and_records_the_run(db):
    ids = make_contacts(6, region=lambda i: "Київ" if i < 4 else "Lviv")
    seg, result = segments.create_dynamic("Kyiv", "region = київ", ME)
    assert result.total == 4 and result.joined == 4 and result.left == 0
    assert members(seg) == set(ids[:4])
    run = RefreshRun.get(RefreshRun.segment == seg)
    assert run.finished_at is not None and (run.total, run.joined, run.left) == (4, 4, 0)
    assert seg.condition_text == "region = київ"
    assert json.loads(seg.condition)["v"] == 1


def test_a_bad_condition_creates_nothing(db):
    with pytest.raises(ConditionError, match="did you mean"):
        segments.create_dynamic("Bad", "regoin = Kyiv", ME)
    assert Segment.select().count() == 0


def test_names_unique_without_case_across_kinds(db):
    segments.create_list("VIP", ME)
    with pytest.raises(Conflict):
        segments.create_dynamic("vip", "status = active", ME)


def test_refresh_records_joined_and_left_by_set_difference(db):
    ids = make_contacts(5, city=lambda i: "Lviv" if i < 3 else "Odesa")
    seg, _ = segments.create_dynamic("Lviv", "city = Lviv", ME)
    Contact.update(city="Odesa", city_norm="odesa").where(Contact.id == ids[0]).execute()
    Contact.update(city="Lviv", city_norm="lviv").where(Contact.id.in_(ids[3:])).execute()
    result = refresh(seg, ME)
    assert (result.total, result.joined, result.left) == (4, 2, 1)
    assert members(seg) == {ids[1], ids[2], ids[3], ids[4]}
    changes = {(c.contact_id, c.change) for c in MembershipChange.select().where(
        (MembershipChange.segment == seg) & (MembershipChange.refresh_run == result.run_id))}
    assert changes == {(ids[0], "left"), (ids[3], "joined"), (ids[4], "joined")}
    again = refresh(seg, ME)
    assert (again.joined, again.left) == (0, 0)


def test_refresh_of_a_list_is_refused(db):
    seg = segments.create_list("L", ME)
    with pytest.raises(Refused, match="list"):
        refresh(seg, ME)


def test_refresh_failing_midway_keeps_previous_members(db, monkeypatch):
    ids = make_contacts(4, status="active")
    seg, _ = segments.create_dynamic("Active", "status = active", ME)
    Contact.update(status="bounced").where(Contact.id == ids[0]).execute()
    monkeypatch.setattr(segments, "set_member_count", lambda s: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        refresh(seg, ME)
    assert members(seg) == set(ids)
    assert RefreshRun.select().where(RefreshRun.segment == seg).count() == 1


def test_import_joins_and_leaves_at_once(db, tmp_path):
    seg, _ = segments.create_dynamic("Kyiv women", "gender = female and region = Kyiv", ME)
    f = tmp_path / "c.csv"
    f.write_text("email,gender,region\nann@x.org,F,Kyiv\nbob@x.org,m,Kyiv\n", encoding="utf-8")
    import_contacts(str(f), ME)
    ann = Contact.get(Contact.email_norm == "ann@x.org").id
    assert members(seg) == {ann}
    assert Segment.get_by_id(seg.id).member_count == 1
    f.write_text("email,region\nann@x.org,Lviv\n", encoding="utf-8")
    import_contacts(str(f), ME)
    assert members(seg) == set()
    reasons = [(c.change, c.reason) for c in MembershipChange.select().where(MembershipChange.segment == seg)
               .order_by(MembershipChange.id)]
    assert reasons == [("joined", "import"), ("left", "import")]


def test_orders_import_moves_contacts_at_once(db, tmp_path):
    make_contacts(2)
    seg, _ = segments.create_dynamic("Big", "orders.total >= 300", ME)
    f = tmp_path / "o.csv"
    f.write_text("order_id,email,total,currency,created_at\n1,c0@example.com,0.10,EUR,2024-01-01\n"
                 "2,c0@example.com,0.20,EUR,2024-01-02\n3,c0@example.com,299.70,EUR,2024-01-03\n", encoding="utf-8")
    import_orders(str(f), ME)
    assert members(seg) == {Contact.get(Contact.email_norm == "c0@example.com").id}


def test_an_orders_import_re_evaluates_only_the_segments_that_test_orders(db, tmp_path):
    """An orders file changes nothing but orders: a segment whose condition tests no
    `orders.` field, itself or through a dynamic segment it includes, cannot gain
    or lose anyone by it and is passed over; the others move at once."""
    ids = make_contacts(2, city="Lviv")
    buyer = Contact.get_by_id(ids[0])
    lviv, _ = segments.create_dynamic("Lviv", "city = Lviv", ME)
    spenders, _ = segments.create_dynamic("Spenders", "orders.total >= 300", ME)
    nested, _ = segments.create_dynamic("Lviv spenders", 'in segment "Spenders" and in segment Lviv', ME)
    inner, _ = segments.create_dynamic("Inner", "city = Lviv and orders.count >= 1", ME)
    outer, _ = segments.create_dynamic("Outer", "in segment Inner", ME)
    # moved out of Lviv behind the system's back: only a re-evaluation would see it
    Contact.update(city="Odesa", city_norm="odesa").where(Contact.id == ids[1]).execute()
    f = tmp_path / "o.csv"
    f.write_text("order_id,email,total,currency,created_at\n"
                 f"1,{buyer.email},300,EUR,2024-01-03\n2,c1@example.com,1,EUR,2024-01-03\n",
                 encoding="utf-8")
    import_orders(str(f), ME)
    assert members(lviv) == set(ids)  # passed over: tests no order field
    assert members(spenders) == {ids[0]}
    assert members(nested) == {ids[0]}  # tests orders through "Spenders"
    assert members(inner) == members(outer) == {ids[0]}  # the second contact left Lviv: seen here
    assert MembershipChange.select().where(MembershipChange.segment == lviv,
                                           MembershipChange.reason == "import").count() == 0


def test_only_the_changed_contacts_are_re_evaluated(db):
    ids = make_contacts(3, city="Lviv")
    seg, _ = segments.create_dynamic("Lviv", "city = Lviv", ME)
    # change two contacts behind the system's back; tell it about one
    Contact.update(city="Odesa", city_norm="odesa").where(Contact.id.in_(ids[:2])).execute()
    contacts_changed([ids[0]], ME)
    assert members(seg) == set(ids[1:])


def test_a_segment_that_doubles_through_an_import_is_analysed_again_as_it_grows(db, tmp_path, monkeypatch):
    """PostgreSQL plans each batch's re-evaluation with the statistics of
    `membership`; a segment that grows through an import gets them again each
    time it doubles, not for every batch. SQLite plans these by id and keeps
    no such statistics."""
    from core import bulk
    from tests.conftest import backend_of

    monkeypatch.setattr(bulk, "SEGMENT_GROWTH_MIN", 10)
    ids = make_contacts(80)
    seg, _ = segments.create_dynamic("Buyers", "orders.count >= 1", ME)
    analysed = []
    real = type(db).execute_sql

    def spy(self, sql, params=None, *a, **k):
        if sql == 'ANALYZE "membership"':
            analysed.append(Segment.get_by_id(seg.id).member_count)
        return real(self, sql, params, *a, **k)

    monkeypatch.setattr(type(db), "execute_sql", spy)
    f = tmp_path / "o.csv"
    f.write_text("order_id,email,total,created_at\n"
                 + "".join(f"o{i},c{i}@example.com,5,2024-01-01\n" for i in range(80)), encoding="utf-8")
    import_orders(str(f), ME, batch_size=10)
    monkeypatch.undo()
    assert members(seg) == set(ids)
    # 0 → 10 (by 10 or more and doubled), 20, 40, 80; not at 30, 50, 60, 70
    assert analysed == ([] if backend_of(db) == "sqlite" else [10, 20, 40, 80])


def test_re_evaluating_a_few_contacts_looks_each_up_by_its_id(db, monkeypatch):
    """Not the segment's whole condition for every batch of an import: SQLite listed
    every matching contact (`IN (SELECT …)`), PostgreSQL, costing pages as on a
    spinning disk, merged or hashed the whole segment."""
    from core.store import write
    from tests.conftest import backend_of

    ids = make_contacts(2000, status=lambda i: "active" if i % 10 else "unsubscribed")
    seg, _ = segments.create_dynamic("Active", "status = active", ME)
    db.execute_sql("ANALYZE")
    Contact.update(status="unsubscribed").where(Contact.id.in_(ids[1001:1011])).execute()
    seen = []
    real = type(db).execute_sql

    def spy(self, sql, params=None, *a, **k):
        if sql.startswith("INSERT INTO changed_matching"):
            if backend_of(db) == "sqlite":
                seen.append([r[-1] for r in real(self, "EXPLAIN QUERY PLAN " + sql, params).fetchall()])
            else:
                seen.append(real(self, "SHOW random_page_cost").fetchone()[0])
        return real(self, sql, params, *a, **k)

    monkeypatch.setattr(type(db), "execute_sql", spy)
    with write():
        contacts_changed(ids[1000:1050], ME)
    monkeypatch.undo()
    assert members(seg) == {i for n, i in enumerate(ids) if n % 10 and not 1001 <= n < 1011}
    if backend_of(db) == "sqlite":
        (plan,) = seen
        assert plan[0] == "SCAN t" and "LIST SUBQUERY" not in " ".join(plan), plan
        assert any(step.startswith("SEARCH t1 USING INTEGER PRIMARY KEY") for step in plan), plan
    else:
        assert seen == ["1.1"]


def test_in_segment_list_follows_list_changes_at_once(db):
    ids = make_contacts(4, status="active")
    dnc = segments.create_list("Do not contact", ME)
    seg, _ = segments.create_dynamic("Reachable", 'status = active and not in segment "Do not contact"', ME)
    assert members(seg) == set(ids)
    segments.add_contacts(dnc, ids[:1], ME)
    assert members(seg) == set(ids[1:])
    segments.remove_contacts(dnc, ids[:1], ME)
    assert members(seg) == set(ids)


def test_a_loop_of_segments_is_refused(db):
    make_contacts(2)
    a, _ = segments.create_dynamic("A", "status = active", ME)
    segments.create_dynamic("B", 'in segment "A"', ME)
    with pytest.raises(ConditionError, match="itself"):
        segments.create_dynamic("C", 'in segment "C"', ME)
    with pytest.raises(ConditionError, match='loop: "A" → "B" → "A"'):
        segments.change_condition(a, 'in segment "B"', ME)
    with pytest.raises(ConditionError, match="itself"):
        segments.change_condition(a, f"in segment #{a.id}", ME)
    assert segments.resolve("A").condition_text == "status = active"


def test_change_condition_refreshes(db):
    ids = make_contacts(3, city=lambda i: "Lviv" if i else "Odesa")
    seg, _ = segments.create_dynamic("City", "city = Lviv", ME)
    result = segments.change_condition(seg, "city = odesa", ME)
    assert (result.total, result.joined, result.left) == (1, 1, 2)
    assert members(seg) == {ids[0]}
    assert segments.resolve("City").condition_text == "city = odesa"


def test_delete_of_a_referenced_segment_is_refused_naming_the_others(db):
    segments.create_list("Do not contact", ME)
    segments.create_dynamic("Reachable", 'not in segment "Do not contact"', ME)
    with pytest.raises(Refused, match='"Reachable"'):
        delete(segments.resolve("Do not contact"), ME)


def test_copy_names_and_keeps_schedule(db):
    make_contacts(3)
    seg, _ = segments.create_dynamic("Active", "status = active", ME, every=1800)
    new, result = copy(seg, ME)
    assert new.name == "Copy of Active" and new.refresh_every == 1800 and result.total == 3
    second, _ = copy(seg, ME)
    assert second.name == "Copy of Active (2)"
    named, _ = copy(seg, ME, name="Mine")
    assert named.condition_text == seg.condition_text


def test_preview_saves_nothing(db):
    make_contacts(7, status=lambda i: "active" if i < 5 else "bounced")
    before = (Segment.select().count(), Membership.select().count())
    data = preview("created_at after 2020-01-01")
    assert data["count"] == 7 and data["active"] == 5 and len(data["samples"]) == 5
    assert (Segment.select().count(), Membership.select().count()) == before


def test_birthday_segment_moves_with_the_clock(db):
    ids = make_contacts(2, birth_date=lambda i: dt.date(1990, 12, 30) if i == 0 else dt.date(1990, 1, 2))
    old = clock.set_clock(clock.FixedClock(dt.datetime(2026, 12, 28, 9, 0)))
    try:
        seg, result = segments.create_dynamic("Soon", "birthday in next 7 days", ME)
        assert members(seg) == set(ids)  # Dec 28 .. Jan 3 wraps over New Year
        clock.clock.advance(days=6)  # Jan 3 .. Jan 9
        refresh(seg, ME, trigger="schedule")
        assert members(seg) == set()
    finally:
        clock.set_clock(old)


def test_why_lists_each_test_with_the_contacts_value(db):
    make_contacts(1, gender="female", region="Lviv")
    segments.create_dynamic("Kyiv women", "gender = female and region = Kyiv", ME)
    data = why("C0@example.com", "kyiv women")
    assert data["matches"] is False and data["member"] is False
    assert [(t["test"], t["result"]) for t in data["tests"]] == [("gender = female", True), ("region = Kyiv", False)]
    assert "Lviv" in str(data["tests"][1]["value"])


def test_cli_create_refresh_members_why(db_url, tmp_path):
    store_db.open_database(db_url)
    make_contacts(3, region="Київ", first_name="Оля")
    store_db.close_database()
    runner = CliRunner()

    def run(*args):
        return runner.invoke(cli, ["--db", db_url, *args], catch_exceptions=False)

    r = run("create", "dynamic", "Kyiv", "--where", "region = Київ", "--every", "30m", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["members"] == 3
    r = run("create", "dynamic", "Bad", "--where", "region = Kyiv and orders.totl > 100")
    assert r.exit_code == 2
    assert 'unknown field "orders.totl" at column 19 — did you mean "orders.total"?' in r.output
    assert "                  ^" in r.output
    r = run("refresh", "kyiv", "--json")
    assert json.loads(r.output)["total"] == 3
    assert run("refresh", "--all").exit_code == 0
    r = run("members", "Kyiv", "--format", "csv", "--fields", "email,first_name", "--limit", "2")
    assert r.output.splitlines() == ["email,first_name", "c0@example.com,Оля", "c1@example.com,Оля"]
    r = run("members", "Kyiv", "--format", "json")
    assert len(json.loads(r.output)) == 3
    r = run("why", "c0@example.com", "Kyiv")
    assert r.exit_code == 0 and "IN" in r.output
    r = run("preview", "--where", "region = київ", "--json")
    assert json.loads(r.output)["count"] == 3
    r = run("create", "dynamic", "Slow", "--where", "status = active", "--every", "soon")
    assert r.exit_code == 2 and "30m" in r.output
    assert run("show", "Kyiv").output.count("every 30m") == 1
