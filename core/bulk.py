"""Bulk writes: a batch of rows goes from Python into a temporary table in one
round, and everything after that is set-based SQL over that table.

On SQLite the rows go in by `executemany` on one prepared INSERT (the loop
over rows is in C); on PostgreSQL by COPY. Upserts, id look-ups and joins
with the contacts then run inside the database, so that Python touches each
row once and never reads ids back to send them again.
"""
from __future__ import annotations

import fcntl
import gc
from contextlib import contextmanager
from typing import Iterable, Sequence

from peewee import SqliteDatabase

from .store import backend, database, write


class Staging:
    """A temporary table of this connection, emptied for each batch.

    COLUMNS are (name, PostgreSQL type). On SQLite the columns have no type,
    so that a value keeps exactly the type it was given (a custom text "007"
    stays text) until it reaches its real column. KEY, if given, is the
    column that identifies a row (SQLite's rowid, an index on PostgreSQL).
    """

    def __init__(self, name: str, columns: Sequence[tuple[str, str]], key: str | None = None,
                 joined_on: Sequence[str] = ()):
        self.name = name
        self.columns = list(columns)
        self.key = key
        self.joined_on = list(joined_on) or [self.columns[0][0]]  # the columns worth statistics

    def _create_sql(self, kind: str) -> str:
        cols = []
        for name, pg_type in self.columns:
            if kind == "sqlite":
                cols.append(f"{name} INTEGER PRIMARY KEY" if name == self.key else name)
            else:
                cols.append(f"{name} {pg_type}" + (" PRIMARY KEY" if name == self.key else ""))
        return f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.name} ({', '.join(cols)})"

    def reset(self) -> str:
        """Create the table if this connection has none yet, and empty it; its name."""
        database.obj.execute_sql(self._create_sql(backend()))
        empty_scratch(self.name)
        return self.name

    def load(self, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
        """Put ROWS (each a sequence of values for COLUMNS) into the table."""
        db = database.obj
        names = ", ".join(columns)
        if backend() == "sqlite":
            marks = ", ".join("?" * len(columns))
            db.cursor().executemany(f"INSERT INTO {self.name} ({names}) VALUES ({marks})", rows)
            return
        copy_rows(self.name, columns, rows)
        analyze_scratch(self.name, self.joined_on)


def staged_on_demand(stage: Staging, columns: Sequence[str], rows: Sequence[Sequence], select: str):
    """A function that puts ROWS into STAGE on its first call, not before, and
    gives SELECT (SQL reading them) on every call: for what a batch wrote, which
    only some batches are asked for (the dynamic segments to re-evaluate, a list
    to add to). Staging 10,000 ids that nobody read was a twentieth of a
    contacts batch on PostgreSQL."""
    staged = False

    def touched() -> str:
        nonlocal staged
        if not staged:
            stage.reset()
            stage.load(columns, rows)
            staged = True
        return select

    return touched


def unique_violations() -> tuple[type, ...]:
    """The driver's error for a row that breaks a unique key (PostgreSQL's, raised by
    COPY; none where psycopg is not installed)."""
    try:
        import psycopg
    except ImportError:
        return ()
    return (psycopg.errors.UniqueViolation,)


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence] | bytes) -> None:
    """PostgreSQL: ROWS into TABLE's COLUMNS by one COPY; ROWS may be their COPY
    text already (`copy_text`), sent as it is."""
    cursor = database.obj.cursor()
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        if isinstance(rows, bytes):  # UTF-8, as `copy_text` writes it
            copy.write(rows if cursor.connection.info.encoding == "utf-8" else rows.decode("utf-8"))
            return
        for row in rows:
            copy.write_row(row)


def copy_text(rows: Iterable[Sequence]) -> list[bytes]:
    """Each of ROWS as a line of COPY's text format, as `copy_rows` would send it
    (psycopg's own formatter, in C where psycopg has it): for a process without a
    connection, such as an import's reader, to write what its writer only sends."""
    from psycopg.adapt import Transformer

    try:
        from psycopg._copy_base import format_row_text
    except ImportError:  # psycopg 3.2 kept it beside the copy classes
        from psycopg.copy import format_row_text
    transformer, text = Transformer(), bytearray()
    for row in rows:
        format_row_text(row, transformer, text)
    # one split for all: a value's line feeds and carriage returns are escaped (\n, \r)
    return bytes(text).splitlines(keepends=True)


