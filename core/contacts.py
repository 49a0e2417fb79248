"""Contacts and their orders as rows come in: read a row the way operations.md
says, then upsert whole batches of rows in set-based SQL.

The import of CSV files (core.imports) and the demo data (core.demo) both go
through `ContactColumns.normalise` / `OrderColumns.normalise` and
`upsert_contacts` / `upsert_orders`, so that a value means the same thing
whichever way it arrives.

A million rows is the everyday case (docs/scaling.md), so each column's
reading is chosen once per file, a value that repeats (a region, a city, a
date, a choice, a set of interests, a total) is read once and remembered,
and a batch goes into a temporary table in one round (core.bulk), from which
it is upserted, looked up and joined in SQL. Python touches each row once.
"""
from __future__ import annotations

import datetime as dt
import json
import pickle
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache, partial
from operator import itemgetter
from typing import Callable, Sequence

from .bulk import Staging, analyze_scratch, copy_rows, copy_text, lookup_ids, staged_on_demand, unique_violations
from .errors import BadInput, NotFound
from .store import backend, database
from .store.models import CHOICES, TEXT_FIELDS, Contact, CustomValue, Order
from .store.models import utcnow
from .text import norm

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
MEMO_MAX = 50_000  # remembered readings per column; forgotten all at once when full


class BadValue(ValueError):
    """A value that makes its row bad; the message is the reason."""


# ---- values ----------------------------------------------------------------

def _fold(text: str) -> str:
    """core.text.norm of a trimmed, non-empty text. ASCII (most values) needs
    no Unicode tables: its NFC is itself and its case-fold is lower()."""
    return text.lower() if text.isascii() else unicodedata.normalize("NFC", text).casefold()


def _text(raw) -> str | None:
    text = (raw if isinstance(raw, str) else "" if raw is None else str(raw)).strip()
    return text or None


def parse_email(raw) -> tuple[str, str]:
    """(email as given, trimmed; its comparison key)."""
    email = _text(raw)
    if email is None:
        raise BadValue("no email")
    if len(email) > 254 or not _EMAIL.match(email):
        raise BadValue(f'"{email}" is not a valid email address')
    return email, _fold(email)


def parse_date(raw, column: str) -> dt.date | None:
    """YYYY-MM-DD; a time part is accepted and dropped."""
    text = _text(raw)
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
    text = _text(raw)
    if text is None:
        return None
    value = CHOICE_WORDS[column].get(text.casefold())
    if value is None:
        allowed = ", ".join(CHOICES[column])
        raise BadValue(f'{column} "{text}" is not one of {allowed}')
    return value


def parse_number(raw, column: str) -> float | None:
    text = _text(raw)
    if text is None:
        return None
    if not _NUMBER.match(text) or float(text) in (float("inf"), float("-inf")):
        raise BadValue(f'{column} "{text}" is not a number')
    return float(text)


def parse_yesno(raw, column: str) -> bool | None:
    text = _text(raw)
    if text is None:
        return None
    value = YESNO.get(text.casefold())
    if value is None:
        raise BadValue(f'{column} "{text}" is not yes or no')
    return value


def parse_money(raw, column: str = "total") -> int:
    """Cents, exactly: "12.5" → 1250. More than two decimals is refused, not rounded."""
    text = _text(raw)
    if text is None:
        raise BadValue(f"no {column}")
    m = _MONEY.match(text)
    if not m:
        raise BadValue(f'{column} "{text}" is not a number')
    decimals = m.group(1) or m.group(2) or ""
    if len(decimals) > 2:
        raise BadValue(f'{column} "{text}" has more than 2 decimals')
    whole = text.partition(".")[0]
    cents = int(whole.lstrip("+-") or "0") * 100 + int(decimals.ljust(2, "0"))
    if whole.startswith("-"):
        cents = -cents
    if abs(cents) >= MAX_CENTS:
        raise BadValue(f'{column} "{text}" is too large')
    return cents


def split_interests(raw) -> list[tuple[str, str]]:
    """[(value, display)] from "Sport; kids|travel", each word once."""
    out: dict[str, str] = {}
    for part in _INTEREST_SEP.split(raw or ""):
        display = part.strip()
        if display:
            out.setdefault(_fold(display), display)
    return list(out.items())


def money(cents: int | None) -> str | None:
    """29970 → "299.70"."""
    if cents is None:
        return None
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(int(cents)), 100)
    return f"{sign}{whole}.{part:02d}"


# ---- reading a column: raw text → the stored values, remembered when they repeat -----

class _Memo(dict):
    """raw text → what it reads as. A hit is one dict look-up; a bad value
    raises BadValue each time and is never kept."""

    __slots__ = ("read",)

    def __init__(self, read):
        super().__init__()
        self.read = read

    def __missing__(self, raw):
        value = self.read(raw)
        if len(self) >= MEMO_MAX:
            self.clear()
        self[raw] = value
        return value


def _read_text(raw) -> tuple:
    text = _text(raw)
    return (text, _fold(text)) if text else (None, None)


def _read_birth_date(raw) -> tuple:
    born = parse_date(raw, "birth_date")
    return (born.isoformat(), born.month * 100 + born.day) if born else (None, None)


def _read_created_at(raw) -> tuple:
    day = parse_date(raw, "created_at")
    return (day.isoformat() if day else None,)


def _read_interests(raw) -> tuple:
    """(the displays joined with ";" or None, {value: display} as JSON or None): the
    interest rows go in from the JSON in SQL, none of them one by one from Python."""
    pairs = split_interests(raw)
    if not pairs:
        return None, None
    return ";".join(d for _, d in pairs), json.dumps(dict(pairs), ensure_ascii=False)


