"""Calendar rules of the language, as pure functions of "today".

- `N months ago` from March 31 is the last day of February.
- Someone born on February 29 has their birthday on February 28 in years
  without a February 29 (for `age` and for `birthday`).
- Dates never leave Python's (and the databases') range: far past clamps
  to 0001-01-01.
"""
from __future__ import annotations

import calendar
import datetime as dt

from .tree import Ago, Date

# Every month-day code (month*100 + day) in calendar order; birth_md holds one.
ALL_MD = [m * 100 + d for m in range(1, 13) for d in range(1, calendar.monthrange(2000, m)[1] + 1)]
_INDEX = {code: i for i, code in enumerate(ALL_MD)}


def ago(today: dt.date, n: int, unit: str) -> dt.date:
    if unit in ("days", "weeks"):
        try:
            return today - dt.timedelta(days=n * (7 if unit == "weeks" else 1))
        except OverflowError:
            return dt.date.min
    months = today.year * 12 + today.month - 1 - (n * 12 if unit == "years" else n)
    year, month = divmod(months, 12)
    if year < 1:
        return dt.date.min
    return dt.date(year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1]))


def resolve(value, today: dt.date) -> dt.date:
    """A Date or Ago value as the day it means today."""
    return value.value if isinstance(value, Date) else ago(today, value.n, value.unit)


def birthday_in(birth: dt.date, year: int) -> dt.date:
    if (birth.month, birth.day) == (2, 29) and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return dt.date(year, birth.month, birth.day)


def age_on(birth: dt.date, today: dt.date) -> int:
    return today.year - birth.year - (1 if today < birthday_in(birth, today.year) else 0)


def age_cutoff(today: dt.date, years: int) -> dt.date | None:
    """The latest birth date of someone at least YEARS old today; None when
    nobody is (the date would fall before year 1)."""
    y = today.year - years
    if y < 1:
        return None
    if y > dt.MAXYEAR:
        return dt.date.max
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year) and calendar.isleap(y):
        return dt.date(y, 2, 29)  # born Feb 29: their birthday is today
    if (today.month, today.day) == (2, 29) and not calendar.isleap(y):
        return dt.date(y, 2, 28)
    return dt.date(y, today.month, today.day)


def birthday_codes(today: dt.date, days: int) -> set[int]:
    """The birth_md codes whose birthday falls in today and the DAYS-1 days after."""
    codes = set()
    for i in range(min(days, 366)):
        day = today + dt.timedelta(days=i) if today <= dt.date.max - dt.timedelta(days=i) else None
        if day is None:
            break
        codes.add(day.month * 100 + day.day)
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            codes.add(229)
    return codes


def md_ranges(codes: set[int]) -> list[tuple[int, int]]:
    """Compress codes into (low, high) ranges of consecutive calendar days, so
    that `birthday in next 30 days` is two BETWEENs at most, not 30 values."""
    runs: list[list[int]] = []
    for i in sorted(_INDEX[c] for c in codes):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return [(ALL_MD[a], ALL_MD[b]) for a, b in runs]
