"""`make bench` / `python -m bench`: Segmenta against the same work done by hand.

Generates N contacts with about 2.5 orders each as CSV (cached in --data),
then runs each operation through the `segmenta` command, and the same work by
hand — the sqlite3 shell, or psql with --db postgresql://… — on the same data
in the same run. Every step is a process of its own, so its peak memory is
its own, and each command's start-up, measured in the same run, is
subtracted from its time. Then the two faces under load: Slack's acks while a
million members are refreshed, and the terminal UI's first page of them.

Prints a table of times, ratios and peak memory, and writes it as JSON.

    python -m bench --contacts 1000000
    python -m bench --contacts 100000 --db postgresql://postgres@127.0.0.1:5432/test
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from . import faces
from .generate import generate
from .hand import BIG_CONDITION, CONDITION, postgres_steps, sqlite_steps

# Each operation's goal: at most this many times the time by hand.
GOALS = {"import": 3, "first refresh": 2, "refresh again": 2, "preview count": 2, "export csv": 3, "split in 2": 3}
SLACK_ACK_GOAL = 1.0  # seconds, p99
TUI_PAGES_GOAL = 2  # pages read for the first page of the members
PEAK_MB_GOAL = 300
SEGMENTA = [sys.executable, "-m", "core.cli"]


class _Process(subprocess.Popen):
    """A Popen that keeps the child's own resource usage (peak memory)."""

    rusage = None

    def _try_wait(self, wait_flags):
        pid, status, rusage = os.wait4(self.pid, wait_flags)
        if pid:
            self.rusage = rusage
        return pid, status


