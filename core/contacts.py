"""Contacts and their orders as rows come in: read a row the way operations.md
says, then upsert whole batches of rows in set-based SQL.

The import of CSV files (core.imports) and the demo data (core.demo) both go
through `ContactColumns.normalise` / `OrderColumns.normalise` and `upsert_*`,
so that a value means the same thing whichever way it arrives.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Iterable, Sequence

import peewee as pw
from peewee import EXCLUDED

from .errors import BadInput, NotFound
from .store import backend, database
from .store.models import CHOICES, TEXT_FIELDS, Contact, CustomValue, Interest, Order, utcnow
from .text import clean, norm

# The columns of a contacts file that are contact fields; any other is custom.
CONTACT_FIELDS = (
    "email", "phone", "first_name", "last_name", "gender", "birth_date", "country",
    "region", "city", "language", "status", "created_at", "interests",
)
CUSTOM_PREFIX = "custom."
ORDER_COLUMNS = ("order_id", "email", "total", "currency", "created_at")
ORDER_REQUIRED = ("order_id", "email", "total", "created_at")
# Choices are read without case; gender also takes its initial (operations.md).
CHOICE_WORDS = {
    "gender": {"female": "female", "f": "female", "male": "male", "m": "male", "other": "other"},
    "status": {s: s for s in CHOICES["status"]},
}
YESNO = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}

_EMAIL = re.compile(r"^[^@\s]+@(?:[^@\s.]+\.)+[^@\s.]+$")
_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$"
)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_MONEY = re.compile(r"^[+-]?(?:\d+(?:\.(\d*))?|\.(\d+))$")
_INTEREST_SEP = re.compile(r"[;|]")
MAX_CENTS = 10**15  # a bigger total is a typo, and would overflow aggregates


class BadValue(ValueError):
    """A value that makes its row bad; the message is the reason."""


# ---- values ----------------------------------------------------------------

def parse_email(raw) -> tuple[str, str]:
    """(email as given, trimmed; its comparison key)."""
    email = clean(raw)
    if email is None:
        raise BadValue("no email")
    if len(email) > 254 or not _EMAIL.match(email):
        raise BadValue(f'"{email}" is not a valid email address')
    return email, norm(email)


def parse_date(raw, column: str) -> dt.date | None:
    """YYYY-MM-DD; a time part is accepted and dropped."""
    text = clean(raw)
    if text is None:
        return None
    m = _DATE.match(text)
    if not m:
        raise BadValue(f'{column} "{text}" is not a date; write it as YYYY-MM-DD')
    try:
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise BadValue(f'{column} "{text}" is not a real date') from None


def parse_choice(raw, column: str) -> str | None:
    text = clean(raw)
    if text is None:
        return None
    words = CHOICE_WORDS[column]
    value = words.get(text.casefold())
    if value is None:
        allowed = ", ".join(CHOICES[column])
        raise BadValue(f'{column} "{text}" is not one of {allowed}')
    return value


def parse_number(raw, column: str) -> float | None:
    text = clean(raw)
    if text is None:
        return None
    if not _NUMBER.match(text) or float(text) in (float("inf"), float("-inf")):
        raise BadValue(f'{column} "{text}" is not a number')
    return float(text)


def parse_yesno(raw, column: str) -> bool | None:
    text = clean(raw)
    if text is None:
        return None
    value = YESNO.get(text.casefold())
    if value is None:
        raise BadValue(f'{column} "{text}" is not yes or no')
    return value


def parse_money(raw, column: str = "total") -> int:
    """Cents, exactly: "12.5" → 1250. More than two decimals is refused, not rounded."""
    text = clean(raw)
    if text is None:
        raise BadValue(f"no {column}")
    m = _MONEY.match(text)
    if not m:
        raise BadValue(f'{column} "{text}" is not a number')
    if len(m.group(1) or m.group(2) or "") > 2:
        raise BadValue(f'{column} "{text}" has more than 2 decimals')
    cents = int(Decimal(text) * 100)
    if abs(cents) >= MAX_CENTS:
        raise BadValue(f'{column} "{text}" is too large')
    return cents


def split_interests(raw) -> list[tuple[str, str]]:
    """[(value, display)] from "Sport; kids|travel", each word once."""
    out: dict[str, str] = {}
    for part in _INTEREST_SEP.split(raw or ""):
        display = clean(part)
        if display is not None:
            out.setdefault(norm(display), display)
    return list(out.items())


def money(cents: int | None) -> str | None:
    """29970 → "299.70"."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{part:02d}"


