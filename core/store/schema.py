"""The schema, created on first use and versioned.

Each entry of MIGRATIONS brings a database from version N-1 to N inside one
transaction. A database newer than this program is refused rather than
touched. Add a migration; never edit one that has shipped.
"""
from __future__ import annotations

import peewee as pw

from ..errors import SegmentaError
from . import models as m


def _v1(db: pw.Database) -> None:
    db.create_tables(m.ALL_MODELS, safe=True)


def _v2(db: pw.Database) -> None:
    # refresh leases, channel subscriptions and the notices outbox
    from . import models_notices

    db.create_tables(models_notices.ALL_MODELS, safe=True)


# Indexes that are a leading part of another index or of the primary key
# (models.py declares them index=False now): they serve no query the longer
# one cannot, and cost every insert — a third of an import's index work.
_REDUNDANT_INDEXES = (
    "interest_contact_id", "custom_value_contact_id", "order_contact_id", "membership_segment_id",
    "membership_contact_id", "membership_change_segment_id", "refresh_run_segment_id",
)


def _v3(db: pw.Database) -> None:
    for name in _REDUNDANT_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')


# PostgreSQL checks a foreign key with a trigger per row that also locks the
# row it points to: a split of 880,000 members spent 14 of its 29 s on these
# six, an import a fifth of its time. What they did is done by Segmenta itself
# on PostgreSQL: children are deleted explicitly (core.delete), inserts take
# their ids from the tables inside the transaction, and core.store.db's
# CONTACTS_LOCK keeps a deletion of contacts apart from every writer. SQLite
# checks a key with one probe of the parent's primary key, cheaply, and keeps
# them (dropping one there means rebuilding the table).
_UNCHECKED_KEYS = (
    ("interest", "interest_contact_id_fkey"), ("custom_value", "custom_value_contact_id_fkey"),
    ("order", "order_contact_id_fkey"), ("membership", "membership_contact_id_fkey"),
    ("membership", "membership_segment_id_fkey"), ("membership_change", "membership_change_segment_id_fkey"),
)


def _v4(db: pw.Database) -> None:
    if isinstance(db, pw.SqliteDatabase):
        return
    for table, name in _UNCHECKED_KEYS:
        db.execute_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')


# PostgreSQL: the history's link to the refresh run that wrote it is checked by
# no trigger and indexed by nothing, for the same reasons as version 4. Its
# check fired for every row, NULL or not (a split's 880,000 rows: 0.4 s), and
# its index, which only the key's ON DELETE SET NULL ever read, was a fourth
# of every history row's writing: a split of 880,000 members went from 3.3 s
# to 2.3 s for its history, a first refresh of as many alike. A refresh run is
# deleted only with its segment, after that segment's history (core.delete),
# so no row can name a run that is gone. SQLite keeps both: its check is one
# probe, and there the index is what a deletion of runs would scan by.
_UNCHECKED_RUN = ("membership_change", "membership_change_refresh_run_id_fkey")
_UNREAD_INDEXES = ("membership_change_refresh_run_id",)


def _v5(db: pw.Database) -> None:
    if isinstance(db, pw.SqliteDatabase):
        return
    table, name = _UNCHECKED_RUN
    db.execute_sql(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{name}"')
    for index in _UNREAD_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{index}"')


# SQLite: interests and custom values kept in the order of their primary key
# (contact, value|key), as tables WITHOUT ROWID. A table by rowid keeps such a
# key in an index beside the table: two b-trees written per row and read per
# look-up; now one. Measured on a million contacts: their import 23.3 s →
# 22.2 s (1.6 million interests, 360,000 custom values), an export of 880,000
# members with a custom column 4.3 s → 4.0 s. PostgreSQL's tables have no
# such option (its heap is never in key order) and stay as they are.
_CLUSTERED = (m.Interest, m.CustomValue)


def _v6(db: pw.Database) -> None:
    if not isinstance(db, pw.SqliteDatabase):
        return
    for model in _CLUSTERED:
        table = model._meta.table_name
        (create,) = db.execute_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                   (table,)).fetchone()
        if create.rstrip().upper().endswith("WITHOUT ROWID"):
            continue
        names = ", ".join(f'"{c.name}"' for c in db.get_columns(table))
        key = ", ".join(f'"{model._meta.fields[f].column_name}"' for f in model._meta.primary_key.field_names)
        new = f"{table}_v6"
        db.execute_sql(create.replace(f'"{table}"', f'"{new}"', 1) + " WITHOUT ROWID")
        db.execute_sql(f'INSERT INTO "{new}" ({names}) SELECT {names} FROM "{table}" ORDER BY {key}')
        db.execute_sql(f'DROP TABLE "{table}"')  # and its indexes
        db.execute_sql(f'ALTER TABLE "{new}" RENAME TO "{table}"')
        model._schema.create_indexes(safe=True)