# The stored columns of each field of a contacts file, and how to read it.
# Dates are stored as their ISO text, which is what SQLite keeps and what
# PostgreSQL reads into a date.
_FIELD_READERS = {
    "email": (("email", "email_norm"), lambda: parse_email),
    **{f: ((f, f + "_norm"), lambda: _read_text) for f in TEXT_FIELDS[1:]},
    "gender": (("gender",), lambda: _Memo(lambda raw: (parse_choice(raw, "gender"),)).__getitem__),
    "status": (("status",), lambda: _Memo(lambda raw: (parse_choice(raw, "status"),)).__getitem__),
    "birth_date": (("birth_date", "birth_md"), lambda: _Memo(_read_birth_date).__getitem__),
    "created_at": (("created_at",), lambda: _Memo(_read_created_at).__getitem__),
}
_UNIQUE_PER_ROW = {"email", "phone"}  # not worth remembering


def _header_names(header: Sequence[str]) -> list[str | None]:
    return [norm(h) for h in header]


# A contact row as read: a plain tuple (email_norm, values, custom), where VALUES is
# [line, contact id, new?, *the stored columns of ContactColumns.stored] (see
# upsert_contacts) and CUSTOM [(column, key, text, value)] of the custom values
# given (see _custom_value). Not a NamedTuple: the reader process pickles every
# row to the writer, and a NamedTuple's pickling calls back into Python per row
# (a million contacts: 5.5 s of the reader's time against 2.5 s).
ContactRow = tuple
EMAIL, VALUES, CUSTOM = 0, 1, 2


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
        # PostgreSQL: whether the file's contacts have been new so far (upsert_contacts
        # then writes a batch straight in, and looks first only once one was not)
        self.all_new = True
        # The reading, compiled once: (column index, reader) in the order of the
        # header, each reader giving the values of its stored columns.
        self.stored: list[str] = []
        self._plan = []
        self._interests = None
        for i, name in self.fields:
            if name == "interests":
                self._interests = (i, _Memo(_read_interests).__getitem__)
                continue
            columns, make = _FIELD_READERS[name]
            reader = make()
            if name in TEXT_FIELDS and name not in _UNIQUE_PER_ROW:
                reader = _Memo(reader).__getitem__
            self._plan.append((i, reader))
            self.stored += columns
        if self._interests:
            self.stored += ["interests", "interests_json"]
        self._key_at = 3 + self.stored.index("email_norm")
        # where a row's status and created_at are: left empty, each keeps the contact's
        # (see upsert_contacts), so a batch's rows of one email are combined, not replaced
        self.kept_when_empty = [3 + self.stored.index(c) for c in ("status", "created_at") if c in self.stored]
        self._custom_plan = [(i, _Memo(partial(_custom_value, key=key, kind=kind)).__getitem__)
                             for i, key, kind in self.custom]
        # A new contact as COPY takes it (PreparedContacts): the stored columns but the
        # interests' JSON, then status and created_at if the file has none (a new
        # contact is active, and created today); the writer puts id and updated_at first.
        self.new_columns = [c for c in self.stored if c != "interests_json"]  # the first ones; JSON is last
        self._new_end = 3 + len(self.new_columns)
        self._new_status = 3 + self.stored.index("status") if "status" in self.stored else None
        self._new_created = 3 + self.stored.index("created_at") if "created_at" in self.stored else None
        self.new_columns += [c for c in ("status", "created_at") if c not in self.stored]

    def prepare(self, rows: Sequence[ContactRow], today: dt.date) -> "PreparedContacts":
        return PreparedContacts(rows, self, today)

    def normalise(self, values: Sequence[str], line: int = 0) -> ContactRow:
        """One row as the store keeps it; raises BadValue with the reason.

        LINE identifies the row within its batch (rows with the same email:
        the one with the highest line wins).
        """
        if len(values) != self.width:
            _check_width(values, self.width)
        out = [line, None, None]  # then its key in the stage, its contact id, whether it is new
        for i, read in self._plan:
            out += read(values[i])
        if self._interests:
            i, read = self._interests
            out += read(values[i])
        custom = []
        for i, read in self._custom_plan:
            value = read(values[i])
            if value is not None:
                custom.append(value)
        return (out[self._key_at], out, custom)


def combine(rows: Sequence[ContactRow], columns: ContactColumns) -> dict[str, ContactRow]:
    """ROWS (a batch) by email, the last of each: as if they went in one after the
    other, the last one wins, and where its status or created_at is empty (which
    keeps the contact's), the last given before it in the batch stands. The same
    again for rows it combined already."""
    kept = columns.kept_when_empty
    if not kept:
        return {row[EMAIL]: row for row in rows}
    last: dict[str, ContactRow] = {}
    for row in rows:
        earlier = last.get(row[EMAIL])
        if earlier is not None:
            for i in kept:
                if row[VALUES][i] is None:
                    row[VALUES][i] = earlier[VALUES][i]
        last[row[EMAIL]] = row
    return last


class _Prepared:
    """What a prepared batch keeps of its rows: their number, and the rows themselves.

    From an import's reader process they come only if asked for: most batches go
    straight in and never read them, and for a million contacts they were 190 MB
    through the pipe. Sent without them (`_rows` None), the batch reads them
    through `_fetch`, which the writer sets (core.imports); sent with them, they
    travel as one blob, read only if need be.
    """

    number = 0  # the batch's number in its file, from 0
    _fetch = None

    def __len__(self) -> int:
        return self.count

    def rows(self) -> Sequence[tuple]:
        if self._rows is None:
            self._rows = self._fetch()
        elif isinstance(self._rows, bytes):
            self._rows = rows_from_blob(self._rows)
        return self._rows

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_fetch", None)
        if isinstance(state["_rows"], list):
            state["_rows"] = rows_blob(state["_rows"])
        return state


