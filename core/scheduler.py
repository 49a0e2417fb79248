"""The scheduler: each dynamic segment refreshed on its own interval.

One APScheduler `BackgroundScheduler` per process, with one interval job per
scheduled segment and a sync job that makes the jobs follow the segment
table, so a segment created, rescheduled or deleted by any process is picked
up without a restart. Several processes may run it on one database (two bot
replicas): the refresh lease (core.leases) decides which of them refreshes a
due segment, so each due refresh happens once.

`segmenta scheduler` runs it in the foreground; the bot embeds it with
`start_scheduler(cfg)` and `.stop()`. The terminal UI never runs it.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
from contextlib import contextmanager

from . import audit, config as config_mod, leases
from .audit import Actor
from .clock import utcnow_naive
from .config import format_duration
from .errors import BadInput, Refused, SegmentaError
from .store import database, write
from .store.models import RefreshRun, Segment

log = logging.getLogger("segmenta.scheduler")

SYNC_EVERY = 15  # seconds: a change in the segments table is seen within this
SEND_EVERY = 2  # seconds between drains of the notices outbox
MISFIRE_GRACE = 60  # a job late by more than this (a suspended laptop) waits for its next turn


# ---- the schedule of one segment -------------------------------------------

def interval_of(seg: Segment, cfg=None) -> int | None:
    """Seconds between scheduled refreshes, or None when the segment has none."""
    if seg.kind != "dynamic" or seg.schedule_off:
        return None
    return seg.refresh_every or (cfg or config_mod.current()).refresh_every


def set_schedule(seg: Segment, every: int | str | None, actor: Actor, cfg=None) -> dict:
    """Give SEG its own interval (seconds), `"off"`, or `"default"` (the config's).

    Touches updated_at so that every scheduler process picks the change up.
    """
    if seg.kind != "dynamic":
        raise Refused(f'"{seg.name}" is a list: it is never refreshed, so it has no schedule')
    off = every == "off"
    own = None if off or every == "default" else every
    if own is not None and (not isinstance(own, int) or own <= 0):
        raise BadInput("the refresh interval must be positive, like 30m or 1h; or off, or default")
    now = utcnow_naive()
    with write():
        Segment.update(refresh_every=own, schedule_off=off, updated_at=now).where(Segment.id == seg.id).execute()
        seg.refresh_every, seg.schedule_off, seg.updated_at = own, off, now
        interval = interval_of(seg, cfg)
        if interval:
            # a new interval starts a new grid, counted from now
            leases.reschedule(seg.id, now + dt.timedelta(seconds=interval))
        audit.record(actor, "schedule", seg, every=format_duration(own) if own else ("off" if off else "default"))
    from .show import schedule_of

    return {"segment_id": seg.id, "segment": seg.name, "schedule": schedule_of(seg, cfg)}


# ---- one due refresh ---------------------------------------------------------

def refresh_if_due(segment_id: int, holder: str, cfg=None, lease_for: float = leases.LEASE_FOR) -> str:
    """Refresh the segment if it is due and this process wins its lease.

    Returns "refreshed", "failed" or "skipped". A failure is logged with the
    segment's name and kept on a refresh run of its own (the refresh itself
    rolled back), and the segment stays on its schedule.
    """
    from .refresh import refresh

    if not leases.take(segment_id, holder, lease_for):
        return "skipped"
    every = None
    outcome = "failed"
    try:
        seg = Segment.get_or_none(Segment.id == segment_id)
        every = interval_of(seg, cfg) if seg else None
        if seg is None or every is None:  # deleted or switched off since the job was made
            return "skipped"
        started = utcnow_naive()
        try:
            with leases.kept(segment_id, holder, lease_for):
                result = refresh(seg, audit.SYSTEM, trigger="schedule", cfg=cfg)
            outcome = "refreshed"
            log.info('refreshed "%s": %d members, %d joined, %d left', seg.name, result.total, result.joined, result.left)
        except Exception as e:
            record_failure(seg, started, e)
    finally:
        leases.release(segment_id, holder, every)
    return outcome


def record_failure(seg: Segment, started: dt.datetime, error: Exception) -> None:
    # our own errors speak to people already; anything else is named by its type
    message = str(error) if isinstance(error, SegmentaError) else f"{type(error).__name__}: {error}"
    log.error('scheduled refresh of "%s" (#%d) failed: %s', seg.name, seg.id, message)
    try:
        with write():
            RefreshRun.create(segment=seg.id, trigger="schedule", started_at=started,
                              error=message[:2000], actor=f"{audit.SYSTEM.face}:{audit.SYSTEM.who}")
    except Exception:  # the database itself is failing: the log line is all we can keep
        log.exception('could not record the failed refresh of "%s"', seg.name)


# ---- the running scheduler ---------------------------------------------------------

@contextmanager
def connection():
    """The calling thread's connection for one job: opened if it had none, and
    then closed again (a caller's own connection is left open)."""
    db = database.obj
    opened = db.is_closed()
    if opened:
        db.connect()
    try:
        yield
    finally:
        if opened and not db.is_closed():
            db.close()


class SegmentScheduler:
    """APScheduler jobs that follow the segments table. Use start_scheduler()."""

    def __init__(self, cfg, *, sync_every: float = SYNC_EVERY, lease_for: float = leases.LEASE_FOR,
                 send_every: float | None = None, holder: str | None = None):
        from apscheduler.schedulers.background import BackgroundScheduler

        if sync_every > 30:
            raise BadInput("the scheduler must look at the segments at least every 30 seconds")
        self.cfg = cfg
        self.sync_every = sync_every
        self.lease_for = lease_for
        self.send_every = send_every
        self.holder = holder or leases.holder_name()
        self.jobs: dict[int, int] = {}  # segment id -> interval its job was made with
        self._anchors: dict[int, dt.datetime] = {}  # segment id -> due time its job was made from
        self._lock = threading.Lock()
        self.aps = BackgroundScheduler(
            timezone=dt.timezone.utc,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
        )

    def start(self) -> "SegmentScheduler":
        self.aps.start()
        self.sync()
        now = dt.datetime.now(dt.timezone.utc)
        self.aps.add_job(self.sync, "interval", seconds=self.sync_every, id="sync", name="follow the segments table",
                         next_run_time=now + dt.timedelta(seconds=self.sync_every))
        if self.send_every:
            self.aps.add_job(self.send, "interval", seconds=self.send_every, id="send", name="send notices",
                             next_run_time=now)
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop taking jobs; with WAIT, let a refresh under way finish first."""
        if self.aps.running:
            self.aps.shutdown(wait=wait)

    @property
    def running(self) -> bool:
        return self.aps.running

    def sync(self) -> None:
        """Make one job per scheduled dynamic segment, with its interval, and no others."""
        with self._lock:
            try:
                with connection():
                    wanted = self._wanted()
            except Exception:
                log.exception("could not read the segments; the jobs stay as they were")
                return
            for sid in set(self.jobs) - set(wanted):
                self.aps.remove_job(f"refresh:{sid}")
                del self.jobs[sid], self._anchors[sid]
                log.info("segment #%d is no longer scheduled", sid)
            for sid, (name, every, due) in wanted.items():
                # A new due time (a refresh by any process, a new schedule) re-anchors the
                # job, so every process fires when the segment is due, not an interval late.
                if self.jobs.get(sid) != every or self._anchors.get(sid) != due:
                    self._schedule(sid, name, every, due)

    def _wanted(self) -> dict[int, tuple[str, int, dt.datetime]]:
        segs = list(Segment.select().where((Segment.kind == "dynamic") & (Segment.schedule_off == False)))  # noqa: E712
        due = leases.due_times([s.id for s in segs])
        now = utcnow_naive()
        for seg in segs:
            if seg.id not in due:  # new: its first refresh is one interval after its last
                every = interval_of(seg, self.cfg)
                leases.ensure(seg.id, seg.last_refresh_at + dt.timedelta(seconds=every) if seg.last_refresh_at else now)
        due.update(leases.due_times([s.id for s in segs if s.id not in due]))
        # a segment deleted between the reads has no lease row and drops out here
        return {s.id: (s.name, interval_of(s, self.cfg), due[s.id]) for s in segs if s.id in due}

    def _schedule(self, sid: int, name: str, every: int, due: dt.datetime) -> None:
        # Anchoring the job at the lease's due time makes every process fire at the
        # same grid points; a job firing before its due time only skips.
        anchor = due.replace(tzinfo=dt.timezone.utc)
        now = dt.datetime.now(dt.timezone.utc)
        extra = {"next_run_time": now} if anchor <= now else {}
        self.aps.add_job(
            self.refresh, "interval", seconds=every, start_date=anchor, args=[sid], id=f"refresh:{sid}",
            name=f'refresh "{name}"', replace_existing=True, **extra,
        )
        if self.jobs.get(sid) != every:
            verb = "rescheduled" if sid in self.jobs else "scheduled"
            log.info('%s "%s" (#%d) every %s', verb, name, sid, format_duration(every))
        self.jobs[sid], self._anchors[sid] = every, due

    def refresh(self, segment_id: int) -> str:
        try:
            with connection():
                outcome = refresh_if_due(segment_id, self.holder, self.cfg, self.lease_for)
                if outcome == "skipped":
                    self._retry_when_lease_ends(segment_id)
                return outcome
        except Exception:  # never let one segment's trouble stop its job
            log.exception("scheduled refresh of segment #%d failed", segment_id)
            return "failed"

    def _retry_when_lease_ends(self, segment_id: int) -> None:
        # Another process holds a due segment: if it dies, its lease ends and the
        # refresh is still owed, so look again then rather than a whole interval later.
        until = leases.held_until(segment_id)
        if until is None:
            return
        at = until.replace(tzinfo=dt.timezone.utc) + dt.timedelta(seconds=0.5)
        self.aps.add_job(self.refresh, "date", run_date=at, args=[segment_id], id=f"retry:{segment_id}",
                         name=f"retry segment #{segment_id}", replace_existing=True)

    def send(self) -> None:
        from .sender import send_pending, slack_client

        try:
            with connection():
                send_pending(slack_client(self.cfg), holder=self.holder)
        except Exception:
            log.exception("sending notices failed; they stay in the outbox")


def start_scheduler(cfg=None, *, sync_every: float = SYNC_EVERY, lease_for: float = leases.LEASE_FOR,
                    send: bool | None = None, send_every: float = SEND_EVERY) -> SegmentScheduler:
    """Start refreshing dynamic segments in background threads; returns it (call .stop()).

    The database must be open (core.store.open_database). With SEND (default:
    when SLACK_BOT_TOKEN is set) the same scheduler drains the notices outbox.
    """
    from . import notices  # noqa: F401  (registers the notices hook in every scheduler process)

    cfg = cfg or config_mod.current()
    if send is None:
        send = bool(cfg.secret("SLACK_BOT_TOKEN"))
    elif send and not cfg.secret("SLACK_BOT_TOKEN"):
        raise BadInput("sending notices needs SLACK_BOT_TOKEN in the environment")
    return SegmentScheduler(cfg, sync_every=sync_every, lease_for=lease_for,
                            send_every=send_every if send else None).start()


def stop(scheduler: SegmentScheduler, wait: bool = True) -> None:
    scheduler.stop(wait=wait)
