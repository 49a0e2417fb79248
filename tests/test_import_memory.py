"""A big file is streamed: peak memory stays flat, whatever the number of rows.

The import runs in a child process of a child process, so that
RUSAGE_CHILDREN measures it and nothing else this test run started. SQLite is
the stricter case: its page cache lives in the importing process.
"""
from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys

from core import demo

ROWS = 100_000
LIMIT_MB = 300

_MEASURE = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""
_SEGMENTA = "import sys; from core.cli.main import cli; cli(sys.argv[1:], prog_name='segmenta')"


def write_demo_csv(path, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(demo.HEADER)
        for contact, _ in demo.contact_rows(rows, 1, dt.date(2025, 6, 15)):
            w.writerow(contact)


def peak_mb(*segmenta_args) -> float:
    """Peak RSS of `segmenta ARGS…`, in MB (ru_maxrss is in KB on Linux)."""
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-c", _SEGMENTA, *segmenta_args],
        check=True, capture_output=True, text=True,
    )
    return int(out.stdout.split()[-1]) / 1024


def test_importing_100k_contacts_stays_under_300_mb(tmp_path):
    path = tmp_path / "big.csv"
    write_demo_csv(path, ROWS)
    url = f"sqlite:///{tmp_path / 'big.db'}"
    mb = peak_mb("--db", url, "import", "contacts", str(path))
    assert mb < LIMIT_MB, f"peak {mb:.0f} MB"
    with open(path, encoding="utf-8") as f:
        last = list(csv.reader(f))[-1]  # the last row went in too
    out = subprocess.run([sys.executable, "-c", _SEGMENTA, "--db", url, "contact", last[0], "--json"],
                         check=True, capture_output=True, text=True)
    assert f'"first_name": "{last[2]}"' in out.stdout
