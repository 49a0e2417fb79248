"""The scheduler's rules with time in the test's hands: leases, schedules, sync, failures."""
import datetime as dt
import logging

import pytest

from core import clock, config as config_mod, leases
from core.audit import Actor
from core.errors import BadInput, Refused
from core.scheduler import SegmentScheduler, interval_of, refresh_if_due, set_schedule
from core.show import show
from core.store.models import AuditEntry, RefreshRun, Segment
from core.store.models_notices import RefreshLease
from core.text import norm

ME = Actor("tester", "cli")
T0 = dt.datetime(2025, 3, 1, 12, 0, 0)


@pytest.fixture
def frozen():
    fixed = clock.FixedClock(T0)
    old = clock.set_clock(fixed)
    yield fixed
    clock.set_clock(old)


def a_dynamic(name="D", every=None, **fields):
    """A dynamic segment row as the store keeps it (its condition is not evaluated here)."""
    return Segment.create(name=name, name_norm=norm(name), kind="dynamic", condition='{"v": 1}',
                          condition_text="status = active", refresh_every=every, **fields)


def naive(t):
    return t.replace(tzinfo=None)


# ---- the grid -------------------------------------------------------------------------

def test_next_due_stays_on_the_grid_and_skips_missed_periods():
    assert leases.next_due(T0, 60, T0) == T0 + dt.timedelta(seconds=60)
    assert leases.next_due(T0, 60, T0 + dt.timedelta(seconds=59)) == T0 + dt.timedelta(seconds=60)
    # three periods missed while nobody ran: one refresh, then the next point after now
    assert leases.next_due(T0, 60, T0 + dt.timedelta(seconds=200)) == T0 + dt.timedelta(seconds=240)
    assert leases.next_due(T0 + dt.timedelta(hours=1), 60, T0) == T0 + dt.timedelta(hours=1)


# ---- leases ---------------------------------------------------------------------------

def test_a_due_lease_is_taken_by_one_holder_only(db, frozen):
    seg = a_dynamic()
    leases.ensure(seg.id, naive(frozen.now()))
    assert leases.take(seg.id, "a") is True
    assert leases.take(seg.id, "b") is False
    assert leases.release(seg.id, "a", 60) == T0 + dt.timedelta(seconds=60)
    # released, but not due again until the next point of the grid
    assert leases.take(seg.id, "b") is False
    frozen.advance(seconds=60)
    assert leases.take(seg.id, "b") is True


def test_a_lease_is_not_taken_before_it_is_due(db, frozen):
    seg = a_dynamic()
    leases.ensure(seg.id, T0 + dt.timedelta(seconds=30))
    assert leases.take(seg.id, "a") is False
    frozen.advance(seconds=30)
    assert leases.take(seg.id, "a") is True


def test_a_dead_holders_lease_expires(db, frozen):
    seg = a_dynamic()
    leases.ensure(seg.id, T0)
    assert leases.take(seg.id, "dead", lease_for=60)
    frozen.advance(seconds=59)
    assert leases.take(seg.id, "alive") is False
    frozen.advance(seconds=2)
    assert leases.take(seg.id, "alive") is True
    # the dead holder's late release changes nothing
    assert leases.release(seg.id, "dead", 60) is None
    assert RefreshLease.get_by_id(seg.id).holder == "alive"


def test_renewal_keeps_a_long_refresh_its_lease(db, frozen):
    seg = a_dynamic()
    leases.ensure(seg.id, T0)
    assert leases.take(seg.id, "a", lease_for=60)
    frozen.advance(seconds=50)
    assert leases.renew(seg.id, "a", lease_for=60)
    frozen.advance(seconds=50)
    assert leases.take(seg.id, "b") is False
    assert leases.renew(seg.id, "b") is False


def test_ensure_keeps_the_first_due_time(db, frozen):
    seg = a_dynamic()
    leases.ensure(seg.id, T0)
    leases.ensure(seg.id, T0 + dt.timedelta(hours=1))
    assert leases.due_times([seg.id]) == {seg.id: T0}


def test_deleting_a_segment_deletes_its_lease(db, frozen):
    seg = a_dynamic()
    leases.ensure(seg.id, T0)
    seg.delete_instance()
    assert RefreshLease.select().count() == 0


# ---- schedules -------------------------------------------------------------------------