def rows_blob(rows: list) -> bytes:
    """Rows as bytes, for the writer to read back: a blob is written only when it
    is to be read, and pickle's writing and reading (14 + 17 ms a batch of 10,000
    contacts) cost less than marshal's (8 + 37 ms)."""
    return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)


rows_from_blob = pickle.loads


class PreparedContacts(_Prepared):
    """PostgreSQL: a batch of contact rows made ready to go straight in where it was
    read — an import's reader process, for a long file — so that its writer, on
    whose work the server waits, only puts the ids in and sends it.

    Combined by email (`combine`), each row's COPY text is written but for its id
    and updated_at (`contacts`), and so are its interests and custom values, each
    with the index of its contact (`interests`, `custom`). The rows themselves
    travel pickled, read again only if the batch cannot go straight in (a contact
    exists) and takes the staged way (`rows()`). Its length: the rows read.
    """

    def __init__(self, rows: Sequence[ContactRow], columns: ContactColumns, today: dt.date):
        last = combine(rows, columns)
        self.count = len(rows)
        self._rows = rows
        self.emails = list(last)
        self.columns = columns.new_columns
        today_text = today.isoformat()
        end = columns._new_end
        defaults = [(i - 3, value) for i, value in ((columns._new_status, "active"),
                                                   (columns._new_created, today_text)) if i is not None]
        tail = [v for c, v in (("status", "active"), ("created_at", today_text)) if c not in columns.stored]

        def new(v):
            out = v[3:end]
            for i, value in defaults:
                if out[i] is None:
                    out[i] = value
            return out + tail if tail else out

        self.contacts = copy_text(new(row[VALUES]) for row in last.values())
        # interests and custom values repeat: their lines are written once and remembered
        self.interests = []
        if columns._interests:
            for j, row in enumerate(last.values()):
                text = row[VALUES][end]
                if text is not None:
                    self.interests += [(j, line) for line in _interest_lines[text]]
        self.custom = [(j, _custom_lines[value]) for j, row in enumerate(last.values()) for value in row[CUSTOM]]


def _check_width(values: Sequence[str], width: int) -> None:
    """A row has a value for each column; empty values past the last column are harmless."""
    if len(values) < width or (len(values) > width and any(v.strip() for v in values[width:])):
        raise BadValue(f"has {len(values)} values but the header has {width} columns")


# The column of custom_value that holds a value of each kind (text: its norm).
_CUSTOM_COLUMN = {"text": "norm", "number": "number", "date": "date", "yesno": "yesno"}


def _custom_value(raw, key: str, kind: str) -> tuple | None:
    """(column, key, text, value): the value typed by KIND and the custom_value column
    that holds it; None for an empty value (which clears it)."""
    text = _text(raw)
    if text is None:
        return None
    column = CUSTOM_PREFIX + key
    if kind == "number":
        return "number", key, text, parse_number(text, column)
    if kind == "date":
        return "date", key, text, parse_date(text, column).isoformat()
    if kind == "yesno":
        return "yesno", key, text, parse_yesno(text, column)
    return "norm", key, text, _fold(text)


# ---- an orders file's columns ----------------------------------------------------

# An order as the store keeps it: a plain tuple, because the database driver
# binds a tuple's values fastest.
ORDER_ROW = ("line", "order_id", "email_norm", "total", "currency", "created_at")  # total in cents; YYYY-MM-DD
OrderRow = tuple


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
        self._id, self._email, self._total, self._created = (
            self.index[c] for c in ("order_id", "email", "total", "created_at"))
        self._currency = self.index.get("currency")
        self._dates = _Memo(lambda raw: (day := parse_date(raw, "created_at")) and day.isoformat())
        self._money = _Memo(parse_money)
        self._currencies = _Memo(_text)
        self._last_email = (None, None)  # the orders of one contact usually come together
        self.all_new = True  # PostgreSQL: the file's orders have all been new so far (OrdersBatch)
        self.totals_new = True  # PostgreSQL: and their contacts had no order totals before (_write_order_sums)

    def prepare(self, rows: Sequence[OrderRow], _=None) -> "PreparedOrders":
        return PreparedOrders(rows)

    def normalise(self, values: Sequence[str], line: int = 0) -> OrderRow:
        if len(values) != self.width:
            _check_width(values, self.width)
        order_id = values[self._id].strip()
        if not order_id:
            raise BadValue("no order_id")
        raw = values[self._email]
        if raw != self._last_email[0]:
            self._last_email = (raw, parse_email(raw)[1])
        created = self._dates[values[self._created]]
        if created is None:
            raise BadValue("no created_at (the order's date)")
        total = self._money[values[self._total]]
        currency = self._currencies[values[self._currency]] if self._currency is not None else None
        return line, order_id, self._last_email[1], total, currency, created


# ---- set-based writes ------------------------------------------------------------

# Every column of a new contact that a file can give, in one order.
_STAGED = [
    "email", "email_norm",
    *[c for f in TEXT_FIELDS[1:] for c in (f, f + "_norm")],
    "gender", "status", "birth_date", "birth_md", "created_at", "interests",
]
_PG_TYPES = {"birth_date": "DATE", "birth_md": "INTEGER", "created_at": "DATE"}
_CONTACTS = Staging(
    "import_contact",
    [("line", "BIGINT"), ("contact_id", "BIGINT"), ("fresh", "INTEGER"),
     *((c, _PG_TYPES.get(c, "TEXT")) for c in _STAGED), ("interests_json", "TEXT")],
    key="line", joined_on=("email_norm",),
)
_CUSTOM_FIELDS = ("key", "text", "norm", "number", "date", "yesno")
_CUSTOM = Staging("import_custom", [("line", "BIGINT"), ("key", "TEXT"), ("text", "TEXT"), ("norm", "TEXT"),
                                    ("number", "DOUBLE PRECISION"), ("date", "DATE"), ("yesno", "BOOLEAN")])
