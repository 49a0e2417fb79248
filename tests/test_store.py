import datetime as dt

import peewee
import pytest

from core.store import models as m
from core.store import schema
from core import config
from core.errors import ConfigError, BadInput
from core.store.db import open_database


def test_schema_is_created_on_first_use_and_versioned(db):
    assert schema.version(db) == schema.CURRENT
    # opening again migrates nothing and keeps the data
    m.Contact.create(email="a@x.org", email_norm="a@x.org", created_at=dt.date.today())
    schema.migrate(db)
    assert m.Contact.select().count() == 1
    assert schema.version(db) == schema.CURRENT


def test_a_newer_database_is_refused_not_touched(db):
    m.SchemaVersion.create(version=schema.CURRENT + 1)
    with pytest.raises(Exception, match="newer than this Segmenta"):
        schema.migrate(db)


def test_email_is_unique_without_case(db):
    m.Contact.create(email="Ann@X.org", email_norm="ann@x.org", created_at=dt.date.today())
    with pytest.raises(peewee.IntegrityError):
        with db.atomic():
            m.Contact.create(email="ann@x.org", email_norm="ann@x.org", created_at=dt.date.today())


def test_deleting_contacts_removes_everything_that_names_them_and_nothing_else(db):
    """PostgreSQL has no cascade from the contacts (schema version 4): the deletion
    removes their rows itself, the same on both backends."""
    from core import delete
    from core.audit import Actor

    today = dt.date.today()
    doomed, kept = (m.Contact.create(email=f"{n}@x.org", email_norm=f"{n}@x.org", created_at=today)
                    for n in ("gone", "kept"))
    listed = m.Segment.create(name="L", name_norm="l", kind="list")
    other = m.Segment.create(name="O", name_norm="o", kind="list")
    for c in (doomed, kept):
        m.Order.create(order_id=f"o-{c.id}", contact=c, total=100, created_at=today)
        m.Interest.create(contact=c, value="tea", display="Tea")
        m.CustomValue.create(contact=c, key="tier", text="gold", norm="gold")
        m.Membership.create(segment=other, contact=c)
    m.Membership.create(segment=listed, contact=doomed)
    delete.delete(listed, Actor("ann", "cli"), with_contacts=True, confirmed=True)
    for model in (m.Order, m.Interest, m.CustomValue, m.Membership):
        assert [r.contact_id for r in model.select()] == [kept.id], model.__name__
    assert [c.id for c in m.Contact.select()] == [kept.id]
    assert m.Segment.get_by_id(other.id).member_count == 1


def test_deleting_a_segment_removes_its_members_and_history(db):
    from core import delete, segments
    from core.audit import Actor

    me = Actor("ann", "cli")
    ids = [m.Contact.create(email=f"{n}@x.org", email_norm=f"{n}@x.org", created_at=dt.date.today()).id
           for n in range(3)]
    gone, kept = segments.create_list("Gone", me), segments.create_list("Kept", me)
    segments.add_contacts(gone, ids, me)
    segments.add_contacts(kept, ids[:1], me)
    delete.delete(gone, me)
    assert {r.segment_id for r in m.Membership.select()} == {kept.id}
    assert {r.segment_id for r in m.MembershipChange.select()} == {kept.id}
    assert m.Contact.select().count() == 3


def test_postgresql_keeps_no_per_row_checked_keys_to_the_contacts(db):
    """Schema version 4 drops them on PostgreSQL only; SQLite checks keys cheaply and keeps them."""
    keys = {(t, fk.column) for t in ("interest", "custom_value", "order", "membership", "membership_change")
            for fk in db.get_foreign_keys(t)}
    unchecked = {("interest", "contact_id"), ("custom_value", "contact_id"), ("order", "contact_id"),
                 ("membership", "contact_id"), ("membership", "segment_id"), ("membership_change", "segment_id")}
    run = ("membership_change", "refresh_run_id")
    run_index = "membership_change_refresh_run_id"
    indexes = {i.name for i in db.get_indexes("membership_change")}
    if isinstance(db, peewee.SqliteDatabase):
        assert unchecked | {run} <= keys
        assert run_index in indexes
    else:  # version 5: nor the history's key to its refresh run, nor the index only that key read
        assert not (unchecked | {run}) & keys
        assert run_index not in indexes
        assert "membership_change_segment_id_at" in indexes


