"""Real `segmenta scheduler` processes on one database, SQLite file and PostgreSQL:
each due refresh happens once, new segments are picked up without a restart,
each notice reaches Slack once, and a process killed mid-refresh loses nothing
and lets go of its lease."""
import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


from core import notices, segments
from core.audit import Actor
from core.store.models import Contact, Membership, RefreshRun, Segment
from core.store.models_notices import Notice, RefreshLease
from tests.factories import make_contacts
from tests.slack_standin import slack_standin  # noqa: F401  (fixture)

ME = Actor("tester", "cli")
SEGMENTA = str(Path(sys.executable).parent / "segmenta")
TOKEN = "xoxb-proc-test-000-SECRET"
EVERY = 2  # seconds between a test segment's refreshes


class Scheduler:
    """One `segmenta scheduler` process, its stderr in a file."""

    def __init__(self, db_url, tmp_path, name, *extra, env=None):
        self.log = tmp_path / f"{name}.log"
        self.proc = subprocess.Popen(
            [SEGMENTA, "--db", db_url, "scheduler", "--tick", "1", *extra],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "w"), cwd=tmp_path,
            env={**{k: v for k, v in os.environ.items() if k != "SEGMENTA_CONFIG"}, **(env or {})},
        )

    def text(self) -> str:
        return self.log.read_text()

    def wait_started(self, timeout=15):
        deadline = time.monotonic() + timeout
        while "Ctrl-C stops." not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < deadline, self.text()
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def kyiv_contacts(n, start=0, region="Kyiv"):
    return make_contacts(n, start=start, region=region)


def move_away(ids, region="Lviv"):
    """Change contacts behind the segments' backs, so only a refresh notices."""
    from core.text import norm

    Contact.update(region=region, region_norm=norm(region)).where(Contact.id.in_(ids)).execute()


def schedule_runs(seg_id):
    return [r.started_at for r in RefreshRun.select().where(
        (RefreshRun.segment == seg_id) & (RefreshRun.trigger == "schedule")).order_by(RefreshRun.id)]


def wait_until(check, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def test_two_schedulers_refresh_each_due_segment_once_and_send_each_notice_once(db, db_url, tmp_path, slack_standin):
    ids = kyiv_contacts(12)
    a, _ = segments.create_dynamic("Kyiv A", "region = Kyiv", ME, every=EVERY)
    notices.subscribe(a, "#growth", ME)
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack_standin.api_url}
    slack_standin.rate_limit(times=1, retry_after=1)
    slack_standin.server_error(times=1)
    first = Scheduler(db_url, tmp_path, "first", env=env)
    second = Scheduler(db_url, tmp_path, "second", env=env)
    try:
        first.wait_started()
        second.wait_started()
        # another process creates a segment while both run: no restart needed
        made = subprocess.run([SEGMENTA, "--db", db_url, "create", "dynamic", "Kyiv B", "--where", "region = Kyiv",
                               "--every", f"{EVERY}s"], capture_output=True, text=True, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
        b = segments.resolve("Kyiv B")
        move_away(ids[:3])
        time.sleep(EVERY + 0.5)
        move_away(ids[3:5])
        assert wait_until(lambda: len(schedule_runs(b.id)) >= 2, 10)
        time.sleep(EVERY)
        # the senders work through a 429 and a 500 (with backoff) before the outbox is empty
        assert wait_until(lambda: Notice.select().where(Notice.state == "sent").count() == 2, 15)
    finally:
        # Ctrl-C for one, SIGTERM for the other: both stop cleanly
        assert first.stop(signal.SIGINT) == 0, first.text()
        assert second.stop(signal.SIGTERM) == 0, second.text()
    for proc in (first, second):
        assert "Scheduler stopped." in proc.text()
        assert TOKEN not in proc.text()

    for seg in (a, b):
        runs = schedule_runs(seg.id)
        assert len(runs) >= 2
        # Once per due period: the lease's grid is fixed (due times D + k*EVERY) and a
        # run starts only after its due time, so no two runs may share a period.
        lease = RefreshLease.get_by_id(seg.id)
        periods = [(started - lease.next_due_at) // dt.timedelta(seconds=EVERY) for started in runs]
        assert len(set(periods)) == len(periods), (seg.name, runs, lease.next_due_at)
        assert Segment.get_by_id(seg.id).member_count == 7
        assert lease.holder is None

    sent = slack_standin.calls("chat.postMessage", ok=True)
    owed = list(Notice.select().order_by(Notice.id))
    assert [(n.joined, n.left) for n in owed] == [(0, 3), (0, 2)]
    assert {n.state for n in owed} == {"sent"}
    assert len(sent) == len(owed)  # each once, after a 429 and a 500
    assert [c.params["channel"] for c in sent] == ["#growth", "#growth"]
    assert {c.token for c in slack_standin.calls()} == {TOKEN}


KILLABLE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from core import refresh, scheduler
    from core.store import open_database

    url, seg_id, marker = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    open_database(url)

    def stall(seg, run_id):  # inside the refresh's transaction, after the members changed
        marker.write_text("mid-refresh")
        time.sleep(60)

    refresh.AFTER_REFRESH.append(stall)
    scheduler.refresh_if_due(seg_id, "doomed", lease_for=2)
""")


def test_a_scheduler_killed_mid_refresh_loses_nothing_and_its_lease_expires(db, db_url, tmp_path):
    from core import leases
    from core.clock import utcnow_naive

    ids = kyiv_contacts(10)
    seg, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME, every=3600)
    move_away(ids[:4])
    leases.ensure(seg.id, utcnow_naive())
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", KILLABLE, db_url, str(seg.id), str(marker)], cwd=tmp_path)
    try:
        assert wait_until(marker.exists, 15), "the child never reached the middle of its refresh"
        assert leases.take(seg.id, "intruder") is False  # held while the holder lives
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)

    members = Membership.select().where(Membership.segment == seg.id)
    assert members.count() == 10  # the half-done refresh left no trace
    assert RefreshRun.select().where(RefreshRun.trigger == "schedule").count() == 0
    lease = RefreshLease.get_by_id(seg.id)
    assert lease.holder == "doomed"

    # another scheduler takes the same, still due refresh once the lease has expired
    other = Scheduler(db_url, tmp_path, "other", "--lease", "2")
    try:
        other.wait_started()
        assert wait_until(lambda: len(schedule_runs(seg.id)) == 1, 10), other.text()
    finally:
        assert other.stop() == 0
    assert Membership.select().where(Membership.segment == seg.id).count() == 6
    assert lease.expires_at < dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(seconds=5)
    assert RefreshLease.get_by_id(seg.id).holder is None
