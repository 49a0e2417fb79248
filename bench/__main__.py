"""`make bench` / `python -m bench`: Segmenta against the same work by hand.

Every step runs as its own process (so its peak memory is its own), and the
command's start-up, measured in the same run, is subtracted from each
Segmenta time. Prints a table of times, ratios and peak memory, and writes
it as JSON.
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
from pathlib import Path

from .generate import generate
from .hand import CONDITION, sqlite_steps

GOALS = {"import": 3, "first refresh": 2, "refresh again": 2, "preview count": 2, "export csv": 3, "split in 2": 3}
SEGMENTA = [sys.executable, "-m", "core.cli"]


class _Process(subprocess.Popen):
    """A Popen that keeps the child's own resource usage (peak memory)."""

    rusage = None

    def _try_wait(self, wait_flags):
        pid, status, self.rusage = os.wait4(self.pid, wait_flags)
        return pid, status


def timed(cmd: list[str], stdin: str | None = None, env=None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, and output of one process."""
    start = time.perf_counter()
    proc = _Process(cmd, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out, _ = proc.communicate(stdin)
    seconds = time.perf_counter() - start
    usage = proc.rusage
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--db", default=None, help="a PostgreSQL URL to run on instead of SQLite (by hand: psql)")
    ap.add_argument("--data", default="bench/out", help="where the CSV files and results go")
    args = ap.parse_args(argv)
    data = Path(args.data)
    t0 = time.perf_counter()
    contacts, orders, n_orders = generate(args.contacts, data)
    print(f"data: {args.contacts:,} contacts, {n_orders:,} orders ({time.perf_counter() - t0:.0f} s to generate)")
    work = Path(tempfile.mkdtemp(prefix="segmenta-bench-"))
    try:
        rows = run_sqlite(contacts, orders, work) if not args.db else run_postgres(args.db, contacts, orders, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows, args, data)
    return 0


def run_sqlite(contacts: Path, orders: Path, work: Path) -> list[dict]:
    url = f"sqlite:///{work / 'segmenta.db'}"
    seg = lambda *a: SEGMENTA + ["--db", url, *a]  # noqa: E731
    startup, _, _ = timed(seg("audit", "--limit", "1"))
    startup = min(startup, timed(seg("audit", "--limit", "1"))[0])
    ours = {}
    s1 = timed(seg("import", "contacts", str(contacts)))
    s2 = timed(seg("import", "orders", str(orders)))
    ours["import"] = (s1[0] + s2[0] - 2 * startup, max(s1[1], s2[1]))
    r = timed(seg("create", "dynamic", "Bench", "--where", CONDITION, "--json"))
    ours["first refresh"] = (r[0] - startup, r[1])
    r = timed(seg("refresh", "Bench", "--json"))
    ours["refresh again"] = (r[0] - startup, r[1])
    r = timed(seg("preview", "--where", CONDITION, "--json"))
    ours["preview count"] = (r[0] - startup, r[1])
    timed(seg("create", "dynamic", "Big", "--where", "status = active"))
    r = timed(seg("export", "Big", "--csv", str(work / "ours.csv")))
    ours["export csv"] = (r[0] - startup, r[1])
    r = timed(seg("split", "Big", "--parts", "2", "--seed", "1"))
    ours["split in 2"] = (r[0] - startup, r[1])
    members = json.loads(timed(seg("show", "Big", "--json"))[2])["members"]

    hand_db = work / "hand.db"
    sh_start, _, _ = timed(["sqlite3", str(hand_db)], stdin="SELECT 1;")
    hand = {}
    for step, sql in sqlite_steps(str(contacts), str(orders), str(work / "hand.csv")):
        t, mb, _ = timed(["sqlite3", str(hand_db)], stdin=sql)
        hand[step] = (max(t - sh_start, 1e-3), mb)
    return [
        {"operation": step, "segmenta_s": round(ours[step][0], 2), "by_hand_s": round(hand[step][0], 2),
         "ratio": round(ours[step][0] / hand[step][0], 2), "goal": GOALS[step],
         "peak_mb": round(ours[step][1]), "note": f"{members:,} members" if step in ("export csv", "split in 2") else ""}
        for step in GOALS
    ] + [{"operation": "start-up (subtracted)", "segmenta_s": round(startup, 2), "by_hand_s": round(sh_start, 3)}]


def run_postgres(url: str, contacts: Path, orders: Path, work: Path) -> list[dict]:
    raise SystemExit("the PostgreSQL run is not written yet; see docs/scaling.md")


def report(rows: list[dict], args, data: Path) -> None:
    head = f"{'operation':<24}{'Segmenta s':>12}{'by hand s':>12}{'ratio':>8}{'goal':>7}{'peak MB':>9}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        ok = "" if "ratio" not in r else ("  ok" if r["ratio"] <= r["goal"] else "  OVER")
        print(f"{r['operation']:<24}{r['segmenta_s']:>12}{r['by_hand_s']:>12}{r.get('ratio', ''):>8}"
              f"{('≤' + str(r['goal']) + '×') if 'goal' in r else '':>7}{r.get('peak_mb', ''):>9}  {r.get('note', '')}{ok}")
    out = data / f"results-{args.contacts}.json"
    out.write_text(json.dumps({"contacts": args.contacts, "db": args.db or "sqlite", "rows": rows}, indent=2))
    print(f"\n(JSON: {out})")


if __name__ == "__main__":
    raise SystemExit(main())