# ---- a contacts file's columns -------------------------------------------------

def _header_names(header: Sequence[str]) -> list[str | None]:
    return [norm(h) for h in header]


@dataclass
class ContactRow:
    email_norm: str
    values: dict  # the contact's columns given by the file
    interests: list[tuple[str, str]] | None  # None: no interests column
    custom: dict  # key → CustomValue columns, or None to clear


class ContactColumns:
    """What each column of a contacts file is: a contact field or a custom field."""

    def __init__(self, header: Sequence[str], custom_types: dict[str, str] | None = None):
        custom_types = custom_types or {}
        self.width = len(header)
        self.fields: list[tuple[int, str]] = []
        self.custom: list[tuple[int, str, str]] = []  # (index, key, kind)
        seen: dict[str, int] = {}
        for i, name in enumerate(_header_names(header)):
            if name is None:  # an unnamed column (a trailing delimiter): nothing to keep
                continue
            if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
                key = name[len(CUSTOM_PREFIX):]
                slot = "custom." + key
            elif name in CONTACT_FIELDS:
                key, slot = None, name
            else:
                key, slot = name, "custom." + name
            if slot in seen:
                raise BadInput(
                    f'the header names "{slot}" twice (columns {seen[slot] + 1} and {i + 1}); keep one'
                )
            seen[slot] = i
            if key is None:
                self.fields.append((i, name))
            else:
                self.custom.append((i, key, custom_types.get(key, "text")))
        self.names = {f for _, f in self.fields}
        if "email" not in self.names:
            found = ", ".join(h.strip() for h in header if h and h.strip()) or "nothing"
            raise BadInput(f"the file has no email column (its header has: {found}); "
                           "a contacts file needs a header row with an email column")
        self.custom_keys = [k for _, k, _ in self.custom]

    def normalise(self, values: Sequence[str]) -> ContactRow:
        """One row as the store keeps it; raises BadValue with the reason."""
        _check_width(values, self.width)
        out: dict = {}
        interests = None
        for i, field in self.fields:
            raw = values[i]
            if field in TEXT_FIELDS:
                if field == "email":
                    out["email"], out["email_norm"] = parse_email(raw)
                else:
                    value = clean(raw)
                    out[field] = value
                    out[field + "_norm"] = norm(value)
            elif field == "gender":
                out["gender"] = parse_choice(raw, "gender")
            elif field == "status":
                # Empty: "active" for a new contact, but an existing one keeps its
                # status — a blank cell must never re-activate an unsubscribed person.
                out["status"] = parse_choice(raw, "status")
            elif field == "birth_date":
                born = parse_date(raw, "birth_date")
                out["birth_date"] = born
                out["birth_md"] = born.month * 100 + born.day if born else None
            elif field == "created_at":
                out["created_at"] = parse_date(raw, "created_at")
            elif field == "interests":
                interests = split_interests(raw)
                out["interests"] = ";".join(d for _, d in interests) or None
        custom = {}
        for i, key, kind in self.custom:
            custom[key] = _custom_value(values[i], key, kind)
        return ContactRow(out["email_norm"], out, interests, custom)


def _check_width(values: Sequence[str], width: int) -> None:
    """A row has a value for each column; empty values past the last column are harmless."""
    if len(values) < width or (len(values) > width and any(v.strip() for v in values[width:])):
        raise BadValue(f"has {len(values)} values but the header has {width} columns")