STAGED_CONTACT_IDS = "SELECT contact_id FROM import_contact"  # the contacts of the last upsert_contacts


def _staged_contacts() -> str:
    return STAGED_CONTACT_IDS


@dataclass
class Upserted:
    ids: dict[str, int]  # email_norm → contact id, for every row written (if asked for)
    created: int
    updated: int
    # SQL selecting the contacts written, until the next upsert_contacts: a function,
    # as a batch that went straight in stages their ids only when asked
    touched: Callable[[], str] = _staged_contacts


def upsert_contacts(rows: Sequence[ContactRow] | PreparedContacts, columns: ContactColumns, today: dt.date, *,
                    want_ids: bool = True) -> Upserted:
    """Create or update ROWS (one batch, or one prepared where it was read) by email,
    with their interests and custom fields.

    A column the file does not have leaves that field alone; a column it has
    but left empty clears it.
    Call inside a transaction. Afterwards the result's `touched()` gives the
    SQL that selects the contacts written, until the next call. Rows repeating an email are as if
    they went in one after the other, whatever the batches: the last one wins,
    and where its status or created_at is empty (which keeps the contact's),
    the last given before it in the batch stands.
    """
    db = database.obj
    kind = backend()
    if kind == "postgres":
        prepared = rows if isinstance(rows, PreparedContacts) else PreparedContacts(rows, columns, today)
        # a batch is tried as new while the file's have been, and looked up first after
        if columns.all_new or not _any_exists(db, prepared.emails):
            done = _copy_new_contacts(db, prepared, want_ids)
            columns.all_new = done is not None
            if done is not None:
                return done
        rows = prepared.rows()
    last = combine(rows, columns)
    stage = _CONTACTS.reset()
    # The rows' keys in the stage: 1, 2, 3 … in the order they go in. Each is taken
    # to be new, with the id it will get (SQLite: the largest id + its key;
    # PostgreSQL: the next values of the id's sequence, taken now):
    # _insert_new_contacts checks that, and looks the ids up if not.
    before = db.execute_sql("SELECT COALESCE(max(id), 0) FROM contact").fetchone()[0] if kind == "sqlite" else None
    ids = iter(range(before + 1, before + len(last) + 1)) if before is not None else _new_ids(db, len(last))
    for k, (row, new_id) in enumerate(zip(last.values(), ids), 1):
        values = row[VALUES]
        values[0], values[1], values[2] = k, new_id, 1
    _CONTACTS.load(["line", "contact_id", "fresh", *columns.stored], (r[VALUES] for r in last.values()))
    params = (today.isoformat(), utcnow())
    created = _insert_new_contacts(db, kind, len(last), params, before)
    if created < len(last):  # the others exist: the file's values replace theirs
        _forget_replaced(columns)
        for sql in _contact_upserts(frozenset(columns.stored), kind):
            db.execute_sql(sql, params)
    if columns._interests:
        each = "json_each(s.interests_json)" if kind == "sqlite" else "jsonb_each_text(s.interests_json::jsonb)"
        db.execute_sql(f"INSERT INTO interest (contact_id, value, display) SELECT s.contact_id, i.key, i.value "
                       f"FROM {stage} s, {each} i WHERE s.interests_json IS NOT NULL")
    if columns.custom:
        _CUSTOM.reset()
        # by kind, so that each row binds only the columns it fills (binding a NULL costs
        # more than binding a value)
        for kind in {_CUSTOM_COLUMN[k] for _, _, k in columns.custom}:
            _CUSTOM.load(("line", "key", "text", kind),
                         ((r[VALUES][0], key, text, value) for r in last.values()
                          for column, key, text, value in r[CUSTOM] if column == kind))
        names = ", ".join(_CUSTOM_FIELDS)
        db.execute_sql(f"INSERT INTO custom_value (contact_id, {names}) SELECT s.contact_id, "
                       + ", ".join(f"v.{f}" for f in _CUSTOM_FIELDS)
                       + f" FROM import_custom v JOIN {stage} s ON s.line = v.line")
    ids = dict(db.execute_sql(f"SELECT email_norm, contact_id FROM {stage}").fetchall()) if want_ids else {}
    return Upserted(ids, created, len(rows) - created)


def _any_exists(db, emails: list[str]) -> bool:
    """PostgreSQL: whether a contact has any of EMAILS (compared keys; one probe of the email index each)."""
    any_of, param = any_email(emails)
    return db.execute_sql(f"SELECT EXISTS (SELECT 1 FROM contact WHERE email_norm = {any_of})",
                          (param,)).fetchone()[0]


def any_email(emails: list[str]) -> tuple[str, object]:
    """PostgreSQL: `= ANY(…)` of EMAILS, and its parameter. One text of them a line
    each, split by the server: psycopg dumps a list as an array in Python, a
    tenth of an orders file's writing (2.2 s of 2.6M orders). An email has no
    line break (parse_email); a list with one goes as an array."""
    lines = "\n".join(emails)
    if lines.count("\n") != max(len(emails) - 1, 0):
        return "ANY(%s)", emails
    return "ANY(string_to_array(%s, E'\\n'))", lines


