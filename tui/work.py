"""Running core in thread workers: one connection per call, errors as values.

Peewee keeps one connection per thread. Textual runs thread workers on a pool,
so each call opens its thread's connection if needed and closes it when done.
A `SegmentaError` is a person's mistake or a rule of the mission: it comes back
as text for a notification. Anything else is our bug: it is logged and comes
back as text too, so that the interface never dies under the user.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

from textual.message import Message

from core.errors import SegmentaError
from core.store import database

log = logging.getLogger("segmenta.tui")


@contextmanager
def session():
    """This thread's connection for the length of one call."""
    opened = database.is_closed()
    if opened:
        database.connect(reuse_if_open=True)
    try:
        yield
    finally:
        if opened and not database.is_closed():
            database.close()


@dataclass
class Outcome:
    """What a core call gave: a value, or the error message to show."""

    value: Any = None
    error: str | None = None
    exception: SegmentaError | None = None  # the core error, for its details (a condition's column)

    @property
    def ok(self) -> bool:
        return self.error is None


def call_core(fn: Callable[[], Any]) -> Outcome:
    try:
        with session():
            return Outcome(value=fn())
    except SegmentaError as e:
        return Outcome(error=str(e), exception=e)
    except Exception as e:  # a bug of ours: say so, keep the interface alive
        log.exception("core call failed")
        return Outcome(error=f"Internal error: {type(e).__name__}: {e}")


class CoreDone(Message):
    """A core call made in a worker has finished."""

    def __init__(self, tag: str, outcome: Outcome, context: Any = None):
        super().__init__()
        self.tag = tag
        self.outcome = outcome
        self.context = context


@dataclass
class Done:
    """A finished operation, as the main screen reports it."""

    text: str
    select: int | None = None  # the segment to select afterwards
    warning: str | None = None