# The order aggregates move from the contact into a table of their own,
# order_totals (see models.OrderTotals): an orders file rewrote every
# contact's row for them. PostgreSQL: its key to the contact is checked by no
# trigger, as in version 4 (core.delete deletes its rows with the contact's).
_TOTALS = ("orders_count", "orders_total", "orders_max", "orders_first_date", "orders_last_date")


def _v7(db: pw.Database) -> None:
    db.create_tables([m.OrderTotals], safe=True)
    if not isinstance(db, pw.SqliteDatabase):
        db.execute_sql('ALTER TABLE "order_totals" DROP CONSTRAINT IF EXISTS "order_totals_contact_id_fkey"')
    had = {c.name for c in db.get_columns("contact")}
    if not set(_TOTALS) <= had:
        return  # a database made by this version: the contact never had them
    if isinstance(db, pw.SqliteDatabase) and _sqlite_version(db) < (3, 35):
        # no DROP COLUMN; and a copy of the table cannot be swapped in inside this
        # transaction, where dropping the old one would cascade to its children
        raise SegmentaError(
            "this database keeps its order totals on the contacts, and moving them into a table of their own "
            f"needs SQLite 3.35 or newer (this Python has {'.'.join(map(str, _sqlite_version(db)))}); open it "
            "once with a Python whose sqlite3 is newer, after which any version will do")
    names = ", ".join(_TOTALS)
    db.execute_sql(f"INSERT INTO order_totals (contact_id, {names}) SELECT id, {names} FROM contact "
                   "WHERE orders_count > 0")
    for column in _TOTALS:
        db.execute_sql(f'ALTER TABLE contact DROP COLUMN "{column}"')


def _sqlite_version(db) -> tuple[int, ...]:
    (text,) = db.execute_sql("SELECT sqlite_version()").fetchone()
    return tuple(int(x) for x in text.split("."))


# PostgreSQL: the members are indexed by their segment only (the primary key,
# segment then contact), no longer also by contact then segment. That second
# index was a third of every membership row's writing — a split of 880,000
# members spent 2.0 of its 12.1 s on it — and served one statement: deleting
# a segment's contacts, which finds their other memberships by a hash join
# over the table instead (a statement for an admin, confirmed, and rare).
# SQLite keeps it: there the foreign key's cascade from a deleted contact
# finds its memberships through it, row by row.
_BY_CONTACT = ("membership_contact_id_segment_id",)


def _v8(db: pw.Database) -> None:
    if isinstance(db, pw.SqliteDatabase):
        return
    for index in _BY_CONTACT:
        db.execute_sql(f'DROP INDEX IF EXISTS "{index}"')


# PostgreSQL: an order's key is its order_id, the unique index every upsert of
# orders already uses; the id keeps its sequence and loses its index, which
# no statement reads (an order is looked up by order_id, or by its contact).
# That index was written for every order: COPY of 2.6M orders into the table
# took 9.6-11.4 s with it, 7.3-7.9 s without (measured in psql, one file on
# the server, alternated). SQLite keeps its table: there the id is the rowid,
# the table's own b-tree, which costs nothing beside it.
_ORDER_KEY = "order_order_id"


def _v9(db: pw.Database) -> None:
    if isinstance(db, pw.SqliteDatabase):
        return
    db.execute_sql('ALTER TABLE "order" DROP CONSTRAINT IF EXISTS "order_pkey"')
    # the index keeps its name: the constraint takes the index's
    db.execute_sql(f'ALTER TABLE "order" ADD CONSTRAINT "{_ORDER_KEY}" PRIMARY KEY USING INDEX "{_ORDER_KEY}"')


MIGRATIONS = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9]
CURRENT = len(MIGRATIONS)


def version(db: pw.Database) -> int:
    if not db.table_exists("schema_version"):
        return 0
    row = m.SchemaVersion.select(pw.fn.MAX(m.SchemaVersion.version)).scalar()
    return row or 0


def migrate(db: pw.Database) -> int:
    with db.atomic():
        have = version(db)
        if have > CURRENT:
            raise SegmentaError(
                f"this database has schema version {have}, newer than this Segmenta ({CURRENT}); upgrade Segmenta"
            )
        for number in range(have + 1, CURRENT + 1):
            MIGRATIONS[number - 1](db)
            m.SchemaVersion.create(version=number)
        from ..bulk import restore

        restore(db, on_open=True)  # a big import killed before it built its indexes again
    return CURRENT