def _custom_value(raw, key: str, kind: str) -> dict | None:
    text = clean(raw)
    if text is None:
        return None
    column = CUSTOM_PREFIX + key
    row = {"text": text, "norm": None, "number": None, "date": None, "yesno": None}
    if kind == "number":
        row["number"] = parse_number(text, column)
    elif kind == "date":
        row["date"] = parse_date(text, column)
    elif kind == "yesno":
        row["yesno"] = parse_yesno(text, column)
    else:
        row["norm"] = norm(text)
    return row


# ---- an orders file's columns ----------------------------------------------------

@dataclass
class OrderRow:
    order_id: str
    email_norm: str
    total: int  # cents
    currency: str | None
    created_at: dt.date


class OrderColumns:
    def __init__(self, header: Sequence[str]):
        self.width = len(header)
        self.index: dict[str, int] = {}
        self.ignored: list[str] = []
        for i, name in enumerate(_header_names(header)):
            if name in ORDER_COLUMNS:
                if name in self.index:
                    raise BadInput(f'the header names "{name}" twice; keep one')
                self.index[name] = i
            elif name is not None:
                self.ignored.append(header[i].strip())
        missing = [c for c in ORDER_REQUIRED if c not in self.index]
        if missing:
            raise BadInput(
                f"the orders file has no {', '.join(missing)} column; "
                f"an orders file has the columns {', '.join(ORDER_COLUMNS)}"
            )

    def normalise(self, values: Sequence[str]) -> OrderRow:
        _check_width(values, self.width)

        def get(name):
            i = self.index.get(name)
            return values[i] if i is not None else ""

        order_id = clean(get("order_id"))
        if order_id is None:
            raise BadValue("no order_id")
        _, email_norm = parse_email(get("email"))
        created = parse_date(get("created_at"), "created_at")
        if created is None:
            raise BadValue("no created_at (the order's date)")
        return OrderRow(order_id, email_norm, parse_money(get("total")), clean(get("currency")), created)


# ---- set-based writes ------------------------------------------------------------

CHUNK = 500  # rows per statement: well under both backends' parameter limits


class BulkStatement:
    """A statement rendered once per number of rows, then run with fresh parameters.

    Peewee takes ~75 µs a row to render a multi-row INSERT, and psycopg as long
    again to re-parse its placeholders; at a million contacts that would be
    most of an import. BUILD(n) gives the peewee query for n rows whose
    parameters are exactly the rows' values, in order.
    """

    def __init__(self, build: Callable[[int], pw.Query]):
        self.build = build
        self._sql: dict[tuple[str, int], str] = {}

    def _render(self, n: int, width: int) -> str:
        sql, params = self.build(n).sql()
        assert len(params) == n * width, "the query has parameters of its own; make them SQL literals"
        if _raw_cursor() is not None:
            count = iter(range(1, len(params) + 1))
            sql = re.sub(r"%s", lambda _: f"${next(count)}", sql)
        return sql

    def run(self, rows: Sequence[tuple]) -> list[tuple]:
        """Run over ROWS, CHUNK at a time; the rows it returns, if any."""
        kind, out = backend(), []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            key = (kind, len(chunk))
            sql = self._sql.get(key) or self._sql.setdefault(key, self._render(len(chunk), len(chunk[0])))
            params = [v for r in chunk for v in r]
            raw = _raw_cursor()
            if raw is not None:
                # $n placeholders, passed as they are: no client-side parsing.
                with raw(database.connection()) as cur:
                    cur.execute(sql, params)
                    if cur.description:
                        out.extend(cur.fetchall())
            else:
                cur = database.execute_sql(sql, params)
                if cur.description:
                    out.extend(cur.fetchall())
        return out