def _copy_new_contacts(db, prepared: PreparedContacts, want_ids: bool) -> Upserted | None:
    """PostgreSQL, a batch of contacts none of which exists (a first import, or the
    new part of a file): each row goes by COPY straight into its table, with the id
    taken for it from the sequence, its interests and custom values straight into
    theirs — no staging table, no INSERT … SELECT, no JSON read by the server. Their
    COPY text was written where the batch was read (PreparedContacts): here the ids
    and the time go in front of it. The stage gets the ids alone, and only when
    they are asked for (`Upserted.touched`).

    (SQLite stays with the stage: one prepared INSERT per row into the contacts
    and interests, the loop in C, took 30 s of a million contacts' import where
    the stage and INSERT … SELECT took 26.5 s.)

    What upsert_contacts returns; None when a contact with one of the emails exists
    after all (a batch after the file's first, or another import committed
    meanwhile): then nothing was written, and the batch goes the staged way, which
    upserts.
    """
    n = len(prepared.emails)
    ids = _new_ids(db, n)
    heads = [b"%d\t" % i for i in ids]
    now = b"%s\t" % str(utcnow()).encode()
    try:
        with db.atomic():  # a savepoint: a contact that exists after all undoes only this
            copy_rows("contact", ["id", "updated_at", *prepared.columns],
                      b"".join([head + now + line for head, line in zip(heads, prepared.contacts)]))
            if prepared.interests:
                copy_rows("interest", ["contact_id", "value", "display"],
                          b"".join([heads[j] + line for j, line in prepared.interests]))
            if prepared.custom:
                copy_rows("custom_value", ["contact_id", *_CUSTOM_FIELDS],
                          b"".join([heads[j] + line for j, line in prepared.custom]))
    except unique_violations():
        return None
    touched = staged_on_demand(_CONTACTS, ["line", "contact_id", "fresh"],
                               [(k, i, 1) for k, i in enumerate(ids, 1)], STAGED_CONTACT_IDS)
    return Upserted(dict(zip(prepared.emails, ids)) if want_ids else {}, n, prepared.count - n, touched)


def _custom_line(value: tuple) -> bytes:
    column, key, text, typed = value
    out = [key, text, None, None, None, None]
    out[_CUSTOM_FIELDS.index(column)] = typed
    return copy_text([out])[0]


# COPY lines of interests (by their JSON) and of custom values (by their reading), once each
_interest_lines = _Memo(lambda text: copy_text(json.loads(text).items()))
_custom_lines = _Memo(_custom_line)


def _insert_new_contacts(db, kind: str, n: int, params, before: int | None) -> int:
    """Insert the staged contacts whose email is new, in one statement that passes
    over the others; their stage rows get contact_id and fresh = 1, the others
    their contact_id. Returns how many were new.

    No email is looked up one by one when all are new (a first import):
    SQLite gives each row it inserts the largest id + 1, so the ids follow the
    order of insertion (checked, else looked up); on PostgreSQL each row goes
    in with the id staged for it (RETURNING the ids, and writing them into
    the stage, was a fifth of the insert), and when some did not, those are
    the rows whose email has a contact of another id.
    """
    stage = _CONTACTS.name
    p = db.param
    if kind != "sqlite":
        # each row goes in with the id staged for it, or not at all if its email is
        # taken: those rows take the id of the contact that has it
        insert = _contact_insert(kind, staged_ids=True) + " ON CONFLICT (email_norm) DO NOTHING"
        created = db.execute_sql(insert, params).rowcount
        if created < n:
            db.execute_sql(f"UPDATE {stage} s SET contact_id = c.id, fresh = NULL FROM contact c "
                           "WHERE c.email_norm = s.email_norm AND c.id <> s.contact_id")
        return created
    # OR IGNORE rather than ON CONFLICT DO NOTHING: the same here (every NOT NULL
    # column has a value), and a statement that cannot fail half-way needs no
    # statement journal — a copy of every page it changes.
    insert = _contact_insert(kind).replace("INSERT INTO", "INSERT OR IGNORE INTO") + " ORDER BY s.line"
    created = db.execute_sql(insert, params).rowcount
    if created == n:
        # The stage's rows are numbered 1 … n and went in in that order: the new ids
        # are before + 1 … before + n. If the first and the last are, all are.
        ends = db.execute_sql(f"SELECT count(*) FROM {stage} s JOIN contact c ON c.id = {p} + s.line "
                              f"AND c.email_norm = s.email_norm WHERE s.line IN (1, {p})", (before, n)).fetchone()[0]
        if ends == min(n, 2):
            return created
    lookup_ids(stage, "contact_id")
    db.execute_sql(f"UPDATE {stage} SET fresh = CASE WHEN contact_id > {p} THEN 1 END", (before,))
    return created


def _new_ids(db, n: int) -> list[int]:
    """PostgreSQL: N ids of new contacts, taken from the id's sequence (those
    left unused are gaps, as a rolled-back insert leaves)."""
    # the sequence by its name, a constant: looked up for each id, it cost 3 µs an id
    seq = db.execute_sql("SELECT pg_get_serial_sequence('contact', 'id')").fetchone()[0]
    return [i for (i,) in db.execute_sql("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", (seq, n))]


def _forget_replaced(columns: ContactColumns) -> None:
    """Interests and the file's custom fields of the contacts that exist: the file's values replace them."""
    db = database.obj
    old = f"SELECT contact_id FROM {_CONTACTS.name} WHERE fresh IS NULL"
    if columns._interests:
        db.execute_sql(f"DELETE FROM interest WHERE contact_id IN ({old})")
    if columns.custom:
        keys = ", ".join([db.param] * len(columns.custom_keys))
        db.execute_sql(f"DELETE FROM custom_value WHERE contact_id IN ({old}) AND key IN ({keys})",
                       columns.custom_keys)


def _contact_insert(kind: str, *, staged_ids: bool = False) -> str:
    """INSERT of the staged contacts as new ones (parameters: today, now); with
    STAGED_IDS, each with the id staged for it."""
    p = "?" if kind == "sqlite" else "%s"
    columns = ["id", *_STAGED] if staged_ids else list(_STAGED)
    select = [f"s.{c}" for c in _STAGED]
    select[_STAGED.index("status")] = "COALESCE(s.status, 'active')"
    select[_STAGED.index("created_at")] = f"COALESCE(s.created_at, {p})"
    if staged_ids:
        select.insert(0, "s.contact_id")
    return (f"INSERT INTO contact ({', '.join(columns)}, updated_at) "
            f"SELECT {', '.join(select)}, {p} FROM {_CONTACTS.name} s WHERE TRUE")