def empty_scratch(table: str) -> None:
    """Empty the temporary TABLE for its next batch. TRUNCATE on PostgreSQL:
    autovacuum never visits temporary tables, so rows deleted batch after
    batch piled up as dead tuples (the tenth batch of an import read 100,000
    dead ids for its 10,000, and the planner, taking the table for ten times
    its size, hashed a whole segment)."""
    database.obj.execute_sql(f"{'DELETE FROM' if backend() == 'sqlite' else 'TRUNCATE'} {table}")


def analyze_scratch(table: str, columns: Sequence[str] = ()) -> None:
    """PostgreSQL: statistics of a temporary table just filled (a few milliseconds).

    Autovacuum never analyses temporary tables, so without this the planner
    guesses their size, and a guess of a few thousand rows joined with the
    contacts reads all million of them (a hash join) where one index probe
    per row would do: measured, 40 ms against a few per batch of 10,000.
    Only COLUMNS, if given (the ones joined on): every row is read anyway,
    but statistics of 25 columns took 80 ms a batch.
    """
    if backend() == "postgres":
        database.obj.execute_sql(f"ANALYZE {table}" + (f" ({', '.join(columns)})" if columns else ""))


def begin_bulk() -> None:
    """Call first in each transaction of a bulk write. PostgreSQL: no JIT for
    its statements — they touch a batch, and compiling them would cost more
    than running them (estimates made before the load can be far off); and
    sorts and hashes of up to 64 MB in memory, not in files (the default is
    4 MB: a split's ranking of 880,000 members went to disk); and plans that
    take pages to be in memory (`prefer_index_probes`)."""
    if backend() == "postgres" and not _cockroach():
        database.obj.execute_sql("SET LOCAL jit = off")
        database.obj.execute_sql("SET LOCAL work_mem = '64MB'")
        prefer_index_probes()


def commit_without_waiting() -> None:
    """PostgreSQL: this transaction's commit does not wait for its WAL to reach
    the disk (`synchronous_commit = off`, for it alone). For the transactions of
    a long load: a crash of the server may lose the last of them, but never
    leaves them half-done, and the load's last transaction waits as usual,
    which puts everything before it on disk too (the WAL is written in order)
    before the load reports that it is done. Measured, alternated, on a million
    contacts and 2.6M orders: 86.5 / 78.2 s waiting against 81.4 / 75.1 s."""
    if backend() == "postgres" and not _cockroach():
        database.obj.execute_sql("SET LOCAL synchronous_commit = off")


def prefer_index_probes() -> None:
    """PostgreSQL: plan the rest of this transaction for pages in memory or on an
    SSD — random_page_cost 1.1, the value commonly set for them, against the
    default 4, made for spinning disks. A batch (or a few contacts) against a
    big table is then looked up by index, as it should be: with 4, the
    re-evaluation of an import's 20,000 contacts against a segment of 880,000
    read all its members into a hash (370 ms, against 27 ms by probes), and
    matched them with the condition by a merge join that read the contacts
    from the first id up to theirs (580 ms, against 76 ms), for each batch
    and each dynamic segment."""
    if backend() == "postgres" and not _cockroach():
        database.obj.execute_sql("SET LOCAL random_page_cost = 1.1")


def _cockroach() -> bool:
    """CockroachDB speaks PostgreSQL's protocol but has none of its planner settings."""
    try:
        from playhouse.cockroachdb import CockroachDatabase
    except ImportError:  # pragma: no cover - peewee always has it
        return False
    return isinstance(database.obj, CockroachDatabase)


