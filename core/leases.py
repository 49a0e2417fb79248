"""Refresh leases: one row per scheduled segment, shared by every scheduler
process on the database.

Each due refresh happens once: a process takes the lease with a single
conditional UPDATE (not held, or held past its expiry, and due), so of two
processes racing for the same period exactly one changes the row. The
winner refreshes, then moves `next_due_at` forward on the segment's grid
and lets go. A winner that dies stops renewing and its lease expires, so
another process takes the same, still-due period.

All times come from core.clock, so tests move time by hand.
"""
from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import uuid
from contextlib import contextmanager

from .clock import utcnow_naive
from .store import database, write
from .store.models_notices import RefreshLease

LEASE_FOR = 60  # seconds a lease lives without renewal


def holder_name() -> str:
    """Who holds a lease: host, process and a random tail (two schedulers in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def next_due(due: dt.datetime, every: int, now: dt.datetime) -> dt.datetime:
    """The first point of the grid DUE + k*EVERY that is after NOW.

    Periods missed while nobody ran are skipped rather than caught up one by
    one (coalesce): one refresh brings a segment up to date.
    """
    step = dt.timedelta(seconds=every)
    if due > now:
        return due
    missed = int((now - due) / step) + 1
    return due + missed * step


def ensure(segment_id: int, first_due: dt.datetime) -> None:
    """Create the segment's lease row if no process has yet."""
    with write():
        RefreshLease.insert(segment=segment_id, next_due_at=first_due).on_conflict_ignore().execute()


def due_times(segment_ids: list[int]) -> dict[int, dt.datetime]:
    """{segment id: next due time} for those of SEGMENT_IDS that have a lease row."""
    out = {}
    for i in range(0, len(segment_ids), 500):
        chunk = segment_ids[i : i + 500]
        q = RefreshLease.select(RefreshLease.segment, RefreshLease.next_due_at).where(RefreshLease.segment.in_(chunk))
        out.update(dict(q.tuples()))
    return out


def take(segment_id: int, holder: str, lease_for: float = LEASE_FOR) -> bool:
    """Take the lease if the segment is due and nobody holds it; True if we did."""
    now = utcnow_naive()
    row = RefreshLease.get_or_none(RefreshLease.segment == segment_id)
    if row is None or row.next_due_at > now or (row.expires_at is not None and row.expires_at >= now):
        # Looking first costs no write: on SQLite a write would queue behind a
        # refresh under way in another process, only to find nothing to do.
        return False
    with write():
        changed = (
            RefreshLease.update(holder=holder, expires_at=now + dt.timedelta(seconds=lease_for))
            .where(
                (RefreshLease.segment == segment_id)
                & (RefreshLease.expires_at.is_null() | (RefreshLease.expires_at < now))
                & (RefreshLease.next_due_at <= now)
            )
            .execute()
        )
    return changed == 1


def held_until(segment_id: int) -> dt.datetime | None:
    """When another holder's lease on a due segment runs out (None: not held, or not due)."""
    now = utcnow_naive()
    row = RefreshLease.get_or_none(RefreshLease.segment == segment_id)
    if row is None or row.holder is None or row.next_due_at > now or row.expires_at is None or row.expires_at < now:
        return None
    return row.expires_at


def renew(segment_id: int, holder: str, lease_for: float = LEASE_FOR) -> bool:
    now = utcnow_naive()
    with write():
        changed = (
            RefreshLease.update(expires_at=now + dt.timedelta(seconds=lease_for))
            .where((RefreshLease.segment == segment_id) & (RefreshLease.holder == holder))
            .execute()
        )
    return changed == 1


def release(segment_id: int, holder: str, every: int | None) -> dt.datetime | None:
    """Let go; with EVERY, first move the due time to the next point of the grid."""
    now = utcnow_naive()
    with write():
        row = RefreshLease.get_or_none(
            (RefreshLease.segment == segment_id) & (RefreshLease.holder == holder)
        )
        if row is None:  # the segment was deleted, or our lease expired and was taken
            return None
        due = next_due(row.next_due_at, every, now) if every else row.next_due_at
        RefreshLease.update(holder=None, expires_at=None, next_due_at=due).where(
            (RefreshLease.segment == segment_id) & (RefreshLease.holder == holder)
        ).execute()
    return due


def reschedule(segment_id: int, due: dt.datetime) -> None:
    """A new interval starts a new grid (segmenta schedule); the holder is left alone."""
    RefreshLease.update(next_due_at=due).where(RefreshLease.segment == segment_id).execute()


@contextmanager
def kept(segment_id: int, holder: str, lease_for: float = LEASE_FOR):
    """Renew the lease from a side thread while the body runs (a long refresh
    must not lose its lease to another process half-way through)."""
    stop = threading.Event()

    def keep():
        while not stop.wait(lease_for / 3):
            try:
                with database.connection_context():
                    renew(segment_id, holder, lease_for)
            except Exception:  # a missed renewal only shortens the lease
                pass

    thread = threading.Thread(target=keep, name=f"lease-{segment_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