@lru_cache(maxsize=None)
def _contact_upserts(given: frozenset[str], kind: str) -> list[str]:
    """The upserts of the staged contacts that exist, each overwriting exactly the columns given.

    A created_at or status left empty keeps the stored value: the rows with
    and without are upserted apart. `updated_at` moves only when a value
    really changes, so that importing the same file twice leaves the same
    database.
    """
    differs = "IS NOT" if kind == "sqlite" else "IS DISTINCT FROM"
    insert = _contact_insert(kind) + " AND s.fresh IS NULL"
    out = []
    for created in ((True, False) if "created_at" in given else (None,)):
        for status in ((True, False) if "status" in given else (None,)):
            where = []
            cols = [c for c in _STAGED if c in given and c != "email_norm"]
            for name, present in (("created_at", created), ("status", status)):
                if present is not None:
                    where.append(f" AND s.{name} IS {'NOT ' if present else ''}NULL")
                if not present and name in cols:
                    cols.remove(name)
            changed = " OR ".join(f"contact.{c} {differs} excluded.{c}" for c in cols)
            sets = ", ".join(f"{c} = excluded.{c}" for c in cols)
            out.append(f"{insert}{''.join(where)} ON CONFLICT (email_norm) DO UPDATE SET {sets}, "
                       f"updated_at = CASE WHEN {changed} THEN excluded.updated_at ELSE contact.updated_at END")
    return out


# ---- orders --------------------------------------------------------------------------

_ORDERS = Staging("import_order", [("line", "BIGINT"), ("order_id", "TEXT"), ("email_norm", "TEXT"),
                                   ("total", "BIGINT"), ("currency", "TEXT"), ("created_at", "DATE"),
                                   ("contact_id", "BIGINT"), ("old_contact_id", "BIGINT")],
                  key="line", joined_on=("email_norm",))
_FRESH = Staging("import_fresh_order", [("order_id", "TEXT")])  # the orders a batch created
_TOUCHED = Staging("import_touched", [("contact_id", "BIGINT")], key="contact_id")
_SUMS = Staging("import_order_sums", [("contact_id", "BIGINT"), ("n", "BIGINT"), ("total", "BIGINT"),
                                      ("biggest", "BIGINT"), ("first", "DATE"), ("last", "DATE")],
                key="contact_id")  # a batch's new orders summed per contact (PostgreSQL's straight copy)
TOUCHED_CONTACT_IDS = "SELECT contact_id FROM import_touched"  # the contacts of the last upsert_orders


@dataclass
class OrdersWritten:
    created: int = 0
    updated: int = 0
    unknown: list[tuple[int, str]] = field(default_factory=list)  # (line, email) of orders for no contact
    # SQL selecting the contacts whose orders changed (until the next batch), or a
    # function giving it (their ids staged only when asked: core.bulk.staged_on_demand)
    touched: str | Callable[[], str] = TOUCHED_CONTACT_IDS


def upsert_orders(rows: Sequence[OrderRow]) -> OrdersWritten:
    """Create or update orders by order_id, and the order aggregates of their contacts.

    An order whose email is no contact is not written; it comes back in
    `unknown`. Call inside a transaction. Afterwards the result's `touched`
    selects the contacts whose orders changed: the order's contact now and,
    for an order that moved, before.
    """
    return OrdersBatch(rows).write()


class OrdersBatch:
    """A batch of orders: looked up on creation (UNKNOWN: (line, email) of the rows
    whose email is no contact's, bad rows), then written by `write()`.

    PostgreSQL, while the file's orders have been new (COLUMNS.all_new; no COLUMNS:
    this batch alone), the batch goes straight into its table (`copy_new_orders`);
    the first batch with an order that exists goes the staged way, which upserts,
    and so does the rest of the file. SQLite: always staged.
    """

    def __init__(self, rows: Sequence[OrderRow] | PreparedOrders, columns: OrderColumns | None = None):
        self.columns = columns
        self.direct = backend() == "postgres" and (columns is None or columns.all_new)
        if self.direct:
            self.prepared = rows if isinstance(rows, PreparedOrders) else PreparedOrders(rows)
            self.ids, self.unknown = order_contacts(self.prepared)
        else:
            self.rows = rows.rows() if isinstance(rows, PreparedOrders) else rows
            self.unknown = stage_orders(self.rows)

    def write(self) -> OrdersWritten:
        done = copy_new_orders(self.prepared, self.ids, self.unknown, self.columns) if self.direct else None
        if done is None:
            if self.direct:
                if self.columns is not None:
                    self.columns.all_new = False
                self.rows = self.prepared.rows()
                stage_orders(self.rows)
            done = write_staged_orders(self.rows, self.unknown)
        return done


def _sum_orders(orders) -> dict:
    """ORDERS as (key, total, day) summed per key: key → [key, count, total, biggest, first
    day, last day], in the order the keys come."""
    sums: dict = {}
    for key, total, day in orders:
        s = sums.get(key)
        if s is None:
            sums[key] = [key, 1, total, total, day, day]
        else:
            s[1] += 1
            s[2] += total
            if total > s[3]:
                s[3] = total
            if day < s[4]:
                s[4] = day
            elif day > s[5]:
                s[5] = day
    return sums


