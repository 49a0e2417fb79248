"""Kill -9 at random moments (docs/reliability.md, "Crashes").

Each operation runs as a real `segmenta` command in a child process, which is
sent SIGKILL at a moment drawn from a seeded RNG. Afterwards the database
opens, passes SQLite's `PRAGMA integrity_check` and `foreign_key_check`, and:

- refresh, split, export to a list, delete with contacts: the database is
  exactly as before the command or exactly as after an uninterrupted run
  (contacts with their interests, custom values and orders; segments with
  their counts; members; joined/left history; refresh runs; notices; audit
  entries), and running the command again from "before" gives "after";
- import (which commits each batch of 5,000 rows on its own): every batch is
  either whole or absent, the batches present are the first ones of the file,
  every dynamic segment holds exactly the contacts its condition selects (a
  refresh would change nothing), the list imported into holds exactly the
  committed rows, and running the import again gives the same database as
  one uninterrupted run.

The seed is printed and named in every failure; SEGMENTA_CRASH_SEED=N repeats
the kill moments, SEGMENTA_CRASH_ROUNDS=N runs more rounds per operation.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from core import imports, notices, segments
from core.audit import Actor
from core.store import db as store_db
from core.store.models import Contact, CustomValue, Interest, Membership, Order, Segment
from core.text import norm
from tests.conftest import ON_CI, PG_ADMIN_URL
from tests.factories import make_contacts, totals_from_orders

SEED = int(os.environ.get("SEGMENTA_CRASH_SEED") or random.SystemRandom().randrange(1_000_000))
ROUNDS = int(os.environ.get("SEGMENTA_CRASH_ROUNDS") or 0)  # random kills per test; 0: the defaults below
ME = Actor("tester", "cli")
REGIONS = ("Kyiv", "Lviv", "Odesa")

# The real command line in a child: everything is imported before "ready", so
# that the kill moments fall in the command's own work, not in Python's start.
CHILD = """
import os, sys, time
from pathlib import Path
from core.cli.main import cli
from core import audit, delete, export, imports, notices, refresh, split  # noqa: F401

stall = os.environ.get("RELIABILITY_STALL")
if stall:  # stop inside the operation's transaction, once its audit entry is written
    record = audit.record

    def stalled(*args, **kwargs):
        entry = record(*args, **kwargs)
        Path(stall).write_text("inside the transaction")
        time.sleep(600)
        return entry

    audit.record = stalled
rows = os.environ.get("RELIABILITY_ROWS_PER_TRANSACTION")
if rows:  # an import's transaction: this many rows (several transactions in a small file)
    for name in ("batch_size", "commit_every"):
        if name in imports.import_contacts.__kwdefaults__:
            imports.import_contacts.__kwdefaults__[name] = int(rows)