def test_schedule_sets_the_interval_touches_updated_at_and_is_audited(db, frozen):
    seg = a_dynamic()
    frozen.advance(minutes=5)
    out = set_schedule(seg, 1800, ME)
    seg = Segment.get_by_id(seg.id)
    assert (seg.refresh_every, seg.schedule_off) == (1800, False)
    assert seg.updated_at == T0 + dt.timedelta(minutes=5)
    assert out["schedule"] == "every 30m"
    entry = AuditEntry.select().where(AuditEntry.operation == "schedule").get()
    assert (entry.actor, entry.face, entry.segment_id) == ("tester", "cli", seg.id)


def test_schedule_off_and_back_to_the_default(db, frozen):
    seg = a_dynamic(every=600)
    assert set_schedule(seg, "off", ME)["schedule"] == "off"
    assert interval_of(Segment.get_by_id(seg.id)) is None
    cfg = config_mod.Config(refresh_every=7200)
    assert set_schedule(seg, "default", ME, cfg)["schedule"] == "every 2h (default)"
    assert interval_of(Segment.get_by_id(seg.id), cfg) == 7200


def test_a_new_interval_starts_a_new_grid_from_now(db, frozen):
    seg = a_dynamic(every=3600)
    leases.ensure(seg.id, T0 + dt.timedelta(hours=1))
    frozen.advance(minutes=10)
    set_schedule(seg, 300, ME)
    assert leases.due_times([seg.id])[seg.id] == T0 + dt.timedelta(minutes=15)


def test_schedule_refuses_a_list_and_a_bad_interval(db):
    from core import segments

    with pytest.raises(Refused, match="list"):
        set_schedule(segments.create_list("L", ME), 60, ME)
    with pytest.raises(BadInput):
        set_schedule(a_dynamic(), 0, ME)


def test_cli_schedule_parses_every_and_off(db_url):
    from click.testing import CliRunner

    from core.cli.main import cli
    from core.store import open_database

    open_database(db_url)
    seg = a_dynamic("Kyiv women")
    run = CliRunner()
    r = run.invoke(cli, ["--db", db_url, "schedule", "kyiv women", "90s", "--json"])
    assert r.exit_code == 0, r.output
    assert '"every 90s"' in r.output
    assert Segment.get_by_id(seg.id).refresh_every == 90
    r = run.invoke(cli, ["--db", db_url, "schedule", "Kyiv women", "off"])
    assert r.exit_code == 0 and "no longer refreshes" in r.output
    r = run.invoke(cli, ["--db", db_url, "schedule", "Kyiv women", "soon"])
    assert r.exit_code == 2 and "30m" in r.output


# ---- one due refresh -----------------------------------------------------------------

def test_a_failed_scheduled_refresh_is_kept_and_the_segment_stays_scheduled(db, frozen, monkeypatch, caplog):
    seg = a_dynamic("Broken", every=60)
    leases.ensure(seg.id, T0)

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("core.refresh.refresh", boom)
    with caplog.at_level(logging.ERROR, logger="segmenta.scheduler"):
        assert refresh_if_due(seg.id, "me") == "failed"
    assert '"Broken"' in caplog.text and "disk on fire" in caplog.text
    run = RefreshRun.get(RefreshRun.segment == seg.id)
    assert (run.trigger, run.error, run.finished_at) == ("schedule", "RuntimeError: disk on fire", None)
    assert show(Segment.get_by_id(seg.id))["last_error"]["error"] == "RuntimeError: disk on fire"
    lease = RefreshLease.get_by_id(seg.id)
    assert (lease.holder, lease.next_due_at) == (None, T0 + dt.timedelta(seconds=60))
    frozen.advance(seconds=60)
    assert refresh_if_due(seg.id, "me") == "failed"  # tried again at its next turn
    assert RefreshRun.select().where(RefreshRun.segment == seg.id).count() == 2


def test_a_segment_switched_off_is_not_refreshed(db, frozen, monkeypatch):
    seg = a_dynamic(every=60)
    leases.ensure(seg.id, T0)
    set_schedule(seg, "off", ME)
    monkeypatch.setattr("core.refresh.refresh", lambda *a, **k: pytest.fail("refreshed"))
    assert refresh_if_due(seg.id, "me") == "skipped"
    assert RefreshLease.get_by_id(seg.id).holder is None


# ---- the jobs follow the segments table -------------------------------------------------