class PreparedOrders(_Prepared):
    """PostgreSQL: a batch of orders made ready to go straight in where it was read
    (as PreparedContacts): the last row of each order (by order_id), the batch's
    emails (`emails`, in the order they come), each order's COPY text but for its
    contact's id, with the index of its email (`orders`), and the orders summed
    per email, as COPY text too (`sums`). The writer looks the emails up and puts
    each contact's id in front."""

    def __init__(self, rows: Sequence[OrderRow]):
        self.count = len(rows)
        self._rows = rows
        at = {}
        for r in rows:
            at.setdefault(r[2], len(at))
        self.emails = list(at)
        last = {r[1]: r for r in rows}.values()  # the last row of an order wins
        self.n = len(last)
        self.orders = list(zip([at[r[2]] for r in last], copy_text((r[1], r[3], r[4], r[5]) for r in last)))
        sums = _sum_orders((at[r[2]], r[3], r[5]) for r in last).values()
        self.sums = list(zip([s[0] for s in sums], copy_text(s[1:] for s in sums)))


def order_contacts(batch: PreparedOrders) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """PostgreSQL: the contact id of each email of BATCH that is a contact's (one probe
    of the email index per email, and a contact's orders usually come together);
    and (line, email) of the rows whose email is none."""
    any_of, param = any_email(batch.emails)
    ids = dict(database.obj.execute_sql(f"SELECT email_norm, id FROM contact WHERE email_norm = {any_of}",
                                        (param,)).fetchall())
    if len(ids) == len(batch.emails):
        return ids, []
    return ids, [(r[0], r[2]) for r in batch.rows() if r[2] not in ids]


def copy_new_orders(batch: PreparedOrders, ids: dict[str, int], unknown: list[tuple[int, str]],
                    columns: OrderColumns | None = None):
    """PostgreSQL, a batch of orders none of which exists (a first import, or new
    orders): the orders go by COPY straight into their table, each with its
    contact's id put in front of the text prepared for it — no staging table of
    the orders, no look-up of ids or of fresh orders in SQL. IDS and UNKNOWN: what
    `order_contacts(BATCH)` gave (the rows whose email is none are left out, and
    the batch made ready again without them). The sums go into the contacts' rows
    of order totals (`_write_order_sums`).

    What `upsert_orders` returns; None when one of the orders exists (nothing
    was written: the batch goes the staged way, which upserts).
    """
    written = len(batch) - len(unknown)
    if unknown:
        batch = PreparedOrders([r for r in batch.rows() if r[2] in ids])
    heads = [b"%d\t" % ids[e] for e in batch.emails]
    try:
        with database.obj.atomic():  # a savepoint: an order that exists undoes only this
            copy_rows('"order"', ("contact_id", "order_id", "total", "currency", "created_at"),
                      b"".join([heads[j] + line for j, line in batch.orders]))
    except unique_violations():
        return None
    touched = _write_order_sums([heads[j] + line for j, line in batch.sums], columns)
    return OrdersWritten(created=batch.n, updated=written - batch.n, unknown=unknown, touched=touched)


_SUM_COLUMNS = ("contact_id", "n", "total", "biggest", "first", "last")


def _write_order_sums(sums: list[bytes], columns: OrderColumns | None):
    """PostgreSQL: a batch's new orders summed per contact (SUMS: their COPY lines,
    contact first, in the order of the batch's rows) into the contacts' rows of
    order totals; the contacts touched, as `OrdersWritten.touched`.

    While the file's contacts have had no totals (COLUMNS.totals_new: a first
    import, orders of new customers), the sums go by COPY straight into
    order_totals, but for the first contact's, which may go on from the batch
    before (a file's orders of one contact come together): that one is combined
    with its row, if any, by the upsert. The first contact with totals from
    before undoes that COPY, and the rest of the file goes the way of every
    batch after it: all its sums into a scratch table, combined by the upsert
    (`_add_order_sums`), 3.1 s of 2.6M orders against 0.9 s straight.
    """
    straight = sums[1:] if columns is None or columns.totals_new else []
    if straight:
        try:
            with database.obj.atomic():  # a savepoint: a contact with totals undoes only this
                copy_rows("order_totals", ("contact_id", *_AGGREGATES.split(", ")), b"".join(straight))
        except unique_violations():
            straight = []
            if columns is not None:
                columns.totals_new = False
    table = _SUMS.reset()
    copy_rows(table, _SUM_COLUMNS, b"".join(sums[:1] if straight else sums))
    # no statistics: the upsert reads it whole, and a re-evaluation of the dynamic
    # segments copies the ids it touched into a table of its own, analysed
    _add_order_sums(f"SELECT * FROM {table}")
    if not straight:
        return f"SELECT contact_id FROM {table}"
    # the ids of the contacts copied straight are staged only when asked for
    return staged_on_demand(_SUMS, _SUM_COLUMNS, b"".join(sums), f"SELECT contact_id FROM {table}")


def stage_orders(rows: Sequence[OrderRow]) -> list[tuple[int, str]]:
    """Put ROWS in the staging table, with their contacts; (line, email) of those for no contact."""
    db = database.obj
    stage = _ORDERS.reset()
    _ORDERS.load(ORDER_ROW, rows)
    lookup_ids(stage, "contact_id")
    unknown = db.execute_sql(f"SELECT line, email_norm FROM {stage} WHERE contact_id IS NULL ORDER BY line")
    return [tuple(u) for u in unknown.fetchall()]


