"""One DatabaseProxy for the whole program, bound at the entry point.

SQLite is the embedded default (WAL, foreign keys, a busy timeout, and
BEGIN IMMEDIATE so that writers queue instead of deadlocking on upgrade);
PostgreSQL is reached by URL through psycopg 3.
"""
from __future__ import annotations

from contextlib import contextmanager

import peewee
from playhouse import db_url

from ..errors import BadInput

database = peewee.DatabaseProxy()

# SQLite's soft heap limit is for the whole process, not per connection: past
# it, SQLite recycles clean cache pages. A command-line process has one
# connection at a time and keeps 128 MB. The bot and the terminal UI give each
# worker thread its own connection, and 30 page caches of 64 MB would be 2 GB:
# they call many_connections(), which shares 64 MB among them. Measured with
# the bot refreshing a million members while 30 commands ran: 252 MB of the
# process at 128 MB, 167 MB at 64 MB, the refresh no slower; an import raises
# the limit while it runs (core.bulk.bulk_memory).
SOFT_HEAP_LIMIT = 128 * 1024 * 1024
SHARED_SOFT_HEAP_LIMIT = 64 * 1024 * 1024
_soft_heap_limit = SOFT_HEAP_LIMIT

SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("synchronous", "normal"),
    ("cache_size", -64000),
    # Temporary tables and statement journals in files (the OS caches them) with
    # a cache of their own: as fast here as in memory, and a refresh of a million
    # members no longer holds ~100 MB of copied pages in the process.
    ("temp_store", "file"),
    ("temp.cache_size", -32000),
    ("busy_timeout", 30000),
)


URL_HINT = "use sqlite:///path.db or postgresql://user@host:5432/db"


def _connect(url: str) -> peewee.Database:
    scheme = url.split(":", 1)[0].lower()
    try:
        if scheme in ("sqlite",):
            if not url.split(":", 1)[1].strip("/"):  # sqlite3 would make a throwaway database
                raise BadInput(f'"{url}" names no file; {URL_HINT}')
            return db_url.connect(url, pragmas=SQLITE_PRAGMAS, timeout=30, lock_type="IMMEDIATE")
        if scheme in ("postgres", "postgresql", "postgres+pool", "postgresql+pool", "cockroachdb"):
            try:
                import psycopg  # noqa: F401
            except ImportError:
                raise BadInput(
                    "PostgreSQL needs the psycopg driver: pip install 'segmenta[postgres]'"
                ) from None
            return db_url.connect(url, prefer_psycopg3=True)
    except ValueError as e:  # a port that is not a number, a broken IPv6 address
        raise BadInput(f'"{redact(url)}" is not a database URL Segmenta can read ({e}); {URL_HINT}') from None
    raise BadInput(f'"{redact(url)}" is not a database URL Segmenta knows; {URL_HINT}')


def open_database(url: str, *, migrate: bool = True) -> peewee.Database:
    """Bind the proxy to URL and bring its schema up to date."""
    db = _connect(url)
    try:
        db.connect(reuse_if_open=True)
    except peewee.DatabaseError as e:  # refused, unreachable, or a bad option (connect_timeout=abc)
        raise BadInput(f"cannot open the database {redact(url)}: {str(e).strip()}") from None
    database.initialize(db)
    set_soft_heap_limit(_soft_heap_limit)
    if migrate:
        from .schema import migrate as _migrate

        _migrate(db)
    return db


def many_connections() -> None:
    """Call first in a process whose threads each open a connection (the bot, the
    terminal UI): SQLite's memory is shared among them (see SOFT_HEAP_LIMIT)."""
    global _soft_heap_limit
    _soft_heap_limit = SHARED_SOFT_HEAP_LIMIT
    set_soft_heap_limit(_soft_heap_limit)


def soft_heap_limit() -> int | None:
    """SQLite: the process's limit in bytes (None on another database)."""
    db = database.obj
    return db.execute_sql("PRAGMA soft_heap_limit").fetchone()[0] if isinstance(db, peewee.SqliteDatabase) else None


def set_soft_heap_limit(limit: int) -> None:
    """SQLite: set the process's limit to LIMIT bytes (nothing on another database)."""
    db = database.obj
    if isinstance(db, peewee.SqliteDatabase):
        db.execute_sql(f"PRAGMA soft_heap_limit = {int(limit)}")


def close_database() -> None:
    obj = database.obj
    if obj is not None and not obj.is_closed():
        obj.close()


def backend() -> str:
    """'sqlite' or 'postgres' for the bound database."""
    obj = database.obj
    if isinstance(obj, peewee.SqliteDatabase):
        return "sqlite"
    return "postgres"


def redact(url: str) -> str:
    """A URL without its password, for messages and logs."""
    import re

    return re.sub(r"(//[^:/@]+):[^/?#]*@", r"\1:***@", url)  # up to the last @ before the path


# PostgreSQL keeps no foreign keys from the bulk tables to the contacts (schema
# version 4: its per-row checks were half the time of a split). What they
# guarded, a contact deleted while a transaction writes rows that name it, this
# lock guards instead: every write transaction holds it shared, and the one
# deletion of contacts (core.delete) holds it alone, so it waits for the
# writers in progress and they wait for it, and ids a transaction read stay
# good until it ends. SQLite lets one writer in at a time anyway.
CONTACTS_LOCK = 0x5E6_C0DE  # an advisory lock key of Segmenta's own


@contextmanager
def write(*, deleting_contacts: bool = False):
    """One unit of work: a transaction that commits whole or not at all.

    Nested calls become savepoints, so operations compose. DELETING_CONTACTS:
    this transaction deletes contacts (see CONTACTS_LOCK); only an outermost
    transaction may.
    """
    db = database.obj
    outermost = db.transaction_depth() == 0
    if deleting_contacts and not outermost:
        raise RuntimeError("contacts are deleted in a transaction of its own")
    with database.atomic():
        if outermost and not isinstance(db, peewee.SqliteDatabase):
            lock = "pg_advisory_xact_lock" if deleting_contacts else "pg_advisory_xact_lock_shared"
            db.execute_sql(f"SELECT {lock}({CONTACTS_LOCK})")
        yield