class Statistics:
    """Keeps the planner's statistics of TABLES in step with a bulk load.

    PostgreSQL chooses index look-ups or scans by the table sizes it last saw;
    a load that doubles a table makes those wrong (a million-row table taken
    for a small one is scanned for every batch), so during the load a table
    is analysed again whenever the load has written more rows than it had.
    SQLite has no statistics at all until ANALYZE runs, and then takes an
    index on `status` (three values) for a selective one; its plans do not
    change during a load, so it is analysed once at the end. Either way, the
    end of a load that wrote a tenth of a table or more analyses it (about a
    second per few million rows).

    The analyses during a load take a tenth of the usual sample (what they are
    for is sizes and rough proportions): ANALYZE reads a page per row sampled,
    and the six of a million contacts' import read 3.8 s of pages at the full
    sample. A load that took any ends with one at the full sample.
    """

    DURING_LOAD_TARGET = 10  # default_statistics_target of the analyses during a load (the default is 100)

    def __init__(self, *tables: str):
        self.tables = tables
        self.written = 0  # rows, since the last ANALYZE
        self.known = None
        self.sampled_less = False  # an analysis during the load took the smaller sample

    def wrote(self, rows: int) -> None:
        self.written += rows
        if backend() != "postgres":
            return
        if self.known is None:
            self.known = self._size()
        if self.written > max(self.known, 10_000):
            self._analyze(during_load=True)

    def finish(self) -> None:
        """Call after the load, outside its transactions."""
        if self.sampled_less or _a_tenth_or_more(self.written, self.tables[0]):
            with write():
                self._analyze()

    def _analyze(self, *, during_load: bool = False) -> None:
        db = database.obj
        if during_load:  # for this transaction only
            db.execute_sql(f"SET LOCAL default_statistics_target = {self.DURING_LOAD_TARGET}")
        for table in self.tables:
            db.execute_sql(f'ANALYZE "{table}"')
        if during_load:
            db.execute_sql("RESET default_statistics_target")
        self.sampled_less = during_load
        self.written = 0
        self.known = self._size()

    def _size(self) -> float:
        return _table_size(self.tables[0])


def _table_size(table: str) -> float:
    """TABLE's rows, about: SQLite's largest rowid (no count of every row),
    PostgreSQL's estimate as of its last ANALYZE."""
    db = database.obj
    if backend() == "sqlite":
        return db.execute_sql(f'SELECT COALESCE(max(rowid), 0) FROM "{table}"').fetchone()[0]
    row = db.execute_sql(f"SELECT reltuples FROM pg_class WHERE relname = {db.param}", (table,)).fetchone()
    return max(row[0] if row else 0, 0)


def _a_tenth_or_more(rows: int, table: str) -> bool:
    """Are ROWS just written (10,000 at least) a tenth of TABLE or more: worth an ANALYZE?"""
    return rows >= 10_000 and rows * 10 >= _table_size(table)


def wrote_many(table: str, rows: int) -> None:
    """PostgreSQL: after writing ROWS rows of TABLE in one go (a refresh, a split,
    an export to a list), analyse it if they are a tenth of it or more. Else
    its statistics stay those of before until autovacuum comes by (a minute
    or more): a split right after the refresh of 880,000 members planned
    for 22,000 of them, and sorted its ranking on disk. Inside the
    transaction: its own next statements plan with the new figures too."""
    if backend() == "postgres" and _a_tenth_or_more(rows, table):
        database.obj.execute_sql(f'ANALYZE "{table}"')


# PostgreSQL: the members each segment had when this process last analysed
# `membership` because of it, by (database, segment id).
_SEGMENT_ANALYSED_AT: dict[tuple, int] = {}
SEGMENT_GROWTH_MIN = 10_000  # a segment must also have grown by this many to be worth an ANALYZE


def segment_grew(segment_id: int, before: int, now: int) -> None:
    """PostgreSQL: after a re-evaluation took a segment from BEFORE to NOW members,
    analyse `membership` if the segment has doubled (and grown by
    SEGMENT_GROWTH_MIN or more) since this process last did for it.

    An import re-evaluates batch after batch, and a segment that grows
    through it (one on the order totals, during the first orders file) is
    planned with the statistics of before it grew, in which it had next to
    no members: finding who of a batch left it then read all its members, for
    each batch. Measured, 2,572,358 orders beside a segment on the totals that
    grew from 0 to 298,917: that statement 4.72 s → 1.13 s, for five ANALYZEs
    (0.32 s). `wrote_many` already covers one statement that writes a tenth
    of the table."""
    if backend() != "postgres" or now < before:
        return
    key = (id(database.obj), database.obj.database, segment_id)
    base = _SEGMENT_ANALYSED_AT.setdefault(key, before)
    if now >= 2 * base and now - base >= SEGMENT_GROWTH_MIN:
        database.obj.execute_sql('ANALYZE "membership"')
        _SEGMENT_ANALYSED_AT[key] = now


