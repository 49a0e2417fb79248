"""Reading a written value by the type of its field, at parse time.

`300` is text after `region =` and a number after `orders.total >`; an
impossible date, a word where a number belongs or a choice that does not
exist is refused here, so that it never becomes an empty segment. Each
problem is a `Problem` whose message has an `{at}` where the parser puts
"at column N".
"""
from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

from . import fields as F
from .format import MONTHS, is_word, is_word_char, quote
from .tree import Ago, Date, Month, Number, Text, UNITS, YesNo
from ..text import norm

MAX_COUNT = 100_000  # N in `N days ago`, `in last N days`: 270 years is plenty
MAX_NUMBER = Decimal(10) ** 12  # keeps cents × order counts inside 64-bit integers
MAX_PLACES = 6
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


class Problem(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Raw:
    """A value as written: `kind` is bare, quoted, ago or items."""

    kind: str
    text: str
    pos: int
    unit: str | None = None  # for ago
    items: tuple = ()


def unescape(literal: str) -> str:
    """The text of a quoted STRING token. Only \\" \\' and \\\\ escape; a
    backslash before anything else is kept (Windows paths stay as typed)."""
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in "\"'\\":
            out.append(body[i + 1])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def single(raw: Raw, what: str) -> str:
    """The text of a bare or quoted value; a list or a relative date is refused."""
    if raw.kind == "items":
        raise Problem(f"a list {{at}} fits only in (…) and has any/all/none (…); {what} takes one value")
    if raw.kind == "ago":
        raise Problem(f'"{raw.text} {raw.unit} ago" {{at}} is a date; {what} takes no date')
    control = next((ch for ch in raw.text if unicodedata.category(ch) in ("Cc", "Cs")), None)
    if control is not None:
        # PostgreSQL cannot even hold U+0000 in text, and no one means to type them
        raise Problem(f"the control character U+{ord(control):04X} in a value {{at}} cannot be read; remove it")
    if raw.kind == "bare" and not is_word(raw.text):
        bad = next(ch for ch in raw.text if not is_word_char(ch))
        raise Problem(
            f'"{bad}" in {raw.text} {{at}} needs quotes: only letters, digits and _ - . @ + / '
            f"go without them; write {quote(raw.text)}"
        )
    return raw.text


def read_text(raw: Raw, what: str) -> Text:
    s = single(raw, what)
    if norm(s) is None:
        raise Problem(f"an empty value {{at}}; to find {what} without a value write `is empty`")
    return Text(s)


def read_choice(raw: Raw, field: str) -> Text:
    s = single(raw, field)
    choices = F.CHOICES[field]
    if (norm(s) or "") in choices:
        return Text(norm(s))
    close = F.suggest(s, choices)
    hint = f' — did you mean "{close}"?' if close else f"; choose one of {', '.join(choices)}"
    raise Problem(f'unknown {field} "{s}" {{at}}{hint}')


def read_number(raw: Raw, field: str) -> Number:
    s = single(raw, f'the number field "{field}"').strip()
    if not _NUMBER.fullmatch(s):
        raise Problem(f'"{s}" {{at}} is not a number; {field} takes a number like 300 or 12.50')
    d = Decimal(s)
    if abs(d) >= MAX_NUMBER:
        raise Problem(f"{s} {{at}} is too large; numbers go up to 999,999,999,999")
    if d.as_tuple().exponent < -MAX_PLACES:
        raise Problem(f"{s} {{at}} has more than {MAX_PLACES} decimals")
    return Number(d)


def read_date(raw: Raw, field: str):
    if raw.kind == "ago":
        return Ago(read_whole(raw.text, 0), read_unit(raw.unit, UNITS))
    s = single(raw, f'the date field "{field}"').strip()
    if s.lower() in ("today", "yesterday"):
        return Ago(0 if s.lower() == "today" else 1, "days")
    m = _DATE.fullmatch(s)
    if not m:
        raise Problem(f'"{s}" {{at}} is not a date; write it like 2024-05-31, today, yesterday or 30 days ago')
    y, mo, d = (int(g) for g in m.groups())
    if not 1 <= mo <= 12 or y < 1:
        raise Problem(f"{s} {{at}} is not a date: there is no {'month' if y >= 1 else 'year'} "
                      f"{mo if y >= 1 else 0}")
    days = calendar.monthrange(y, mo)[1]
    if not 1 <= d <= days:
        raise Problem(f"{s} {{at}} is not a date: {calendar.month_name[mo]} {y} has {days} days")
    return Date(dt.date(y, mo, d))


def read_whole(word: str, lowest: int) -> int:
    if not re.fullmatch(r"[0-9]+", word) or not lowest <= int(word) <= MAX_COUNT:
        raise Problem(f'"{word}" {{at}} is not a whole number from {lowest} to {MAX_COUNT:,}')
    return int(word)


def read_unit(word: str, allowed) -> str:
    unit = word.lower()
    unit = unit if unit.endswith("s") else unit + "s"
    if unit not in allowed:
        raise Problem(f'"{word}" {{at}} does not fit here; use {", ".join(allowed)}')
    return unit


def read_month(raw: Raw) -> Month:
    s = single(raw, "in month").strip().lower()
    if re.fullmatch(r"[0-9]{1,2}", s) and 1 <= int(s) <= 12:
        return Month(int(s))
    for i, name in enumerate(MONTHS, 1):
        if s in (name, name[:3]):
            return Month(i)
    close = F.suggest(s, MONTHS)
    hint = f' — did you mean "{close}"?' if close else "; write a month like june or 6"
    raise Problem(f'unknown month "{s}" {{at}}{hint}')


def read_yesno(raw: Raw, field: str) -> YesNo:
    s = single(raw, field).strip().lower()
    if s in ("yes", "no"):
        return YesNo(s == "yes")
    raise Problem(f'"{s}" {{at}} does not fit the yes/no field "{field}"; write = yes or = no')
