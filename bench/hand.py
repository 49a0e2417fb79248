"""The same work done by hand: SQL typed into the sqlite3 shell (or psql),
on a plain schema with the email index, on the same CSV files."""
from __future__ import annotations

CONDITION = ("gender = female and region in (Kyiv, Lviv, Warsaw) and status = active "
             "and orders.total > 300")

SQLITE_SCHEMA = """
PRAGMA journal_mode=wal;
CREATE TABLE contact (email TEXT, phone TEXT, first_name TEXT, last_name TEXT, gender TEXT,
  birth_date TEXT, country TEXT, region TEXT, city TEXT, language TEXT, status TEXT,
  created_at TEXT, interests TEXT, tier TEXT);
CREATE UNIQUE INDEX contact_email ON contact(email);
CREATE TABLE orders (order_id TEXT, email TEXT, total NUMERIC, currency TEXT, created_at TEXT);
CREATE UNIQUE INDEX orders_id ON orders(order_id);
"""

MATCH = """SELECT c.rowid AS id FROM contact c
  JOIN (SELECT email, SUM(total) AS total FROM orders GROUP BY email) o ON o.email = c.email
  WHERE lower(c.gender) = 'female' AND lower(c.region) IN ('kyiv', 'lviv', 'warsaw')
    AND lower(c.status) = 'active' AND o.total > 300"""

BIG = "SELECT rowid AS id FROM contact WHERE lower(status) = 'active'"


def sqlite_steps(contacts: str, orders: str, out_csv: str) -> list[tuple[str, str]]:
    """(step, SQL for the sqlite3 shell) in the order of the benchmark."""
    return [
        ("import", SQLITE_SCHEMA + f".import --csv --skip 1 {contacts} contact\n"
                                   f".import --csv --skip 1 {orders} orders\n"),
        ("first refresh", f"CREATE TABLE members AS {MATCH};"),
        ("refresh again", f"CREATE TEMP TABLE fresh AS {MATCH};\n"
                          "SELECT count(*) FROM (SELECT id FROM fresh EXCEPT SELECT id FROM members);\n"
                          "SELECT count(*) FROM (SELECT id FROM members EXCEPT SELECT id FROM fresh);"),
        ("preview count", f"SELECT count(*) FROM ({MATCH});"),
        ("export csv", f"CREATE TABLE big AS {BIG};\n.headers on\n.mode csv\n.once {out_csv}\n"
                       "SELECT c.* FROM contact c JOIN big b ON b.id = c.rowid;"),
        ("split in 2", "CREATE TABLE part_a AS SELECT id FROM big ORDER BY random() LIMIT "
                       "(SELECT count(*) / 2 FROM big);\n"
                       "CREATE TABLE part_b AS SELECT id FROM big EXCEPT SELECT id FROM part_a;"),
    ]