class DeferredIndexes:
    """Secondary indexes dropped for a big load and built again after it,
    instead of entry by entry.

    An index whose keys arrive in random order (a birth date) is a B-tree
    touched at a random page per row; `CREATE INDEX` afterwards reads the
    table once and builds it from sorted keys. So a load that at least
    doubles the contacts drops those indexes in a transaction of its own, and
    builds them again in the transaction that ends it. None of them is unique
    or read by the import (its upserts use the email index and the primary
    keys, which stay).

    Which ones depends on the backend (see _DEFERRED). An orders file leaves
    the contacts alone (it writes the orders and the contacts' rows of order
    totals); on PostgreSQL one at least as long as the orders there drops the
    orders' index by contact, which nothing reads while every order of the
    file is new. The first batch with an order that exists recomputes its
    contacts' totals through that index, so the import builds it again right
    after that batch (`build()`).

    A load killed in between leaves them missing: `restore()` runs on every
    open (core.store.schema), so whoever opens the database next builds them.
    Until then queries are right, only slower. A load still running holds
    `loading()` from before it drops them until it has built them, and an
    open leaves them to it: a command run beside a big import would else
    build them under the import's feet (the write lock held for seconds, and
    the import slowed by the very indexes it dropped).
    """

    MIN_ROWS = 50_000  # below this the indexes cost little; keep them

    def __init__(self, rows_coming: int, kind: str = "contacts"):
        self.rows_coming = rows_coming
        self.kind = kind
        self.dropped = False

    def drop_if_worth_it(self) -> bool:
        """Drop the indexes if ROWS_COMING is at least the number of contacts (of
        orders, for an orders file); call inside a transaction."""
        from .store.models import Contact, Order

        if not self.may_drop() or self.rows_coming < (Contact if self.kind == "contacts" else Order).select().count():
            return False
        names = _DEFERRED[backend(), self.kind]
        db = database.obj
        for _, index in deferrable_indexes():
            if index._name in names:
                db.execute_sql(f'DROP INDEX IF EXISTS "{index._name}"')
        self.dropped = True
        return True

    def may_drop(self) -> bool:
        """Whether this load is big enough to drop indexes (before any count)."""
        return bool(_DEFERRED[backend(), self.kind]) and self.rows_coming >= self.MIN_ROWS

    def build(self) -> None:
        """Build the dropped indexes again; call inside a transaction."""
        if self.dropped:
            restore()
            self.dropped = False


# Who holds the deferred indexes: PostgreSQL, an advisory lock held shared by
# each load for its whole session; SQLite, a lock (flock) on a file beside the
# database, "NAME-load". Both go with the process if it dies.
LOADING_LOCK = 0x5E6_10AD


@contextmanager
def loading():
    """Held by a big load from before it drops indexes until it has built them again."""
    db = database.obj
    if backend() == "postgres":
        db.execute_sql(f"SELECT pg_advisory_lock_shared({LOADING_LOCK})")
        try:
            yield
        finally:
            try:
                db.execute_sql(f"SELECT pg_advisory_unlock_shared({LOADING_LOCK})")
            except Exception:  # the connection is gone, and the session's lock with it
                pass
        return
    marker = _loading_file(db)
    if marker is None:
        yield
        return
    with marker:
        fcntl.flock(marker, fcntl.LOCK_SH)
        yield  # closing the file lets go