def test_jobs_follow_segments_created_changed_and_deleted(db, frozen):
    cfg = config_mod.Config(refresh_every=3600)
    s = SegmentScheduler(cfg, sync_every=1)
    s.aps.start(paused=True)  # the jobs are made, none runs
    try:
        a = a_dynamic("A", every=60, last_refresh_at=T0)
        b = a_dynamic("B")
        from core import segments

        segments.create_list("L", ME)
        s.sync()
        assert s.jobs == {a.id: 60, b.id: 3600}
        assert {j.id for j in s.aps.get_jobs()} == {f"refresh:{a.id}", f"refresh:{b.id}"}
        # A's first turn is one interval after its last refresh; B never refreshed: now
        assert leases.due_times([a.id, b.id]) == {a.id: T0 + dt.timedelta(seconds=60), b.id: T0}

        set_schedule(a, 120, ME)
        set_schedule(b, "off", ME)
        c = a_dynamic("C", every=30)
        s.sync()
        assert s.jobs == {a.id: 120, c.id: 30}
        trigger = s.aps.get_job(f"refresh:{a.id}").trigger
        assert trigger.interval == dt.timedelta(seconds=120)
        # anchored at the due time, so every process fires when the segment is due
        assert trigger.start_date == (T0 + dt.timedelta(seconds=120)).replace(tzinfo=dt.timezone.utc)

        # a refresh by any process moves the due time: the job follows it
        frozen.advance(seconds=120)
        assert leases.take(a.id, "elsewhere")
        leases.release(a.id, "elsewhere", 120)
        s.sync()
        assert s.aps.get_job(f"refresh:{a.id}").trigger.start_date == (
            T0 + dt.timedelta(seconds=240)).replace(tzinfo=dt.timezone.utc)

        c.delete_instance()
        s.sync()
        assert s.jobs == {a.id: 120}
    finally:
        s.stop(wait=False)


def test_the_scheduler_looks_at_least_every_30_seconds():
    with pytest.raises(BadInput):
        SegmentScheduler(config_mod.Config(), sync_every=60)


def test_jobs_coalesce_and_never_overlap(db):
    s = SegmentScheduler(config_mod.Config(), sync_every=1)
    a_dynamic(every=60)
    s.aps.start(paused=True)
    s.sync()
    try:
        job = s.aps.get_jobs()[0]
        assert (job.coalesce, job.max_instances) == (True, 1)
        assert job.misfire_grace_time > 0
    finally:
        s.stop(wait=False)


def test_a_due_segment_held_by_another_is_looked_at_again_when_the_lease_ends(db, frozen):
    seg = a_dynamic(every=3600)
    leases.ensure(seg.id, T0)
    assert leases.held_until(seg.id) is None
    assert leases.take(seg.id, "other", lease_for=30)
    assert leases.held_until(seg.id) == T0 + dt.timedelta(seconds=30)
    s = SegmentScheduler(config_mod.Config(), sync_every=1)
    s.aps.start(paused=True)
    try:
        assert s.refresh(seg.id) == "skipped"
        retry = s.aps.get_job(f"retry:{seg.id}")
        assert retry.trigger.run_date == (T0 + dt.timedelta(seconds=30.5)).replace(tzinfo=dt.timezone.utc)
    finally:
        s.stop(wait=False)


def test_scheduled_refreshes_make_runs_and_a_size_history(db, frozen):
    from core import segments
    from core.store.models import Contact
    from tests.factories import make_contacts

    ids = make_contacts(4, region="Kyiv")
    seg, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME, every=60)
    leases.ensure(seg.id, T0 + dt.timedelta(seconds=60))
    assert refresh_if_due(seg.id, "me") == "skipped"  # not due yet
    frozen.advance(seconds=60)
    assert refresh_if_due(seg.id, "me") == "refreshed"
    assert refresh_if_due(seg.id, "other") == "skipped"  # the same period, once
    Contact.update(region_norm="lviv").where(Contact.id == ids[0]).execute()
    frozen.advance(seconds=60)
    assert refresh_if_due(seg.id, "other") == "refreshed"
    runs = RefreshRun.select().where(RefreshRun.segment == seg.id).order_by(RefreshRun.id)
    assert [(r.trigger, r.total) for r in runs] == [("create", 4), ("schedule", 4), ("schedule", 3)]
    assert [h["size"] for h in show(Segment.get_by_id(seg.id))["history"]] == [4, 4, 3]
