"""Fixtures shared by the suite.

`db` runs a test on SQLite (a temporary file) and on PostgreSQL
(127.0.0.1:5432, user postgres). With CI=true an unreachable PostgreSQL fails
the run instead of skipping it.
"""
from __future__ import annotations

import os

import peewee
import pytest

from core.store import db as store_db
from core.store import schema

PG_ADMIN_URL = os.environ.get("SEGMENTA_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _pg_base_url() -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0]


@pytest.fixture(autouse=True)
def one_connection_memory():
    """SQLite's memory limit is process-wide state: a bot or terminal UI started
    in-process by an earlier test (many_connections) must not carry over."""
    store_db._soft_heap_limit = store_db.SOFT_HEAP_LIMIT
    yield
    store_db._soft_heap_limit = store_db.SOFT_HEAP_LIMIT


@pytest.fixture(scope="session")
def pg_url():
    """A database of its own for this test worker, created afresh per session."""
    try:
        import psycopg

        # One database per test process: parallel runs never drop each other's.
        name = f"segmenta_test_{_worker()}_{os.getpid()}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as e:  # pragma: no cover - depends on the machine
        if ON_CI:
            pytest.fail(f"PostgreSQL is required on CI but unreachable at {PG_ADMIN_URL}: {e}")
        pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {e}")
    url = f"{_pg_base_url()}/{name}"
    db = store_db.open_database(url)
    db.close()
    yield url
    store_db.close_database()
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:
        pass


def _truncate_pg(db: peewee.Database) -> None:
    tables = ", ".join(f'"{t}"' for t in db.get_tables())
    db.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    db.execute_sql("INSERT INTO schema_version (version, applied_at) VALUES (%s, now())", (schema.CURRENT,))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    """The URL of an empty, migrated database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'segmenta.db'}"
    else:
        url = request.getfixturevalue("pg_url")
        db = store_db.open_database(url, migrate=False)
        _truncate_pg(db)
        db.close()
    yield url
    store_db.close_database()


@pytest.fixture
def db(db_url):
    """The proxy bound to an empty database on each backend."""
    database = store_db.open_database(db_url)
    yield database
    store_db.close_database()


@pytest.fixture
def sqlite_db(tmp_path):
    database = store_db.open_database(f"sqlite:///{tmp_path / 'segmenta.db'}")
    yield database
    store_db.close_database()


def backend_of(database) -> str:
    return "sqlite" if isinstance(database, peewee.SqliteDatabase) else "postgres"