def another_load_running(db) -> bool:
    """Does a load of another connection hold `loading()` now?"""
    if not isinstance(db, SqliteDatabase):
        # transaction-level, released when the caller's transaction ends
        return not db.execute_sql(f"SELECT pg_try_advisory_xact_lock({LOADING_LOCK})").fetchone()[0]
    marker = _loading_file(db)
    if marker is None:
        return False
    with marker:
        try:
            fcntl.flock(marker, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def _loading_file(db):
    """SQLite: the open lock file beside the database file (None for one in memory
    or where no file can be made: then no load is ever taken to be running)."""
    path = db.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    try:
        return open(f"{path}-load", "a+b")
    except OSError:
        return None


# Only the indexes whose keys arrive in random order are worth it on SQLite: an
# index of a few values (status, region, the day of the year, an interest) is
# appended to at a few places as the ids grow, which costs little, while
# building it again means reading the whole table. Measured on a million
# contacts: 49.9 s with every index kept, 36.5 s + 3.7 s to build these two
# afterwards, no better with the three of few values deferred too.
# PostgreSQL gains from those too (measured: the contacts' insert 26 % faster,
# the interests' 18 %).
_RANDOM_KEYS = {"contact_birth_date", "contact_created_at",
                "custom_value_key_norm", "custom_value_key_number", "custom_value_key_date"}
_FEW_VALUES = {"contact_region_norm", "contact_status", "contact_birth_md"}
_DEFERRED = {
    ("sqlite", "contacts"): _RANDOM_KEYS,
    ("sqlite", "orders"): set(),
    ("postgres", "contacts"): _RANDOM_KEYS | _FEW_VALUES | {"interest_value_contact_id"},
    # the orders' index by contact: its keys come in the file's order of contacts,
    # and building it afterwards took 0.9 s for 2.6M orders against 1-1.5 s more
    # for the COPY of them with it (psql, alternated)
    ("postgres", "orders"): {"order_contact_id_created_at"},
}


def deferrable_indexes() -> list:
    """(model, index) of every index a big load may build afterwards, on any backend."""
    from .store.models import Contact, CustomValue, Interest, Order

    names = set().union(*_DEFERRED.values())
    return [(model, index) for model in (Contact, CustomValue, Interest, Order)
            for index in model._meta.fields_to_index() if index._name in names]


def restore(db=None, *, on_open: bool = False) -> list[str]:
    """Build whichever deferrable index is missing (a load was killed); their names.
    ON_OPEN: not while another load holds them (`loading()`)."""
    db = db or database.obj
    have = {}
    missing = []
    for model, index in deferrable_indexes():
        table = model._meta.table_name
        if table not in have:
            have[table] = _index_names(db, table)
        if index._name not in have[table]:
            missing.append((model, index))
    if not missing or (on_open and another_load_running(db)):
        return []
    for model, index in missing:
        db.execute(model._schema._create_index(index, safe=True))
    return [index._name for _, index in missing]


def _index_names(db, table: str) -> set[str]:
    return {i.name for i in db.get_indexes(table)}


def lookup_ids(table: str, target: str, *, where: str = "") -> None:
    """Set TABLE.TARGET to contact.id by email_norm, where TABLE's rows match WHERE.

    SQLite: one correlated probe of the unique email index per row. PostgreSQL:
    UPDATE … FROM, which the planner may turn into a join.
    """
    db = database.obj
    if backend() == "sqlite":
        db.execute_sql(
            f"UPDATE {table} SET {target} = (SELECT c.id FROM contact c WHERE c.email_norm = {table}.email_norm)"
            + (f" WHERE {where}" if where else "")
        )
    else:
        db.execute_sql(f"UPDATE {table} s SET {target} = c.id FROM contact c WHERE c.email_norm = s.email_norm"
                       + (f" AND {where}" if where else ""))


@contextmanager
def bulk_memory():
    """SQLite: the process's page-cache limit at least 128 MB while a bulk load
    runs, so that its connection keeps its cache and its staging tables'
    (the bot and the terminal UI share 64 MB among their connections)."""
    from .store.db import SOFT_HEAP_LIMIT, set_soft_heap_limit, soft_heap_limit

    before = soft_heap_limit()
    if before is None:  # not SQLite
        yield
        return
    set_soft_heap_limit(max(before, SOFT_HEAP_LIMIT))
    try:
        yield
    finally:
        set_soft_heap_limit(before)


@contextmanager
def keys_checked_by_the_load():
    """SQLite: no foreign-key checks on this connection while an import runs.
    Every id it writes comes from the contact table in the same transaction,
    and SQLite lets one writer in at a time, so none can be wrong; the checks
    (a probe of the contacts' primary key per interest, custom value and
    order) were 4 % of an import. The pragma is a no-op inside a transaction:
    an import inside another transaction keeps the checks. PostgreSQL has no
    such keys (core.store.schema, version 4)."""
    db = database.obj
    if backend() != "sqlite" or db.in_transaction():
        yield
        return
    db.execute_sql("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        db.execute_sql("PRAGMA foreign_keys = ON")


@contextmanager
def without_gc_pauses():
    """The cycle collector off while rows stream through. A batch is tens of
    thousands of lists and tuples that live until it is written, and the
    collector would walk them again and again (a sixth of an import's time).
    Rows make no reference cycles; whatever else does is collected after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