def test_postgresql_indexes_members_by_segment_only_and_still_deletes_their_contacts(db):
    """Version 8: PostgreSQL drops the members' index by contact (a third of each
    membership row's writing); deleting a segment's contacts finds their other
    memberships without it. SQLite keeps it for its foreign key's cascade."""
    from core import delete, segments
    from core.audit import Actor

    names = {i.name for i in db.get_indexes("membership")}
    assert ("membership_contact_id_segment_id" in names) == isinstance(db, peewee.SqliteDatabase)
    me = Actor("ann", "cli")
    ids = [m.Contact.create(email=f"{n}@x.org", email_norm=f"{n}@x.org", created_at=dt.date.today()).id
           for n in range(4)]
    doomed, other = segments.create_list("Doomed", me), segments.create_list("Other", me)
    segments.add_contacts(doomed, ids[:2], me)
    segments.add_contacts(other, ids[1:], me)
    delete.delete(doomed, me, with_contacts=True, confirmed=True)
    assert sorted(c for (c,) in m.Membership.select(m.Membership.contact).tuples()) == ids[2:]
    assert m.Segment.get_by_id(other.id).member_count == 2
    assert ("left", ids[1]) in {(c.change, c.contact_id) for c in m.MembershipChange.select().where(
        m.MembershipChange.segment == other)}


def test_deleting_a_refreshed_segment_leaves_no_history_naming_its_runs(db):
    """The runs go with their segment, and so does every history row that names one,
    though PostgreSQL checks that link no more (schema version 5)."""
    from core import delete, segments
    from core.audit import Actor

    me = Actor("ann", "cli")
    for n in range(4):
        m.Contact.create(email=f"{n}@x.org", email_norm=f"{n}@x.org", status="active", created_at=dt.date.today())
    gone, _ = segments.create_dynamic("Gone", "status = active", me)
    kept, _ = segments.create_dynamic("Kept", "status = active", me)
    assert m.MembershipChange.select().where(m.MembershipChange.refresh_run.is_null(False)).count() == 8
    delete.delete(gone, me)
    runs = {r.id for r in m.RefreshRun.select()}
    named = {r.refresh_run_id for r in m.MembershipChange.select()}
    assert named and named <= runs
    assert {r.segment_id for r in m.RefreshRun.select()} == {kept.id}


