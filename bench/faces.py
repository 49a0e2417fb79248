"""The two faces under load: Slack's acks while a million members are
refreshed, and the terminal UI's first page of a million-member segment.

Slack: `segmenta bot --http` (a process of its own) against the Slack
stand-in of the tests, sent requests signed the way Slack signs them. One
person creates a dynamic segment that every contact matches (its first
refresh writes a million members); while that runs, 30 people send
`/segment` commands at once, and each ack is timed.

Terminal UI: `python -m bench.faces tui URL NAME` opens the members view of
NAME headless (Textual's run_test) and prints how many rows it read.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

EVERYONE = "Everyone"
EVERYONE_CONDITION = "email is not empty"
BURST = 30
# What 30 people type while the refresh runs: reading, previewing, asking for help.
BURST_COMMANDS = ("help", "list", "show Bench", "preview gender = female and region = Kyiv", "show Big",
                  "list Big")


def p99(values: list[float]) -> float:
    """The 99th percentile by nearest rank (of 30 values: the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def slack_row(url: str, process_class) -> dict:
    """Ack times of BURST commands sent while the bot refreshes a million members."""
    from tests.bot_standin import BOT_TOKEN, SIGNING_SECRET, SlackSide
    from tests.slack_standin import SlackStandin

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SEGMENTA_"))}
    with SlackStandin() as standin:
        env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=standin.api_url,
                   PYTHONUNBUFFERED="1")
        bot = process_class([sys.executable, "-m", "core.cli", "--db", url, "bot", "--http", "--port", "0",
                             "--no-scheduler"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines, port = [], []
        started = threading.Event()

        def read():
            for line in bot.stdout:
                lines.append(line)
                m = re.search(r"http://127\.0\.0\.1:(\d+)/slack/events", line)
                if m:
                    port.append(int(m.group(1)))
                    started.set()
            started.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not started.wait(60) or not port:
                raise SystemExit("the bot did not start:\n" + "".join(lines))
            slack = SlackSide(f"http://127.0.0.1:{port[0]}/slack/events", standin)
            slack.reply(slack.command("help"), timeout=60)  # the first request loads what it needs
            begun = time.time()
            refresh = slack.command(f"create dynamic {EVERYONE} where {EVERYONE_CONDITION}")
            time.sleep(0.3)  # the refresh is under way on the bot's pool
            burst_at = time.time()
            with ThreadPoolExecutor(BURST) as pool:
                acks = list(pool.map(lambda i: slack.command(BURST_COMMANDS[i % len(BURST_COMMANDS)],
                                                             user=f"U{i:04d}"), range(BURST)))
            burst_done = time.time()
            reply = slack.reply(refresh, timeout=1800)
            (answered,) = [c for c in standin.calls("response") if c.path.endswith("/" + refresh.response_id)][-1:]
            refreshed_in = answered.at - begun
        finally:
            bot.send_signal(signal.SIGTERM)
            bot.wait(60)
    if "Created" not in reply.get("text", ""):
        raise SystemExit(f"the refresh through Slack failed: {reply}")
    seconds = [a.seconds for a in acks]
    bad = [a.status for a in acks if a.status != 200]
    if bad:
        raise SystemExit(f"the bot answered {bad}")
    during = burst_done <= answered.at
    return {
        "p99": p99(seconds), "median": sorted(seconds)[len(seconds) // 2], "max": max(seconds),
        "refresh_s": refreshed_in, "burst_started_after_s": burst_at - begun, "burst_within_refresh": during,
        "peak_mb": bot.rusage.ru_maxrss / 1024 if bot.rusage else None,
    }


# ---- the terminal UI --------------------------------------------------------------------

async def _first_page(url: str, name: str) -> dict:
    from core import config, segments
    from core.audit import Actor
    from core.store import close_database, open_database
    from tui.app import SegmentaApp
    from tui.pilot import settle

    open_database(url)
    seg = segments.resolve(name)
    members = seg.member_count
    close_database()  # the interface's workers open their own connections
    app = SegmentaApp(config.Config(), Actor("bench", "tui"), where="bench")
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        table = app.main.table
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        at = next((i for i, r in enumerate(rows) if str(name) in map(str, r)), None)
        if at is None:
            raise SystemExit(f"{name} is not in the segment table: {rows}")
        table.move_cursor(row=at)
        await pilot.pause()
        started = time.perf_counter()
        await pilot.press("m")
        await settle(pilot)
        shown_in = time.perf_counter() - started
        screen = app.screen
        source = screen.source
        return {"members": members, "rows_fetched": source.rows_fetched, "pages_fetched": source.pages_fetched,
                "page_size": source.page_size, "rows_shown": screen.table.row_count, "seconds": shown_in}




def main(argv: list[str]) -> int:
    if argv[:1] == ["tui"]:
        print(json.dumps(asyncio.run(_first_page(argv[1], argv[2]))))
        return 0
    raise SystemExit("usage: python -m bench.faces tui URL SEGMENT")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