def _raw_cursor():
    """psycopg's RawCursor (3.2+) on PostgreSQL; None elsewhere."""
    if backend() != "postgres":
        return None
    import psycopg

    return getattr(psycopg, "RawCursor", None)


def insert(model, fields, conflict=None, *, preserve=(), update=None) -> BulkStatement:
    """INSERT of FIELDS (every column: peewee must add no defaults), upserting on CONFLICT."""
    def build(n):
        q = model.insert_many([(None,) * len(fields)] * n, fields=fields)
        if conflict:
            q = q.on_conflict(conflict_target=conflict, preserve=preserve, update=update)
        return q.returning()  # no RETURNING id on PostgreSQL: nothing reads it

    return BulkStatement(build)


def _distinct(a, b):
    """A null-safe "differs" test on either backend."""
    return pw.Expression(a, "IS NOT" if backend() == "sqlite" else "IS DISTINCT FROM", b)


def _chunks(items: Sequence, size: int = 1000):
    for i in range(0, len(items), size):
        yield items[i:i + size]


_IDS_BY_EMAIL = BulkStatement(lambda n: Contact.select(Contact.email_norm, Contact.id).where(Contact.email_norm.in_([""] * n)))


def ids_by_email(keys: Iterable[str]) -> dict[str, int]:
    """{email_norm: contact id} for the keys that exist."""
    return dict(_IDS_BY_EMAIL.run([(k,) for k in keys]))


# Every column of a new contact, in one order, so that every INSERT has the same shape.
_INSERT_FIELDS = [
    "email", "email_norm",
    *[c for f in TEXT_FIELDS[1:] for c in (f, f + "_norm")],
    "gender", "status", "birth_date", "birth_md", "created_at", "interests",
    "orders_count", "orders_total", "updated_at",
]
# The stored columns of each column of a file.
_STORED_AS = {f: (f, f + "_norm") for f in TEXT_FIELDS} | {
    "gender": ("gender",), "status": ("status",), "birth_date": ("birth_date", "birth_md"),
    "created_at": ("created_at",), "interests": ("interests",),
}
_NEW_CONTACT = {f: None for f in _INSERT_FIELDS} | {"status": "active", "orders_count": 0, "orders_total": 0}


@functools.lru_cache(maxsize=None)
def _contact_upsert(given: frozenset[str]) -> BulkStatement:
    """The upsert that overwrites exactly the GIVEN columns of an existing contact.

    `updated_at` moves only when a value really changes, so that importing the
    same file twice leaves the same database.
    """
    cols = [getattr(Contact, f) for f in _INSERT_FIELDS if f in given]

    def update():
        changed = functools.reduce(lambda a, b: a | b, [_distinct(c, getattr(EXCLUDED, c.name)) for c in cols])
        return {Contact.updated_at: pw.Case(None, [(changed, EXCLUDED.updated_at)], Contact.updated_at)}

    fields = [getattr(Contact, f) for f in _INSERT_FIELDS]
    # the update is built when rendered, for the backend bound then
    return BulkStatement(lambda n: insert(Contact, fields, [Contact.email_norm], preserve=cols, update=update()).build(n))


@dataclass
class Upserted:
    ids: dict[str, int]  # email_norm → contact id, for every row written
    created: int
    updated: int