def test_sqlite_keeps_interests_and_custom_values_in_their_keys_order(db):
    """Schema version 6: tables WITHOUT ROWID on SQLite (one b-tree a row, not a
    table and its key's index); PostgreSQL has no such tables and keeps its own."""
    for table in ("interest", "custom_value"):
        if isinstance(db, peewee.SqliteDatabase):
            (sql,) = db.execute_sql("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
            assert sql.endswith("WITHOUT ROWID"), sql
        names = {i.name for i in db.get_indexes(table)}
        assert {"interest": {"interest_value_contact_id"},
                "custom_value": {"custom_value_key_norm", "custom_value_key_number", "custom_value_key_date"}}[table] <= names


def test_a_version_5_database_keeps_its_interests_and_custom_values_through_version_6(tmp_path):
    from core.store.db import close_database

    db = open_database(f"sqlite:///{tmp_path / 'v5.db'}", migrate=False)
    try:
        for number in range(1, 6):
            schema.MIGRATIONS[number - 1](db)
            m.SchemaVersion.create(version=number)
        today = dt.date.today()
        ann, bob = (m.Contact.create(email=f"{n}@x.org", email_norm=f"{n}@x.org", created_at=today) for n in "ab")
        for c, values in ((ann, ["tea", "jazz"]), (bob, ["tea"])):
            for v in values:
                m.Interest.create(contact=c, value=v, display=v.title())
            m.CustomValue.create(contact=c, key="tier", text="Gold", norm="gold")
        m.CustomValue.create(contact=ann, key="score", text="7", number=7.0)
        before = {model: sorted(model.select().tuples()) for model in (m.Interest, m.CustomValue)}

        assert schema.migrate(db) == schema.CURRENT >= 6
        assert {model: sorted(model.select().tuples()) for model in (m.Interest, m.CustomValue)} == before
        assert db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert "interest_value_contact_id" in {i.name for i in db.get_indexes("interest")}
        assert [r.contact_id for r in m.CustomValue.select().where(
            (m.CustomValue.key == "tier") & (m.CustomValue.norm == "gold")).order_by(m.CustomValue.contact)] == [ann.id, bob.id]
        # the key to the contacts holds as before: deleting a contact takes its rows
        m.Contact.delete().where(m.Contact.id == ann.id).execute()
        assert {r.contact_id for r in m.Interest.select()} == {r.contact_id for r in m.CustomValue.select()} == {bob.id}
        schema.migrate(db)  # again: nothing to do
        assert sorted(m.Interest.select().tuples()) == [(bob.id, "tea", "Tea")]
    finally:
        close_database()


@pytest.fixture(params=["sqlite", "postgres"])
def unmigrated_url(request, tmp_path):
    """An empty database of its own on each backend, not migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    import os

    import psycopg

    from tests.conftest import PG_ADMIN_URL

    base = request.getfixturevalue("pg_url")  # reachable, or skipped as the suite says
    name = f"segmenta_unmigrated_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{base.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_OLD_TOTALS = (("orders_count", "INTEGER NOT NULL DEFAULT 0"), ("orders_total", "BIGINT NOT NULL DEFAULT 0"),
               ("orders_max", "BIGINT"), ("orders_first_date", "DATE"), ("orders_last_date", "DATE"))


def _version_6_with_totals_on_the_contacts(db):
    """A database as version 6 left it: the order aggregates were columns of the contact."""
    for number in range(1, 7):
        schema.MIGRATIONS[number - 1](db)
        m.SchemaVersion.create(version=number)
    db.execute_sql('DROP TABLE "order_totals"')  # version 1 makes today's tables
    for name, kind in _OLD_TOTALS:
        db.execute_sql(f"ALTER TABLE contact ADD COLUMN {name} {kind}")
    today = dt.date(2025, 3, 1)
    ann, bob, cid = (m.Contact.create(email=f"{n}@x.org", email_norm=f"{n}@x.org", created_at=today) for n in "abc")
    m.Interest.create(contact=ann, value="tea", display="Tea")
    for order_id, who, cents, day in (("o1", ann, 1000, 2), ("o2", ann, 250, 5), ("o3", cid, 99, 9)):
        m.Order.create(order_id=order_id, contact=who, total=cents, created_at=dt.date(2025, 1, day))
    p = db.param
    for who, totals in ((ann, (2, 1250, 1000, dt.date(2025, 1, 2), dt.date(2025, 1, 5))),
                        (cid, (1, 99, 99, dt.date(2025, 1, 9), dt.date(2025, 1, 9)))):
        db.execute_sql(f"UPDATE contact SET {', '.join(f'{n} = {p}' for n, _ in _OLD_TOTALS)} WHERE id = {p}",
                       (*totals, who.id))
    return ann, bob, cid


def test_a_version_6_database_moves_its_order_totals_off_the_contacts(unmigrated_url):
    """Version 7: each contact's order aggregates become its row of order_totals
    (none for a contact without orders), and the contact's columns go."""
    from core.conditions import parse
    from core.refresh import matching_query
    from core.store.db import close_database

    db = open_database(unmigrated_url, migrate=False)
    try:
        ann, bob, cid = _version_6_with_totals_on_the_contacts(db)
        assert schema.migrate(db) == schema.CURRENT >= 7
        assert sorted(m.OrderTotals.select().tuples()) == [
            (ann.id, 2, 1250, 1000, dt.date(2025, 1, 2), dt.date(2025, 1, 5)),
            (cid.id, 1, 99, 99, dt.date(2025, 1, 9), dt.date(2025, 1, 9))]
        assert not {n for n, _ in _OLD_TOTALS} & {c.name for c in db.get_columns("contact")}
        assert [i.value for i in m.Interest.select()] == ["tea"] and m.Order.select().count() == 3
        for condition, who in (("orders.total > 10", [ann]), ("orders.count < 2", [bob, cid]),
                               ("orders.last_date after 2025-01-06", [cid])):
            assert sorted(c.id for c in matching_query(parse(condition))) == [c.id for c in who], condition
        m.Contact.create(email="new@x.org", email_norm="new@x.org", created_at=dt.date(2025, 3, 2))
        schema.migrate(db)  # again: nothing to do
        assert m.OrderTotals.select().count() == 2
    finally:
        close_database()


def test_an_sqlite_without_drop_column_keeps_a_version_6_database_as_it_was(tmp_path, monkeypatch):
    from core.errors import SegmentaError
    from core.store.db import close_database

    db = open_database(f"sqlite:///{tmp_path / 'old.db'}", migrate=False)
    try:
        _version_6_with_totals_on_the_contacts(db)
        monkeypatch.setattr(schema, "_sqlite_version", lambda db: (3, 34, 1))
        with pytest.raises(SegmentaError, match=r"needs SQLite 3\.35 or newer \(this Python has 3\.34\.1\); open it"):
            schema.migrate(db)
        assert schema.version(db) == 6
        assert {n for n, _ in _OLD_TOTALS} <= {c.name for c in db.get_columns("contact")}
        assert not db.table_exists("order_totals")
    finally:
        close_database()


def test_a_version_8_database_keys_its_orders_by_order_id(unmigrated_url):
    """Version 9, PostgreSQL: the order's primary key is its order_id (the unique index
    it had), and its id keeps its sequence without an index. SQLite keeps its table,
    whose id is the rowid. Orders are upserted by order_id as before."""
    from core.contacts import upsert_orders
    from core.store.db import close_database

    db = open_database(unmigrated_url, migrate=False)
    try:
        for number in range(1, 9):
            schema.MIGRATIONS[number - 1](db)
            m.SchemaVersion.create(version=number)
        ann, bob = (m.Contact.create(email=f"{n}@x.org", email_norm=f"{n}@x.org", created_at=dt.date(2025, 1, 1))
                    for n in ("ann", "bob"))
        m.Order.create(order_id="o1", contact=ann, total=100, created_at=dt.date(2025, 1, 2))
        assert schema.migrate(db) == schema.CURRENT >= 9
        indexes = {i.name for i in db.get_indexes("order")}
        if isinstance(db, peewee.SqliteDatabase):
            assert [r[1] for r in db.execute_sql('PRAGMA table_info("order")') if r[5]] == ["id"]
            assert {"order_order_id", "order_contact_id_created_at"} <= indexes
        else:
            key = db.execute_sql(
                "SELECT i.indexrelid::regclass::text, a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = '\"order\"'::regclass AND i.indisprimary").fetchall()
            assert key == [("order_order_id", "order_id")]
            assert indexes == {"order_order_id", "order_contact_id_created_at"}  # none of the id
        schema.migrate(db)  # again: nothing to do
        with db.atomic():  # o1 moves to bob, o2 is new: upserted by order_id
            upsert_orders([(2, "o1", "bob@x.org", 300, None, "2025-01-05"), (3, "o2", "ann@x.org", 7, None, "2025-01-06")])
        assert sorted((o.order_id, o.contact_id, o.total) for o in m.Order.select()) == [
            ("o1", bob.id, 300), ("o2", ann.id, 7)]
        assert len({o.id for o in m.Order.select()}) == 2
        assert sorted(m.OrderTotals.select(m.OrderTotals.contact, m.OrderTotals.orders_total).tuples()) == [
            (ann.id, 7), (bob.id, 300)]
    finally:
        close_database()


def test_unknown_config_key_names_the_key_and_the_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('timezone = "UTC"\n[database]\nurll = "x"\n')
    with pytest.raises(ConfigError, match=r'c\.toml.*"database\.urll"'):
        config.load(p)


def test_bad_config_values_are_errors(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[custom_fields]\ntier = "colour"\n')
    with pytest.raises(ConfigError, match="custom_fields.tier"):
        config.load(p)
    p.write_text('[scheduler]\nrefresh_every = "soon"\n')
    with pytest.raises(ConfigError, match="refresh_every"):
        config.load(p)
    p.write_text('timezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="timezone"):
        config.load(p)


def test_config_defaults_and_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEGMENTA_CONFIG", raising=False)
    monkeypatch.setenv("SEGMENTA_DATABASE_URL", "sqlite:///elsewhere.db")
    cfg = config.load()
    assert cfg.timezone == "UTC" and cfg.refresh_every == 3600
    assert cfg.database_url == "sqlite:///elsewhere.db"


def test_example_config_is_valid():
    from pathlib import Path

    cfg = config.load(Path(__file__).parent.parent / "config.example.toml")
    assert cfg.custom_fields == {"tier": "text", "score": "number"}


def test_unknown_database_url_is_a_clear_error():
    with pytest.raises(BadInput, match="sqlite:///"):
        open_database("mysql://nope")


def test_members_are_not_written_for_a_segment_deleted_meanwhile(db):
    """PostgreSQL no longer checks membership's segment by a foreign key: a
    re-evaluation that still holds a deleted dynamic segment writes nothing for it."""
    from core import delete, refresh, segments
    from core.audit import Actor

    me = Actor("ann", "cli")
    ids = [m.Contact.create(email=f"{n}@x.org", email_norm=f"{n}@x.org", region="Kyiv", region_norm="kyiv",
                            created_at=dt.date.today()).id for n in range(3)]
    seg = segments.create_dynamic("Kyiv", "region = Kyiv", me)[0]
    stale = m.Segment.get_by_id(seg.id)
    delete.delete(seg, me)
    new = refresh.scratch_ids("refresh_new", ids)
    assert refresh.apply_difference(stale, new, reason="refresh") == (0, 0)
    assert m.Membership.select().count() == 0 and m.MembershipChange.select().count() == 0