print("ready", flush=True)
cli.main(args=sys.argv[1:], prog_name="segmenta")
"""


def child_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTA_")}


# ---- the databases ---------------------------------------------------------------------

class SqliteFiles:
    name = "sqlite"

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.db"

    def url(self, name: str) -> str:
        return f"sqlite:///{self.path(name)}"

    def create(self, name: str) -> str:
        return self.url(name)

    def clone(self, source: str, name: str) -> str:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path(name)}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(self.path(source), self.path(name))  # closed, so checkpointed: one file
        return self.url(name)

    def connect(self, name: str):
        return sqlite3.connect(self.path(name))

    def check(self, name: str) -> None:
        """The file opens (recovering its WAL) and SQLite finds nothing wrong in it."""
        with self.connect(name) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        conn.close()

    def drop(self, name: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path(name)}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        pass


class PostgresDatabases:
    """Databases of this test process, copied with CREATE DATABASE … TEMPLATE."""

    name = "postgres"

    def __init__(self):
        import psycopg

        self.psycopg = psycopg
        self.base = PG_ADMIN_URL.rsplit("/", 1)[0]
        self.prefix = f"rel_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}_"
        self.admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
        self.made: set[str] = set()

    def url(self, name: str) -> str:
        return f"{self.base}/{self.prefix}{name}"

    def create(self, name: str) -> str:
        self.drop(name)
        self.admin.execute(f'CREATE DATABASE "{self.prefix}{name}"')
        self.made.add(name)
        return self.url(name)

    def clone(self, source: str, name: str) -> str:
        self.drop(name)
        self.admin.execute(f'CREATE DATABASE "{self.prefix}{name}" TEMPLATE "{self.prefix}{source}"')
        self.made.add(name)
        return self.url(name)

    def connect(self, name: str):
        return self.psycopg.connect(self.url(name))

    def check(self, name: str) -> None:
        """The killed client's server process is gone (its transaction rolled back) and
        the database answers."""
        deadline = time.monotonic() + 10
        while self.admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.prefix + name,)).fetchone()[0]:
            assert time.monotonic() < deadline, "the killed client's session outlived it"
            time.sleep(0.05)
        with self.connect(name) as conn:
            assert conn.execute("SELECT count(*) FROM segment").fetchone()[0] >= 0

    def drop(self, name: str) -> None:
        self.admin.execute(f'DROP DATABASE IF EXISTS "{self.prefix}{name}" WITH (FORCE)')
        self.made.discard(name)

    def close(self) -> None:
        for name in list(self.made):
            self.drop(name)
        self.admin.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store(request, tmp_path_factory):
    """The databases of one backend; the bases each test starts from are built once."""
    if request.param == "sqlite":
        s = SqliteFiles(tmp_path_factory.mktemp("crash"))
    else:
        try:
            s = PostgresDatabases()
        except Exception as e:  # pragma: no cover - depends on the machine
            if ON_CI:
                pytest.fail(f"PostgreSQL is required on CI but unreachable at {PG_ADMIN_URL}: {e}")
            pytest.skip(f"PostgreSQL unreachable at {PG_ADMIN_URL}: {e}")
    s.built = set()
    yield s
    store_db.close_database()
    s.close()


@pytest.fixture
def rng(request):
    print(f"kill moments from seed {SEED}: SEGMENTA_CRASH_SEED={SEED} repeats them")
    return random.Random(f"{SEED}:{request.node.name}")


# ---- the child ------------------------------------------------------------------------------

@dataclass
class Run:
    seconds: float  # from "ready" to the end (or the kill)
    returncode: int
    output: str
    finished_before_kill: bool = True


def start(url: str, args: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "--db", url, *args], cwd=cwd,
                            env={**child_env(), **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    line = proc.stdout.readline() if ready else ""
    assert line.strip() == "ready", line + proc.stdout.read() if ready else "the child never started"
    return proc


def run_to_end(url: str, args: list[str], cwd: Path, env: dict | None = None) -> Run:
    proc = start(url, args, cwd, env)
    started = time.monotonic()
    output = proc.stdout.read()
    code = proc.wait(600)
    return Run(time.monotonic() - started, code, output)


def kill(proc: subprocess.Popen, started: float) -> Run:
    finished = proc.poll() is not None
    proc.send_signal(signal.SIGKILL)
    output = proc.stdout.read()
    code = proc.wait(60)
    return Run(time.monotonic() - started, code, output, finished)


def run_and_kill(url: str, args: list[str], cwd: Path, delay: float) -> Run:
    """Kill the command DELAY seconds after it started its work."""
    proc = start(url, args, cwd)
    started = time.monotonic()
    time.sleep(delay)
    return kill(proc, started)


def run_and_kill_inside_the_transaction(url: str, args: list[str], cwd: Path) -> Run:
    """Kill the command while its transaction is open, with every change made and not committed."""
    marker = cwd / "stalled"
    marker.unlink(missing_ok=True)
    proc = start(url, args, cwd, {"RELIABILITY_STALL": str(marker)})
    started = time.monotonic()
    while not marker.exists():
        assert proc.poll() is None, "the command ended without stalling: " + proc.stdout.read()
        assert time.monotonic() - started < 60, "the command never reached its audit entry"
        time.sleep(0.01)
    return kill(proc, started)


def run_and_kill_at_progress(url: str, args: list[str], cwd: Path, progress, target: int, fraction: float,
                             env: dict | None = None) -> tuple[Run, float]:
    """Kill the command once PROGRESS() reaches TARGET, then FRACTION of one transaction's
    time later (so that the kill lands anywhere inside the next one); returns the run and that wait."""
    proc = start(url, args, cwd, env)
    started = time.monotonic()
    first, per_transaction = progress(), None
    while proc.poll() is None:
        now = progress()
        if per_transaction is None and now != first:  # the first commit: one transaction's time, about
            per_transaction = time.monotonic() - started
        if now >= target:
            break
        assert time.monotonic() - started < 600
        time.sleep(0.02)
    wait = fraction * max(0.6, per_transaction or 0.6)
    time.sleep(wait)
    return kill(proc, started), wait


# ---- what is in a database, without ids or clock times ---------------------------------

def _digest(value) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=10).hexdigest()


CONTACT_COLUMNS = [f.column_name for f in Contact._meta.sorted_fields if f.name not in ("id", "updated_at")]


def snapshot(conn) -> dict:
    """Everything an operation may change, each row named by emails and segment names."""
    rows = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
    extras: dict[int, list] = defaultdict(list)
    for sql in ("SELECT contact_id, 'interest', value, display, NULL, NULL, NULL FROM interest",
                "SELECT contact_id, 'custom', key, text, number, date, yesno FROM custom_value",
                'SELECT contact_id, \'order\', order_id, total, currency, created_at, NULL FROM "order"'):
        for cid, *rest in rows(sql):
            extras[cid].append(tuple(str(v) for v in rest))
    email_of, contacts = {}, {}
    for cid, *values in rows(f"SELECT id, {', '.join(CONTACT_COLUMNS)} FROM contact"):
        email = values[CONTACT_COLUMNS.index("email_norm")]
        email_of[cid] = email
        contacts[email] = _digest((values, sorted(extras.get(cid, ()))))
    seg_name = {}
    segs = {}
    for sid, name, kind, cond, count, origin, every, off, by in rows(
            "SELECT id, name, kind, condition_text, member_count, origin, refresh_every, schedule_off, created_by "
            "FROM segment"):
        seg_name[sid] = name
        origin = {k: v for k, v in json.loads(origin).items() if k != "source_id"} if origin else None
        segs[name] = (kind, cond, count, origin, every, bool(off), by)
    members = defaultdict(list)
    for sid, cid in rows("SELECT segment_id, contact_id FROM membership"):
        members[seg_name[sid]].append(email_of[cid])
    changes = defaultdict(list)
    for sid, cid, change, reason in rows("SELECT segment_id, contact_id, change, reason FROM membership_change"):
        changes[seg_name[sid]].append((email_of.get(cid, f"deleted #{cid}"), change, reason))
    runs = Counter((seg_name[r[0]], *r[1:]) for r in rows(
        'SELECT segment_id, trigger, total, joined, "left", error, finished_at IS NOT NULL, actor FROM refresh_run'))
    audit = Counter(rows("SELECT actor, face, operation, segment_name FROM audit_entry"))
    sent = Counter(rows('SELECT segment_name, channel, size, joined, "left", state FROM notice'))
    baseline = defaultdict(list)
    for channel, sid, cid in rows("SELECT s.channel, s.segment_id, b.contact_id FROM notice_baseline b "
                                  "JOIN subscription s ON s.id = b.subscription_id"):
        baseline[(channel, seg_name[sid])].append(email_of.get(cid, f"deleted #{cid}"))
    return {
        "contacts": contacts,
        "segments": segs,
        "members": {k: (len(v), _digest(sorted(v))) for k, v in members.items()},
        "history": {k: (len(v), _digest(sorted(v))) for k, v in changes.items()},
        "refresh runs": runs,
        "audit": audit,
        "notices": sent,
        "baselines": {k: (len(v), _digest(sorted(v))) for k, v in baseline.items()},
    }


def read(store, name: str) -> dict:
    conn = store.connect(name)
    try:
        return snapshot(conn)
    finally:
        conn.close()


def differences(a: dict, b: dict) -> str:
    """What differs between two snapshots, briefly."""
    out = []
    for part in a:
        if a[part] == b[part]:
            continue
        if isinstance(a[part], dict):
            keys = sorted(k for k in set(a[part]) | set(b[part]) if a[part].get(k) != b[part].get(k))
            out.append(f"{part}: {len(keys)} differ, e.g. " + "; ".join(
                f"{k}: {a[part].get(k)} / {b[part].get(k)}" for k in keys[:3]))
        else:
            out.append(f"{part}: {a[part] - b[part]} / {b[part] - a[part]}")
    return "\n".join(out) or "no difference"


def counts_are_true(store, name: str) -> None:
    """Every segment's member count is its number of members."""
    conn = store.connect(name)
    try:
        wrong = conn.execute(
            "SELECT s.name, s.member_count, (SELECT count(*) FROM membership m WHERE m.segment_id = s.id) "
            "FROM segment s").fetchall()
    finally:
        conn.close()
    assert [w for w in wrong if w[1] != w[2]] == []