def upsert_contacts(rows: Sequence[ContactRow], columns: ContactColumns, today: dt.date) -> Upserted:
    """Create or update ROWS (one batch) by email, with their interests and custom fields.

    A column the file does not have leaves that field alone; a column it has
    but left empty clears it. Rows repeating an email: the last one wins.
    Call inside a transaction.
    """
    last: dict[str, ContactRow] = {}
    for row in rows:
        last[row.email_norm] = row
    existing = ids_by_email(last)
    created = sum(1 for k in last if k not in existing)
    now = utcnow()
    given = frozenset(c for name in columns.names for c in _STORED_AS[name])
    # A created_at left empty keeps the stored day; a new contact gets today.
    groups: dict[frozenset, list[tuple]] = {}
    for row in last.values():
        values = _NEW_CONTACT | row.values
        values["updated_at"] = now
        cols = given
        if values["created_at"] is None:
            values["created_at"] = today
            cols = cols - {"created_at"}
        if values["status"] is None:
            values["status"] = "active"
            cols = cols - {"status"}
        groups.setdefault(cols, []).append(tuple(values[f] for f in _INSERT_FIELDS))
    for cols, tuples in groups.items():
        _contact_upsert(cols).run(tuples)
    ids = existing | ids_by_email(k for k in last if k not in existing)
    old = list(existing.values())  # only they can have interests and custom values to replace
    _write_interests(last.values(), columns, ids, old)
    _write_custom(last.values(), columns, ids, old)
    return Upserted(ids, created, len(rows) - created)


_INSERT_INTEREST = insert(Interest, [Interest.contact, Interest.value, Interest.display])
_CUSTOM_FIELDS = ("text", "norm", "number", "date", "yesno")
_INSERT_CUSTOM = insert(CustomValue, [CustomValue.contact, CustomValue.key,
                                      *(getattr(CustomValue, f) for f in _CUSTOM_FIELDS)])


def _write_interests(rows: Iterable[ContactRow], columns: ContactColumns, ids: dict[str, int], old: list[int]) -> None:
    if "interests" not in columns.names:
        return
    for chunk in _chunks(old):
        Interest.delete().where(Interest.contact.in_(chunk)).execute()
    _INSERT_INTEREST.run([(ids[r.email_norm], value, display) for r in rows for value, display in r.interests])


def _write_custom(rows: Iterable[ContactRow], columns: ContactColumns, ids: dict[str, int], old: list[int]) -> None:
    if not columns.custom:
        return
    for chunk in _chunks(old):
        CustomValue.delete().where(
            CustomValue.contact.in_(chunk) & CustomValue.key.in_(columns.custom_keys)
        ).execute()
    _INSERT_CUSTOM.run([
        (ids[r.email_norm], key, *(value[f] for f in _CUSTOM_FIELDS))
        for r in rows for key, value in r.custom.items() if value is not None
    ])


# ---- orders --------------------------------------------------------------------------

_ORDER_FIELDS = [Order.order_id, Order.contact, Order.total, Order.currency, Order.created_at]
_UPSERT_ORDER = insert(Order, _ORDER_FIELDS, [Order.order_id], preserve=_ORDER_FIELDS[1:])
_ORDERS_BY_ID = BulkStatement(lambda n: Order.select(Order.order_id, Order.contact).where(Order.order_id.in_([""] * n)))


def upsert_orders(orders: Sequence[tuple[str, int, int, str | None, dt.date]]) -> tuple[int, set[int]]:
    """Create or update orders (order_id, contact id, cents, currency, date) by order_id.

    Returns (how many were new, the contacts whose orders changed: the
    order's contact now and, for an order that moved, before). Call inside a
    transaction, then `recompute_order_totals` for those contacts.
    """
    last = {o[0]: o for o in orders}
    before = dict(_ORDERS_BY_ID.run([(k,) for k in last]))
    _UPSERT_ORDER.run(list(last.values()))
    touched = {o[1] for o in last.values()} | set(before.values())
    return sum(1 for k in last if k not in before), touched


def _recompute(n: int) -> pw.Query:
    o = Order.alias()

    def agg(expr):
        return o.select(expr).where(o.contact == Contact.id)

    return Contact.update(
        orders_count=agg(pw.fn.COUNT(o.id)),
        orders_total=agg(pw.fn.COALESCE(pw.fn.SUM(o.total), pw.SQL("0"))),
        orders_max=agg(pw.fn.MAX(o.total)),
        orders_first_date=agg(pw.fn.MIN(o.created_at)),
        orders_last_date=agg(pw.fn.MAX(o.created_at)),
    ).where(Contact.id.in_([0] * n))


