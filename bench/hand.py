"""The same work done by hand: SQL typed into the sqlite3 shell or psql, on a
plain table per file with the email index (and the order id's), on the same
CSV files. Conditions are evaluated as written, orders summed at query time.
"""
from __future__ import annotations

from .generate import CONTACT_COLUMNS, ORDER_COLUMNS

CONDITION = ("gender = female and region in (Kyiv, Lviv, Warsaw) and status = active "
             "and orders.total > 300")
BIG_CONDITION = "status = active"

_CONTACT_COLS = ", ".join(f"{c} TEXT" for c in CONTACT_COLUMNS)
_ORDER_COLS = "order_id TEXT, email TEXT, total NUMERIC, currency TEXT, created_at TEXT"

SQLITE_SCHEMA = f"""
PRAGMA journal_mode=wal;
CREATE TABLE contact ({_CONTACT_COLS});
CREATE UNIQUE INDEX contact_email ON contact(email);
CREATE TABLE orders ({_ORDER_COLS});
CREATE UNIQUE INDEX orders_id ON orders(order_id);
"""

# PostgreSQL has no rowid: an id column stands in for it (no index, as SQLite's
# rowid lookups are the table itself).
POSTGRES_SCHEMA = f"""
CREATE TABLE contact (id BIGSERIAL, {_CONTACT_COLS});
CREATE UNIQUE INDEX contact_email ON contact(email);
CREATE TABLE orders ({_ORDER_COLS});
CREATE UNIQUE INDEX orders_id ON orders(order_id);
"""


def _match(id_column: str) -> str:
    return f"""SELECT c.{id_column} AS id FROM contact c
  JOIN (SELECT email, SUM(total) AS total FROM orders GROUP BY email) o ON o.email = c.email
  WHERE lower(c.gender) = 'female' AND lower(c.region) IN ('kyiv', 'lviv', 'warsaw')
    AND lower(c.status) = 'active' AND o.total > 300"""


def _common(match: str, big: str) -> list[tuple[str, str]]:
    return [
        ("first refresh", f"CREATE TABLE members AS {match};"),
        ("refresh again", f"CREATE TEMP TABLE fresh AS {match};\n"
                          "SELECT count(*) FROM (SELECT id FROM fresh EXCEPT SELECT id FROM members) x;\n"
                          "SELECT count(*) FROM (SELECT id FROM members EXCEPT SELECT id FROM fresh) x;"),
        ("preview count", f"SELECT count(*) FROM ({match}) x;"),
        ("make big", f"CREATE TABLE big AS {big};"),
    ]


_SPLIT = ("split in 2", "CREATE TABLE part_a AS SELECT id FROM big ORDER BY random() LIMIT "
                        "(SELECT count(*) / 2 FROM big);\n"
                        "CREATE TABLE part_b AS SELECT id FROM big EXCEPT SELECT id FROM part_a;")


def sqlite_steps(contacts: str, orders: str, out_csv: str) -> list[tuple[str, str]]:
    """(step, SQL for the sqlite3 shell) in the order of the benchmark."""
    big = "SELECT rowid AS id FROM contact WHERE lower(status) = 'active'"
    return [
        ("import", SQLITE_SCHEMA + f".import --csv --skip 1 {contacts} contact\n"
                                   f".import --csv --skip 1 {orders} orders\n"),
        *_common(_match("rowid"), big),
        ("export csv", f".headers on\n.mode csv\n.once {out_csv}\n"
                       "SELECT c.* FROM contact c JOIN big b ON b.id = c.rowid;"),
        _SPLIT,
    ]


# PostgreSQL guesses that lower(…) = … keeps one contact in a million and joins
# the summed orders by nested loop, recomputing the sums for every contact
# (13 minutes and counting): a person at psql would see that and turn it off.
_NO_NESTED_LOOPS = "SET enable_nestloop = off;\n"


def postgres_steps(contacts: str, orders: str, out_csv: str) -> list[tuple[str, str]]:
    """(step, SQL for psql) in the order of the benchmark; files go through \\copy."""
    big = "SELECT id FROM contact WHERE lower(status) = 'active'"
    cols = ", ".join(CONTACT_COLUMNS)
    return [
        ("import", POSTGRES_SCHEMA
         + f"\\copy contact ({cols}) FROM '{contacts}' WITH (FORMAT csv, HEADER true)\n"
         + f"\\copy orders ({', '.join(ORDER_COLUMNS)}) FROM '{orders}' WITH (FORMAT csv, HEADER true)\n"
         + "ANALYZE contact; ANALYZE orders;\n"),
        *[(step, _NO_NESTED_LOOPS + sql) for step, sql in _common(_match("id"), big)],
        ("export csv", f"\\copy (SELECT {', '.join('c.' + c for c in CONTACT_COLUMNS)} FROM contact c "
                       f"JOIN big b ON b.id = c.id) TO '{out_csv}' WITH (FORMAT csv, HEADER true)\n"),
        _SPLIT,
    ]