def write_staged_orders(rows: Sequence[OrderRow], unknown: list[tuple[int, str]]) -> OrdersWritten:
    """Upsert the orders that `stage_orders(ROWS)` staged (UNKNOWN: what it gave)."""
    db = database.obj
    stage = _ORDERS.name
    done = OrdersWritten(unknown=unknown)
    if unknown:
        db.execute_sql(f"DELETE FROM {stage} WHERE contact_id IS NULL")
    written = written_once = len(rows) - len(unknown)
    if len(set(map(itemgetter(1), rows))) < len(rows):  # the last row of an order wins (by order_id)
        db.execute_sql(f"DELETE FROM {stage} WHERE line NOT IN (SELECT max(line) FROM {stage} GROUP BY order_id)")
        written_once = db.execute_sql(f"SELECT count(*) FROM {stage}").fetchone()[0]
    done.created = _insert_new_orders(db, written_once)
    done.updated = written - done.created
    touched = _TOUCHED.reset()
    moved = done.created < written_once  # some orders existed: their contacts before count too
    db.execute_sql(f"INSERT INTO {touched} (contact_id) SELECT DISTINCT contact_id FROM {stage}" + (
        f" UNION SELECT old_contact_id FROM {stage} WHERE old_contact_id IS NOT NULL" if moved else ""))
    analyze_scratch(touched)
    if moved:
        db.execute_sql(
            'INSERT INTO "order" (order_id, contact_id, total, currency, created_at) '
            f"SELECT order_id, contact_id, total, currency, created_at FROM {stage} WHERE old_contact_id IS NOT NULL "
            "ON CONFLICT (order_id) DO UPDATE SET contact_id = excluded.contact_id, total = excluded.total, "
            "currency = excluded.currency, created_at = excluded.created_at"
        )
        recompute_order_totals(TOUCHED_CONTACT_IDS)
    else:
        add_order_totals(stage)
    return done


def add_order_totals(stage: str) -> None:
    """Add the orders in STAGE, all of them new, to their contacts' order
    aggregates: each contact's from the batch alone, then combined with what
    it had (a count and a sum add up, a max and a min of two). The same as
    recomputing them from all of the contact's orders, without reading those
    back through the index (a property test holds the two equal)."""
    _add_order_sums(f"SELECT contact_id, count(*) AS n, sum(total) AS total, max(total) AS biggest, "
                    f"min(created_at) AS first, max(created_at) AS last FROM {stage} GROUP BY contact_id")


_AGGREGATES = "orders_count, orders_total, orders_max, orders_first_date, orders_last_date"


def _add_order_sums(sums: str) -> None:
    """Combine the new orders' sums per contact (SUMS: a SELECT of contact_id, n,
    total, biggest, first, last) with the contacts' order aggregates: a row of
    order_totals for a contact that had none, else its row updated (a count and a
    sum add up, a max and a min of two; a row always has all five)."""
    def widest(column: str, op: str) -> str:
        return f"CASE WHEN excluded.{column} {op} t.{column} THEN excluded.{column} ELSE t.{column} END"

    database.obj.execute_sql(
        f"INSERT INTO order_totals AS t (contact_id, {_AGGREGATES}) "
        f"SELECT contact_id, n, total, biggest, first, last FROM ({sums}) a WHERE TRUE "  # WHERE: SQLite's parser
        "ON CONFLICT (contact_id) DO UPDATE SET orders_count = t.orders_count + excluded.orders_count, "
        f"orders_total = t.orders_total + excluded.orders_total, orders_max = {widest('orders_max', '>')}, "
        f"orders_first_date = {widest('orders_first_date', '<')}, "
        f"orders_last_date = {widest('orders_last_date', '>')}")


def _insert_new_orders(db, n: int) -> int:
    """Insert the staged orders whose order_id is new, passing over the others, whose
    stage rows get old_contact_id (the order's contact before). Returns how many were new."""
    stage = _ORDERS.name
    insert = ('INSERT INTO "order" (order_id, contact_id, total, currency, created_at) '
              f"SELECT order_id, contact_id, total, currency, created_at FROM {stage} s WHERE TRUE "
              "ON CONFLICT (order_id) DO NOTHING")
    if backend() != "sqlite":
        # the created ones' ids into a table of their own: marking them in the stage
        # (an UPDATE of every row of it) took a third of the insert's time
        fresh = _FRESH.reset()
        created = db.execute_sql(f"WITH ins AS ({insert} RETURNING order_id) "
                                 f"INSERT INTO {fresh} (order_id) SELECT order_id FROM ins").rowcount
        if created < n:
            analyze_scratch(fresh)
            db.execute_sql(f'UPDATE {stage} s SET old_contact_id = o.contact_id FROM "order" o '
                           f"WHERE o.order_id = s.order_id AND NOT EXISTS "
                           f"(SELECT 1 FROM {fresh} f WHERE f.order_id = s.order_id)")
        return created
    before = db.execute_sql('SELECT COALESCE(max(id), 0) FROM "order"').fetchone()[0]
    created = db.execute_sql(insert).rowcount
    if created < n:  # SQLite: the rows just inserted have larger ids than any before
        db.execute_sql(f'UPDATE {stage} SET old_contact_id = (SELECT o.contact_id FROM "order" o '
                       f"WHERE o.order_id = {stage}.order_id AND o.id <= ?)", (before,))
    return created


def recompute_order_totals(select_ids: str) -> None:
    """Set the order aggregates of the contacts SELECT_IDS gives from their orders:
    all five from one pass over each contact's orders (its index range); no row
    for a contact left without orders."""
    db = database.obj
    db.execute_sql(f"DELETE FROM order_totals WHERE contact_id IN ({select_ids})")
    db.execute_sql(f"INSERT INTO order_totals (contact_id, {_AGGREGATES}) "
                   "SELECT o.contact_id, count(*), sum(o.total), max(o.total), min(o.created_at), max(o.created_at) "
                   f'FROM "order" o WHERE o.contact_id IN ({select_ids}) GROUP BY o.contact_id')


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
    for line, email in enumerate(emails):
        try:
            rows.append(columns.normalise([email], line))
        except BadValue as e:
            raise BadInput(f'"{email}" cannot be created: {e}') from None
    with write():
        done = upsert_contacts(rows, columns, clock.today(cfg.tz))
        contacts_changed(list(done.ids.values()), actor, reason="add")
        audit.record(actor, "create contacts", created=done.created)
    return done.ids
