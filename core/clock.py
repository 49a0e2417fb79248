"""The time Segmenta lives in. Tests and the scheduler's tests replace it."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


class Clock:
    def now(self) -> dt.datetime:
        """Aware UTC now."""
        return dt.datetime.now(dt.timezone.utc)

    def today(self, tz: ZoneInfo | str = "UTC") -> dt.date:
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz
        return self.now().astimezone(zone).date()


class FixedClock(Clock):
    """A clock that stands still until moved (tests)."""

    def __init__(self, at: dt.datetime):
        self.at = at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, **delta) -> None:
        self.at += dt.timedelta(**delta)


clock: Clock = Clock()


def set_clock(new: Clock) -> Clock:
    global clock
    old, clock = clock, new
    return old


def now() -> dt.datetime:
    return clock.now()


def utcnow_naive() -> dt.datetime:
    """UTC now without tzinfo, as the store keeps timestamps."""
    return clock.now().astimezone(dt.timezone.utc).replace(tzinfo=None)


def today(tz="UTC") -> dt.date:
    return clock.today(tz)