def timed(cmd: list[str], stdin: str | None = None, env=None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and output of one process."""
    start = time.perf_counter()
    proc = _Process(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out, _ = proc.communicate(stdin)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out[-2000:]}")
    return seconds, proc.rusage.ru_maxrss / 1024, out


def startup_of(cmd: list[str], stdin: str | None = None, times: int = 3) -> float:
    """The quickest of a few runs of a command that does (almost) nothing."""
    return min(timed(cmd, stdin)[0] for _ in range(times))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="a PostgreSQL URL (a server where databases may be created and "
                                                "dropped) to run on instead of SQLite; by hand: psql")
    ap.add_argument("--data", default="bench/out", help="where the CSV files and results go (default bench/out)")
    ap.add_argument("--no-faces", action="store_true", help="skip the Slack and terminal UI rows")
    args = ap.parse_args(argv)
    data = Path(args.data)
    t0 = time.perf_counter()
    contacts, orders, n_orders = generate(args.contacts, data)
    print(f"data: {args.contacts:,} contacts, {n_orders:,} orders ({time.perf_counter() - t0:.0f} s to generate)")
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="segmenta-bench-"))
    try:
        if args.db:
            with postgres_databases(args.db) as (ours_url, hand_url):
                rows = run(ours_url, contacts, orders, work, args, hand=lambda: by_hand_postgres(
                    hand_url, contacts, orders, work))
        else:
            url = f"sqlite:///{work / 'segmenta.db'}"
            rows = run(url, contacts, orders, work, args, hand=lambda: by_hand_sqlite(contacts, orders, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, args, data, load_before, os.getloadavg(), n_orders)
    return 0


# ---- Segmenta -----------------------------------------------------------------------------

def run(url: str, contacts: Path, orders: Path, work: Path, args, hand) -> list[dict]:
    seg = lambda *a: SEGMENTA + ["--db", url, *a]  # noqa: E731
    timed(seg("audit", "--limit", "1"))  # creates the schema
    startup = startup_of(seg("audit", "--limit", "1"))
    ours = {}
    s1 = timed(seg("import", "contacts", str(contacts)))
    s2 = timed(seg("import", "orders", str(orders)))
    ours["import"] = (s1[0] + s2[0] - 2 * startup, max(s1[1], s2[1]))
    steps = [
        ("first refresh", ("create", "dynamic", "Bench", "--where", CONDITION, "--json")),
        ("refresh again", ("refresh", "Bench", "--json")),
        ("preview count", ("preview", "--where", CONDITION, "--json")),
        ("make big", ("create", "dynamic", "Big", "--where", BIG_CONDITION)),
        ("export csv", ("export", "Big", "--csv", str(work / "ours.csv"))),
        ("split in 2", ("split", "Big", "--parts", "2", "--seed", "1")),
    ]
    print(f"  Segmenta import: {ours['import'][0]:.1f} s", flush=True)
    for step, cmd in steps:
        t, mb, _ = timed(seg(*cmd))
        ours[step] = (t - startup, mb)
        print(f"  Segmenta {step}: {ours[step][0]:.2f} s", flush=True)
    members = json.loads(timed(seg("show", "Big", "--json"))[2])["members"]
    exported = sum(1 for _ in open(work / "ours.csv", encoding="utf-8")) - 1
    assert exported == members, f"exported {exported:,} of {members:,} members"

    by_hand, hand_startup = hand()
    rows = [
        {"operation": step, "segmenta_s": round(ours[step][0], 2), "by_hand_s": round(by_hand[step], 2),
         "ratio": round(ours[step][0] / by_hand[step], 2), "goal": f"≤{GOALS[step]}×",
         "ok": ours[step][0] / by_hand[step] <= GOALS[step], "peak_mb": round(ours[step][1]),
         "note": f"{members:,} members" if step in ("export csv", "split in 2") else ""}
        for step in GOALS
    ]
    if not args.no_faces:
        slack = faces.slack_row(url, _Process)
        rows.append({"operation": "Slack ack p99", "segmenta_s": round(slack["p99"], 3), "goal": f"≤{SLACK_ACK_GOAL:g} s",
                     "ok": slack["p99"] <= SLACK_ACK_GOAL and slack["burst_within_refresh"],
                     "peak_mb": round(slack["peak_mb"] or 0),
                     "note": (f"{faces.BURST} commands during a refresh of {args.contacts:,} members "
                              f"({slack['refresh_s']:.1f} s); median {slack['median']:.3f} s"
                              + ("" if slack["burst_within_refresh"] else "; the refresh ended first")),
                     "detail": slack})
        t, mb, out = timed([sys.executable, "-m", "bench.faces", "tui", url, faces.EVERYONE])
        tui = json.loads(out.strip().splitlines()[-1])
        rows.append({"operation": "terminal UI first page", "segmenta_s": round(tui["seconds"], 2),
                     "goal": f"≤{TUI_PAGES_GOAL} pages", "ok": tui["pages_fetched"] <= TUI_PAGES_GOAL,
                     "peak_mb": round(mb),
                     "note": f"{tui['rows_fetched']:,} rows fetched ({tui['pages_fetched']} page(s) of "
                             f"{tui['page_size']}) of {tui['members']:,} members", "detail": tui})
    peak = max(r["peak_mb"] for r in rows)
    rows.append({"operation": "peak memory, any step", "peak_mb": peak, "goal": f"≤{PEAK_MB_GOAL} MB",
                 "ok": peak <= PEAK_MB_GOAL, "note": ""})
    rows.append({"operation": "start-up (subtracted)", "segmenta_s": round(startup, 2),
                 "by_hand_s": round(hand_startup, 3), "note": "each command's own, measured in this run"})
    return rows


# ---- by hand --------------------------------------------------------------------------------

def by_hand_sqlite(contacts: Path, orders: Path, work: Path) -> tuple[dict, float]:
    return _by_hand(["sqlite3", str(work / "hand.db")], sqlite_steps(str(contacts), str(orders), str(work / "hand.csv")))


def by_hand_postgres(url: str, contacts: Path, orders: Path, work: Path) -> tuple[dict, float]:
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"]
    return _by_hand(psql, postgres_steps(str(contacts), str(orders), str(work / "hand.csv")))


def _by_hand(shell: list[str], steps: list[tuple[str, str]]) -> tuple[dict, float]:
    """Each step's SQL through SHELL: its time less the shell's start-up; and that start-up."""
    startup = startup_of(shell, "SELECT 1;")
    out = {}
    for step, sql in steps:
        out[step] = max(timed(shell, stdin=sql)[0] - startup, 1e-3)
        print(f"  by hand {step}: {out[step]:.2f} s", flush=True)
    return out, startup


@contextmanager
def postgres_databases(url: str):
    """Two fresh databases on URL's server, one for Segmenta and one by hand; dropped after."""
    import psycopg

    base, _, _ = url.rpartition("/")
    names = [f"segmenta_bench_{os.getpid()}", f"segmenta_hand_{os.getpid()}"]

    def admin(sql):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)

    for name in names:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin(f'CREATE DATABASE "{name}"')
    try:
        yield tuple(f"{base}/{name}" for name in names)
    finally:
        for name in names:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- the report ---------------------------------------------------------------------------------

def report(rows: list[dict], args, data: Path, load_before, load_after, n_orders: int) -> None:
    head = f"{'operation':<26}{'Segmenta s':>11}{'by hand s':>11}{'ratio':>8}{'goal':>12}{'peak MB':>9}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        ok = "" if "ok" not in r else ("  ok" if r["ok"] else "  OVER")
        print(f"{r['operation']:<26}{_cell(r.get('segmenta_s')):>11}{_cell(r.get('by_hand_s')):>11}"
              f"{_cell(r.get('ratio')):>8}{r.get('goal', ''):>12}{_cell(r.get('peak_mb')):>9}  {r.get('note', '')}{ok}")
    backend = "postgresql" if args.db else "sqlite"
    print(f"\nload average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {os.cpu_count()} CPUs")
    out = data / f"results-{args.contacts}-{backend}.json"
    out.write_text(json.dumps({"contacts": args.contacts, "orders": n_orders, "backend": backend,
                               "load_average": {"before": load_before, "after": load_after},
                               "cpus": os.cpu_count(), "rows": rows}, indent=2, default=str))
    print(f"(JSON: {out})")


def _cell(value) -> str:
    return "" if value is None else str(value)


if __name__ == "__main__":
    raise SystemExit(main())