_RECOMPUTE = BulkStatement(_recompute)


def recompute_order_totals(contact_ids: Iterable[int]) -> None:
    """Set the order aggregates of exactly these contacts from their orders, in SQL."""
    _RECOMPUTE.run([(i,) for i in sorted(set(contact_ids))])


# ---- one contact ---------------------------------------------------------------------

def find(email: str) -> Contact:
    """The contact with EMAIL, compared without case."""
    key = norm(email)
    contact = Contact.get_or_none(Contact.email_norm == key) if key else None
    if contact is None:
        raise NotFound(
            f'no contact has the email "{(email or "").strip()}"; check the spelling, '
            "or add it with `segmenta import contacts FILE`"
        )
    return contact


def custom_value(row: CustomValue, kind: str):
    if kind == "number" and row.number is not None:
        return int(row.number) if row.number.is_integer() else row.number
    if kind == "date" and row.date is not None:
        return row.date.isoformat() if hasattr(row.date, "isoformat") else str(row.date)
    if kind == "yesno" and row.yesno is not None:
        return "yes" if row.yesno else "no"
    return row.text


def describe(contact: Contact, custom_types: dict[str, str] | None = None, orders_shown: int = 100) -> dict:
    """Everything about one contact: fields, custom fields, interests, orders, segments."""
    from .store.models import Membership, Segment

    custom_types = custom_types or {}

    def day(value):
        return value.isoformat() if hasattr(value, "isoformat") else value

    fields = {f: getattr(contact, f) for f in TEXT_FIELDS}
    fields.update(
        gender=contact.gender,
        birth_date=day(contact.birth_date),
        status=contact.status,
        created_at=day(contact.created_at),
    )
    custom = {
        r.key: custom_value(r, custom_types.get(r.key, "text"))
        for r in CustomValue.select().where(CustomValue.contact == contact).order_by(CustomValue.key)
    }
    # the displays in the order they were given
    interests = contact.interests.split(";") if contact.interests else []
    orders = [
        {"order_id": o.order_id, "total": money(o.total), "currency": o.currency, "date": day(o.created_at)}
        for o in Order.select().where(Order.contact == contact)
        .order_by(Order.created_at.desc(), Order.order_id).limit(orders_shown)
    ]
    segments = [
        {"id": s.id, "name": s.name, "kind": s.kind}
        for s in Segment.select(Segment.id, Segment.name, Segment.kind)
        .join(Membership, on=(Membership.segment == Segment.id))
        .where(Membership.contact == contact).order_by(Segment.name_norm)
    ]
    count = contact.orders_count or 0
    return {
        "id": contact.id,
        **fields,
        "custom": custom,
        "interests": interests,
        "orders_summary": {
            "count": count,
            "total": money(contact.orders_total or 0),
            "avg": money(round((contact.orders_total or 0) / count)) if count else None,
            "max": money(contact.orders_max),
            "first_date": day(contact.orders_first_date),
            "last_date": day(contact.orders_last_date),
        },
        "orders": orders,
        "segments": segments,
    }


def create_minimal(emails: Sequence[str], actor, cfg=None) -> dict[str, int]:
    """Create contacts that have only an email (`add --create`); returns {email_norm: id}.

    A bad email is refused before anything is written. New contacts join the
    dynamic segments they match at once.
    """
    from . import audit, clock, config as config_mod
    from .membership import contacts_changed
    from .store import write

    cfg = cfg or config_mod.current()
    columns = ContactColumns(["email"], cfg.custom_fields)
    rows = []
    for email in emails:
        try:
            rows.append(columns.normalise([email]))
        except BadValue as e:
            raise BadInput(f'"{email}" cannot be created: {e}') from None
    with write():
        done = upsert_contacts(rows, columns, clock.today(cfg.tz))
        contacts_changed(list(done.ids.values()), actor, reason="add")
        audit.record(actor, "create contacts", created=done.created)
    return done.ids