def dynamic_segments_follow_their_conditions(url: str) -> None:
    """Each dynamic segment holds exactly what its condition selects now: a refresh would change nothing."""
    from core.refresh import matching_query

    store_db.open_database(url, migrate=False)
    try:
        for seg in Segment.select().where(Segment.kind == "dynamic"):
            wanted = {i for (i,) in matching_query(segments.condition_tree(seg)).tuples()}
            have = {i for (i,) in Membership.select(Membership.contact).where(Membership.segment == seg).tuples()}
            assert wanted == have, f'"{seg.name}": {len(wanted - have)} should join, {len(have - wanted)} should leave'
    finally:
        store_db.close_database()


# ---- the data ------------------------------------------------------------------------------

def fill(url: str, n: int) -> None:
    """N contacts with interests, custom values and orders; two lists and three dynamic
    segments (one through `not in segment`), and a channel told of "Kyiv"."""
    store_db.open_database(url)
    try:
        def cents(i, k):  # every third contact has two orders; their sums are its totals
            return 4000 + 1000 * k + i % 7000

        ids = make_contacts(
            n, region=lambda i: REGIONS[i % 3], gender=lambda i: "female" if i % 2 else "male",
            first_name=lambda i: f"First{i}")
        numbered = list(enumerate(ids))
        for start in range(0, n, 2000):
            chunk = numbered[start:start + 2000]
            Interest.insert_many([{"contact": c, "value": "sport", "display": "Sport"}
                                  for _, c in chunk[::4]]).execute()
            CustomValue.insert_many([{"contact": c, "key": "tier", "text": "gold", "norm": "gold"}
                                     for _, c in chunk[::5]]).execute()
            Order.insert_many([{"order_id": f"o{i}-{k}", "contact": c, "total": cents(i, k), "currency": "UAH",
                                "created_at": dt.date(2024, 1 + k, 1 + i % 28)}
                               for i, c in chunk if i % 3 == 0 for k in range(2)]).execute()
        totals_from_orders()
        vip = segments.create_list("VIP", ME)
        segments.add_contacts(vip, ids[: n // 10], ME)
        traps = segments.create_list("Spam traps", ME)
        segments.add_contacts(traps, ids[n // 20: n // 20 + n // 8], ME)
        kyiv, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME)
        segments.create_dynamic("Kyiv women not VIP", 'region = Kyiv and gender = female and not in segment VIP', ME)
        segments.create_dynamic("Big spenders", "orders.total > 100", ME)
        notices.subscribe(kyiv, "#growth", ME)
    finally:
        store_db.close_database()


def behind_the_segments_back(url: str) -> None:
    """Move contacts between regions without telling the segments: only a refresh notices."""
    store_db.open_database(url, migrate=False)
    try:
        for old, new, step in (("Kyiv", "Odesa", 3), ("Lviv", "Kyiv", 4)):
            ids = [i for (i,) in Contact.select(Contact.id).where(Contact.region == old).tuples()][::step]
            for i in range(0, len(ids), 500):
                Contact.update(region=new, region_norm=norm(new)).where(Contact.id.in_(ids[i:i + 500])).execute()
    finally:
        store_db.close_database()


SIZES = {"sqlite": 20_000, "postgres": 8_000}  # contacts before each one-transaction operation
IMPORTS = {"sqlite": (20_000, 200_000), "postgres": (4_000, 12_000)}  # contacts before, rows in the file


def base(store, name: str) -> str:
    """The database NAME as each test starts from it, built the first time."""
    if name not in store.built:
        if name == "base-refresh":
            base(store, "base")
            url = store.clone("base", name)
            behind_the_segments_back(url)
        else:
            url = store.create(name)
            fill(url, IMPORTS[store.name][0] if name == "base-import" else SIZES[store.name])
        store.built.add(name)
    return store.url(name)


# ---- the operations that are one transaction --------------------------------------------

ATOMIC = {
    "refresh": ["refresh", "Kyiv"],
    "split": ["split", "Kyiv", "--parts", "3", "--by", "gender", "--seed", "42"],
    "export to a list": ["export", "Kyiv women not VIP", "--to-list", "Campaign 12"],
    "delete with contacts": ["delete", "Spam traps", "--with-contacts", "--yes"],
}


@pytest.mark.parametrize("operation", list(ATOMIC))
def test_a_killed_operation_leaves_the_database_before_or_after_and_a_rerun_completes_it(
        operation, store, tmp_path, rng):
    args = ATOMIC[operation]
    source = "base-refresh" if operation == "refresh" else "base"
    base(store, source)
    before = read(store, source)
    reference = run_to_end(store.clone(source, "reference"), args, tmp_path)
    assert reference.returncode == 0, reference.output
    after = read(store, "reference")
    assert after != before
    seen = Counter()
    for i in range(1 + (ROUNDS or 1)):
        url = store.clone(source, "trial")
        if i == 0:  # first the worst moment: every change made, none committed
            killed = run_and_kill_inside_the_transaction(url, args, tmp_path)
            where = f"{operation} killed inside its transaction"
        else:
            delay = rng.uniform(0, reference.seconds)
            killed = run_and_kill(url, args, tmp_path, delay)
            where = (f"seed {SEED}, {operation} round {i}, killed {delay:.3f} s in "
                     f"(the command {'had ended' if killed.finished_before_kill else 'ran'})")
        store.check("trial")
        now = read(store, "trial")
        assert now in (before, after), f"{where}: half done\n" + differences(now, after)
        counts_are_true(store, "trial")
        state = "before" if now == before else "after"
        assert i or state == "before", f"{where}: an uncommitted transaction was kept"
        seen[state] += 1
        print(f"{where}: {state}")
        if state == "before":
            again = run_to_end(url, args, tmp_path)
            assert again.returncode == 0, f"{where}: the rerun failed\n{again.output}"
            final = read(store, "trial")
            assert final == after, f"{where}: the rerun\n" + differences(final, after)
        store.drop("trial")
    print(f"{operation}: {dict(seen)}")


# ---- the import, committed batch by batch ---------------------------------------------

def write_import(path: Path, rows: int, existing: int) -> list[str]:
    """A contacts file: every tenth row changes an existing contact (region, gender,
    interests, a custom field), the others are new. Returns the emails in file order."""
    emails = []
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("email,first_name,gender,region,interests,tier\n")
        for i in range(rows):
            if i % 10 == 0 and i // 10 < existing:
                j = i // 10
                email = f"c{j}@example.com"
                region = REGIONS[(j + 1) % 3]  # a different region than before
            else:
                email = f"new{i}@example.com"
                region = REGIONS[i % 3]
            emails.append(email)
            f.write(f"{email},Name{i},{'fm'[i % 2]},{region},{'kids;travel' if i % 4 == 0 else ''},"
                    f"{'silver' if i % 6 == 0 else ''}\n")
    return emails


def rows_per_transaction() -> int:
    """How many rows of a file an import commits at a time, as it ships."""
    defaults = imports.import_contacts.__kwdefaults__
    batch, every = defaults["batch_size"], defaults.get("commit_every")
    return batch if every is None else max(1, every // batch) * batch


def committed_batches(now: dict, before: dict, after: dict, emails: list[str], unit: int, where: str) -> int:
    """How many whole transactions of UNIT rows of the file are in NOW; fails if one is
    half there, or a later one is there without an earlier one."""
    states = []
    for b in range(0, len(emails), unit):
        batch = emails[b:b + unit]
        done = {now["contacts"].get(e) == after["contacts"][e] for e in batch}
        untouched = {now["contacts"].get(e) == before["contacts"].get(e) for e in batch}
        assert done == {True} or untouched == {True}, f"{where}: transaction {b // unit + 1} is half there"
        states.append(done == {True})
    k = states.count(True)
    assert states == [True] * k + [False] * (len(states) - k), f"{where}: transactions out of order {states}"
    in_file = set(emails)
    others = {e: d for e, d in now["contacts"].items() if e not in in_file}
    assert others == {e: d for e, d in before["contacts"].items() if e not in in_file}, where
    return k


def scalar(store, name: str, sql: str):
    conn = store.connect(name)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def list_members(store, name: str, segment: str) -> set[str]:
    conn = store.connect(name)
    try:
        return {e for (e,) in conn.execute(
            "SELECT c.email_norm FROM membership m JOIN contact c ON c.id = m.contact_id "
            f"JOIN segment s ON s.id = m.segment_id WHERE s.name = '{segment}'").fetchall()}
    finally:
        conn.close()


@pytest.mark.slow
def test_an_import_killed_midway_keeps_whole_batches_and_reruns_complete_it(store, tmp_path, rng):
    """The import is killed at a random point of its progress, then its rerun is killed
    too, then a last run completes it. On SQLite the file has the issue's 200,000 rows."""
    existing, rows = IMPORTS[store.name]
    if store.name == "sqlite":  # the 200,000 rows, in the transactions the import ships with
        unit, env = rows_per_transaction(), None
    else:  # 12,000 rows in transactions of 4,000: the first, one between, the last
        unit, env = 4_000, {"RELIABILITY_ROWS_PER_TRANSACTION": "4000"}
    path = tmp_path / "contacts.csv"
    emails = write_import(path, rows, existing)
    args = ["import", "contacts", str(path), "--list", "Imported"]
    base(store, "base-import")
    before = read(store, "base-import")
    new_rows = len(set(emails) - set(before["contacts"]))
    transactions = -(-rows // unit)
    url = store.clone("base-import", "trial")
    reference_url = store.clone("base-import", "reference")
    with ThreadPoolExecutor(1) as pool:  # the uninterrupted run beside the first killed one: two cores
        reference = pool.submit(run_to_end, reference_url, args, tmp_path, env)
        after = None
        for i in range(ROUNDS or 2):
            share, fraction = rng.uniform(0.02, 0.98), rng.random()
            target = len(before["contacts"]) + int(share * new_rows)
            killed, jitter = run_and_kill_at_progress(
                url, args, tmp_path, lambda: scalar(store, "trial", "SELECT count(*) FROM contact"), target, fraction,
                env)
            where = (f"seed {SEED}, import of {rows:,} rows, run {i + 1} killed {jitter:.2f} s after "
                     f"{share:.0%} of the new contacts{' (it had ended)' if killed.finished_before_kill else ''}")
            if after is None:
                done = reference.result()
                assert done.returncode == 0, done.output
                after = read(store, "reference")
            store.check("trial")
            now = read(store, "trial")
            k = committed_batches(now, before, after, emails, unit, where)
            print(f"{where}: {k} of {transactions} transactions of {unit:,} rows committed")
            assert list_members(store, "trial", "Imported") == set(emails[:k * unit]), where
            dynamic_segments_follow_their_conditions(url)
            counts_are_true(store, "trial")
            if k == transactions:  # whole: only the import's own audit entry may be missing
                assert {p: v for p, v in now.items() if p != "audit"} == {
                    p: v for p, v in after.items() if p != "audit"}, where
    again = run_to_end(url, args, tmp_path, env)
    assert again.returncode == 0, f"seed {SEED}: the last run failed\n{again.output}"
    final = read(store, "trial")
    # The same database as one uninterrupted run; the audit trail also tells of the killed runs.
    extra = final["audit"] - after["audit"]
    assert not after["audit"] - final["audit"] and {op for _, _, op, _ in extra} <= {"import"}, extra
    final["audit"] = after["audit"]
    assert final == after, f"seed {SEED}: the last run\n" + differences(final, after)


# ---- the audit trail of a killed import -----------------------------------------------

STALLED_IMPORT = """
import sys, time
from pathlib import Path
from core import imports
from core.audit import Actor
from core.store import open_database

url, path, marker = sys.argv[1:4]
open_database(url)

def progress(done, total):  # in the second transaction of 100 rows: the first is committed
    if 150 < done < total:
        Path(marker).write_text(str(done))
        time.sleep(60)

small = {k: 100 for k in ("batch_size", "commit_every") if k in imports.import_contacts.__kwdefaults__}
imports.import_contacts(path, Actor("ana", "cli"), progress=progress, **small)
"""


def test_the_batches_of_a_killed_import_are_in_the_audit_trail(store, tmp_path):
    """Every change has its audit entry, also when the import that made it never ended."""
    url = store.create("audit")
    store_db.open_database(url)
    store_db.close_database()
    path = tmp_path / "people.csv"
    path.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(250)), encoding="utf-8")
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", STALLED_IMPORT, url, str(path), str(marker)], cwd=tmp_path,
                             env=child_env())
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None and time.monotonic() < deadline, "the import never reached its second batch"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    store.check("audit")
    conn = store.connect("audit")
    try:
        committed = conn.execute("SELECT count(*) FROM contact").fetchone()[0]
        entries = conn.execute("SELECT actor, face, operation, details FROM audit_entry").fetchall()
    finally:
        conn.close()
    assert committed in (100, 200)  # one or two transactions of 100 rows, however the import reports progress
    assert [(who, face, op) for who, face, op, _ in entries] == [("ana", "cli", "import")], (
        f"{committed} contacts were created, and the audit trail does not say by whom: {entries}")
    details = json.loads(entries[0][3])
    assert details["created"] == committed and details["incomplete"] is True
