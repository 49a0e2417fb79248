"""Three faces and a scheduler on one SQLite file for a minute (docs/reliability.md,
"Concurrency").

Real processes, all writing at once:

- `segmenta scheduler` refreshing three dynamic segments every 1–2 seconds and
  sending the notices of a subscribed channel to the Slack stand-in;
- `segmenta bot --http`, driven by signed requests: Alice and Bob add contacts
  to one list at the same instant, again and again, and refresh, export and
  create between;
- the terminal UI, driven by Textual's Pilot in its own process: adds to the
  same list through its dialog, refreshes with `r`, imports a file with `i`;
- the command line: adds to the same list, and imports a 10,000-row file that
  moves contacts between regions (long write transactions: two 5,000-row
  batches, each re-evaluating every dynamic segment).

Afterwards: no "database is locked" (nor any other internal error) reached
anyone — not a Slack reply, a terminal UI notification, a command's output,
a process's log or a refresh run's error — and no update was lost: every
contact that anyone was told was added to the list is a member of it, and its
member count is its number of members.

SEGMENTA_CONCURRENCY_SECONDS changes the minute.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core import notices, segments
from core.audit import Actor
from core.store import db as store_db
from core.store.models import Contact, Membership, RefreshRun, Segment
from core.store.models_notices import Notice
from tests.bot_standin import BOT_TOKEN, SlackSide
from tests.factories import make_contacts
from tests.slack_standin import SlackStandin
from tests.test_bot_run import Running
from tests.test_scheduler_processes import Scheduler

SECONDS = float(os.environ.get("SEGMENTA_CONCURRENCY_SECONDS") or 60)
CONTACTS = 10_000
SEGMENTA = str(Path(sys.executable).with_name("segmenta"))
ME = Actor("tester", "cli")
# What a user must never see. "locked" and "busy" are SQLite's words for a lost race.
TROUBLE = re.compile(r"locked|database is busy|Traceback|Internal error|went wrong on our side|OperationalError",
                     re.IGNORECASE)

# The terminal UI in its own process, driven by Pilot for SECONDS: every
# notification it shows is written down, with the emails it added.
TUI = r'''
import asyncio, json, logging, sys, time
from textual.widgets import Input
from core import config
from core.audit import Actor
from core.store import close_database, open_database
from tui.app import SegmentaApp
from tui.pilot import settle
from tui.screens.contacts import ImportReportScreen
from tui.screens.main import MainScreen

url, seconds, out, import_path = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
logging.basicConfig(filename=out + ".log", level=logging.INFO)
cfg = config.use(config.with_database(config.Config(), database_url=url))
open_database(url)
close_database()  # as `segmenta tui` does: only the workers query, each on its own connection
shown = []


def watched(app):
    """Every notification the app shows, written down (they vanish from the screen)."""
    notify = app.notify

    def written_down(message, *, title="", severity="information", **kw):
        shown.append({"severity": severity, "title": str(title), "message": str(message)})
        notify(message, title=title, severity=severity, **kw)

    app.notify = written_down
    return app




async def select(pilot, name):
    table = pilot.app.main.table
    for _ in range(100):
        ids = [i for i, row in table.rows_by_id.items() if row["name"] == name]
        if ids:
            break
        await settle(pilot)
    table.focus()
    table.move_cursor(row=table.get_row_index(str(ids[0])))
    await settle(pilot)


async def dialog(pilot, key, fields):
    await pilot.press(key)
    await settle(pilot)
    for selector, value in fields.items():
        pilot.app.screen.query_one(selector, Input).value = value
    await pilot.press("ctrl+s")
    await settle(pilot)


async def main():
    app = watched(SegmentaApp(cfg, Actor("carol", "tui"), where="reliability"))
    added, refreshes, imported = [], 0, 0
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        deadline = time.monotonic() + seconds
        i = 0
        while time.monotonic() < deadline and 4 * i + 2 < 10_000:
            await select(pilot, "Shared")
            email = f"c{4 * i + 2}@example.com"
            await dialog(pilot, "a", {"#emails": email})
            if isinstance(app.screen, MainScreen):
                added.append(email)
            else:  # refused: the dialog stayed open, with the message (written down by notify)
                await pilot.press("escape")
            if i % 4 == 1:
                await select(pilot, "Kyiv")
                await pilot.press("r")
                for _ in range(600):  # the refresh runs in the background; the screen stays usable
                    await settle(pilot)
                    if not app.main.busy.task:
                        break
                    await asyncio.sleep(0.05)
                refreshes += 1
            if i % 10 == 5:
                await dialog(pilot, "i", {"#path": import_path, "#list": "TUI imports"})
                for _ in range(600):
                    await settle(pilot)
                    if isinstance(app.screen, ImportReportScreen) or not app.main.busy.task:
                        break
                    await asyncio.sleep(0.05)
                if isinstance(app.screen, ImportReportScreen):
                    imported += 1
                    await pilot.press("escape")
                    await settle(pilot)
            i += 1
    with open(out, "w") as f:
        json.dump({"added": added, "refreshes": refreshes, "imports": imported, "shown": shown}, f)


asyncio.run(main())
'''


def write_moves(path: Path) -> None:
    """10,000 rows that move every contact to another region: both batches re-evaluate every segment."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("email,region\n")
        for i in range(CONTACTS):
            f.write(f"c{i}@example.com,{('Kyiv', 'Lviv', 'Odesa')[(i + int(time.time())) % 3]}\n")


class CommandLine:
    """Dave at the command line: adds to the list, and imports, until told to stop."""

    def __init__(self, url: str, folder: Path):
        self.url, self.folder = url, folder
        self.added: list[str] = []
        self.outputs: list[str] = []
        self.imports = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def segmenta(self, *args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SEGMENTA_", "SLACK_"))}
        done = subprocess.run([SEGMENTA, "--db", self.url, *args], capture_output=True, text=True, env=env,
                              cwd=self.folder, timeout=120)
        self.outputs.append(f"$ segmenta {' '.join(args)} [{done.returncode}]\n{done.stdout}{done.stderr}")
        return done

    def run(self) -> None:
        i = 0
        while not self.stop.is_set() and 4 * i + 3 < CONTACTS:
            email = f"c{4 * i + 3}@example.com"
            if self.segmenta("add", "Shared", email).returncode == 0:
                self.added.append(email)
            if i % 8 == 4:
                moves = self.folder / "moves.csv"
                write_moves(moves)
                if self.segmenta("import", "contacts", str(moves)).returncode == 0:
                    self.imports += 1
            i += 1


class SlackPeople:
    """Alice and Bob in Slack: both add to the list at the same instant, again and again."""

    def __init__(self, slack: SlackSide):
        self.slack = slack
        self.added: dict[str, list[str]] = {"U0ALICE": [], "U0BOB": []}
        self.replies: list[str] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(user, n), daemon=True)
                        for n, user in enumerate(self.added)]
        self.together = threading.Barrier(2)

    def ask(self, text: str, user: str) -> str:
        acked = self.slack.command(text, user=user)
        if acked.status != 200:
            self.failures.append(f"{text}: HTTP {acked.status}")
            return ""
        ack = acked.json() if acked.body.startswith("{") else None
        if ack and "text" in ack and not ack["text"].startswith("⏳"):
            reply = ack  # answered in the ack itself (a refusal)
        else:
            reply = self.slack.reply(acked, timeout=60)
        text_of = json.dumps(reply, ensure_ascii=False)
        self.replies.append(text_of)
        return text_of

    def run(self, user: str, n: int) -> None:
        i = 0
        while True:
            try:
                self.together.wait(timeout=30)
            except threading.BrokenBarrierError:
                return
            if self.stop.is_set():
                self.together.abort()
                return
            if 4 * i + n >= CONTACTS:  # a very fast machine: every contact of ours is in
                self.together.abort()
                return
            email = f"c{4 * i + n}@example.com"
            reply = self.ask(f"add Shared {email}", user)
            if "added 1 contact" in reply.lower():
                self.added[user].append(email)
            else:
                self.failures.append(f"{user} add {email}: {reply[:300]}")
            if i % 5 == n:
                self.ask("refresh Kyiv" if n == 0 else "show Shared", user)
            if i % 12 == 6 + n:
                self.ask(f"export Kyiv to list Kyiv {user} {i}" if n == 0 else f"create list Team {i}", user)
            i += 1


@pytest.mark.slow  # a minute, and it runs in CI like every test: `-m "not slow"` skips it by hand
def test_tui_bot_scheduler_and_command_line_on_one_sqlite_file_for_a_minute(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store_db.open_database(url)
    make_contacts(CONTACTS, region=lambda i: ("Kyiv", "Lviv", "Odesa")[i % 3],
                  gender=lambda i: "female" if i % 2 else "male")
    segments.create_list("Shared", ME)
    kyiv, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME, every=2)
    segments.create_dynamic("Women", "gender = female", ME, every=1)
    segments.create_dynamic("Kyiv in Shared", "region = Kyiv and in segment Shared", ME, every=2)
    notices.subscribe(kyiv, "#growth", ME)
    store_db.close_database()
    tui_import = tmp_path / "tui.csv"
    tui_import.write_text("email,region\n" + "".join(f"t{i}@example.com,Kyiv\n" for i in range(2000)))

    with SlackStandin() as standin:
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": standin.api_url}
        scheduler = Scheduler(url, tmp_path, "scheduler", "--send", env=env)
        bot = Running(url, standin.api_url, "--no-scheduler")
        tui_out = tmp_path / "tui.json"
        tui = subprocess.Popen([sys.executable, "-c", TUI, url, str(SECONDS), str(tui_out), str(tui_import)],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={k: v for k, v in os.environ.items() if not k.startswith(("SEGMENTA_", "SLACK_"))})
        dave = CommandLine(url, tmp_path)
        slack = SlackPeople(SlackSide(f"http://127.0.0.1:{bot.port}/slack/events", standin))
        try:
            scheduler.wait_started()
            dave.thread.start()
            for t in slack.threads:
                t.start()
            tui_output, _ = tui.communicate(timeout=SECONDS + 120)
        finally:
            slack.stop.set()
            dave.stop.set()
            for t in [*slack.threads, dave.thread]:
                t.join(120)
            if tui.poll() is None:
                tui.kill()
            bot_output = bot.stop()
            assert scheduler.stop() == 0, scheduler.text()
        scheduler_output = scheduler.text()
        sent = standin.calls("chat.postMessage", ok=True)

    assert tui.returncode == 0, tui_output
    seen = json.loads(tui_out.read_text())
    tui_log = Path(f"{tui_out}.log").read_text() if Path(f"{tui_out}.log").exists() else ""
    carol = seen["added"]
    alice, bob = slack.added["U0ALICE"], slack.added["U0BOB"]
    print(f"in {SECONDS:.0f} s: Slack {len(alice)} + {len(bob)} adds and {len(slack.replies)} replies, "
          f"terminal UI {len(carol)} adds, {seen['refreshes']} refreshes, {seen['imports']} imports, "
          f"command line {len(dave.added)} adds and {dave.imports} imports, {len(sent)} notices sent")

    # no "database is locked" reached anyone
    everywhere = {
        "Slack replies": "\n".join(slack.replies),
        "terminal UI notifications": "\n".join(n["message"] for n in seen["shown"]),
        "terminal UI log": tui_log + tui_output,
        "command line": "\n".join(dave.outputs),
        "bot log": bot_output,
        "scheduler log": scheduler_output,
    }
    for where, text in everywhere.items():
        assert not TROUBLE.search(text), f"{where}: {TROUBLE.search(text).group(0)!r} in\n" + "\n".join(
            line for line in text.splitlines() if TROUBLE.search(line))[:3000]
    assert slack.failures == []
    assert [n for n in seen["shown"] if n["severity"] == "error"] == []
    assert all(o.startswith(tuple(f"$ segmenta {v}" for v in ("add", "import"))) and "[0]" in o.splitlines()[0]
               for o in dave.outputs), [o for o in dave.outputs if "[0]" not in o.splitlines()[0]][:3]

    # everyone worked, and for the whole time
    assert min(len(alice), len(bob), len(carol), len(dave.added)) >= 5
    assert seen["refreshes"] >= 2 and seen["imports"] >= 1 and dave.imports >= 1

    # no lost update: every add anyone was told of is there, and the count is true
    store_db.open_database(url, migrate=False)
    try:
        shared = segments.resolve("Shared")
        members = {e for (e,) in Contact.select(Contact.email).join(Membership)
                   .where(Membership.segment == shared).tuples()}
        added = set(alice) | set(bob) | set(carol) | set(dave.added)
        assert len(added) == len(alice) + len(bob) + len(carol) + len(dave.added)
        assert members == added, f"lost: {sorted(added - members)[:10]}, unexpected: {sorted(members - added)[:10]}"
        assert shared.member_count == len(members)
        for seg in Segment.select():
            assert seg.member_count == Membership.select().where(Membership.segment == seg).count(), seg.name
        runs = RefreshRun.select().where(RefreshRun.trigger == "schedule")
        assert runs.count() >= SECONDS / 4  # the scheduler kept refreshing all along
        assert [r.error for r in RefreshRun.select().where(RefreshRun.error.is_null(False))] == []
        assert Notice.select().where(Notice.state == "sent").count() == len(sent) >= 1
    finally:
        store_db.close_database()


def test_two_people_adding_to_one_list_at_once_both_land(db):
    """On both backends: Alice and Bob add to one list at the same instant, 60 times,
    each a contact of their own and one contact both chose. Every contact lands once,
    the count is true, and a dynamic segment built on the list follows it."""
    from core.store import database
    from core.store.models import MembershipChange

    ids = make_contacts(120, region=lambda i: "Kyiv" if i % 2 else "Lviv")
    shared = segments.create_list("Shared", ME)
    segments.create_dynamic("Kyiv in Shared", "in segment Shared and region = Kyiv", ME)
    together = threading.Barrier(2)
    failures = []

    def person(who: str, own: list[int], common: list[int]) -> None:
        try:
            with database.connection_context():
                for mine, both in zip(own, common):
                    together.wait(timeout=30)
                    segments.add_contacts(Segment.get_by_id(shared.id), [mine, both], Actor(who, "slack"))
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            together.abort()
            failures.append(f"{who}: {type(e).__name__}: {e}")

    common = ids[80:120]
    people = [threading.Thread(target=person, args=("U0ALICE", ids[0:80:2], common)),
              threading.Thread(target=person, args=("U0BOB", ids[1:80:2], common))]
    for t in people:
        t.start()
    for t in people:
        t.join(120)
    assert failures == []
    members = {c for (c,) in Membership.select(Membership.contact).where(Membership.segment == shared.id).tuples()}
    assert members == set(ids)
    for seg in Segment.select():
        assert seg.member_count == Membership.select().where(Membership.segment == seg).count(), seg.name
    joined = MembershipChange.select(MembershipChange.contact_id).where(
        (MembershipChange.segment == shared.id) & (MembershipChange.change == "joined"))
    assert sorted(c for (c,) in joined.tuples()) == sorted(ids)  # each joined once, in the history too
    assert Segment.get_by_id(segments.resolve("Kyiv in Shared").id).member_count == 60


def _orphans() -> dict[str, int]:
    """Rows that name a contact or a segment that is not there (none may exist: on
    PostgreSQL no foreign key checks it, core.store.db.CONTACTS_LOCK keeps it so)."""
    from core.store import database

    db = database.obj
    out = {}
    for table, column, parent in (("membership", "contact_id", "contact"), ("membership", "segment_id", "segment"),
                                  ('"order"', "contact_id", "contact"), ("interest", "contact_id", "contact"),
                                  ("custom_value", "contact_id", "contact"),
                                  ("membership_change", "segment_id", "segment")):
        out[f"{table}.{column}"] = db.execute_sql(
            f"SELECT count(*) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.id = t.{column})"
        ).fetchone()[0]
    return {k: v for k, v in out.items() if v}


def test_deleting_contacts_while_others_write_about_them_leaves_no_orphans(db, monkeypatch):
    """On both backends, both orders of events:

    1. A writer has read a contact's id and is about to write an order for it
       when someone deletes a list with its contacts: the deletion waits for the
       writer, then takes the order with the contact.
    2. The deletion is under way when someone adds the same contacts (ids read
       before) to another list, and a dynamic segment re-evaluates them: they
       wait, then find the contacts gone, and add nothing.
    """
    import datetime as dt

    from core import delete
    from core.store import database, write
    from core.store.models import Contact, Order

    me = Actor("ann", "cli")
    ids = make_contacts(6, region="Kyiv")
    doomed = segments.create_list("Doomed", me)
    segments.add_contacts(doomed, ids[:3], me)
    other = segments.create_list("Other", me)
    segments.create_dynamic("Kyiv", "region = Kyiv", me)
    failures = []

    def run(fn):
        def body():
            try:
                with database.connection_context():
                    fn()
            except Exception as e:  # noqa: BLE001 - any failure is the finding
                failures.append(f"{type(e).__name__}: {e}")
        return threading.Thread(target=body)

    # 1. the writer first
    read_it = threading.Event()

    def writer():
        with write():
            (cid,) = Contact.select(Contact.id).where(Contact.id == ids[0]).tuples().get()
            read_it.set()
            time.sleep(0.5)  # the deletion starts meanwhile, and must wait
            Order.create(order_id="late", contact=cid, total=100, created_at=dt.date.today())

    def deleter():
        read_it.wait(10)
        delete.delete(segments.resolve("Doomed"), me, with_contacts=True, confirmed=True)

    threads = [run(writer), run(deleter)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    assert Order.select().count() == 0 and Contact.select().count() == 3
    assert _orphans() == {}

    # 2. the deletion first
    doomed = segments.create_list("Doomed again", me)
    segments.add_contacts(doomed, ids[3:5], me)
    deleting = threading.Event()
    count_members = segments.count_members

    def slow_count(seg):
        if seg.id == doomed.id:
            deleting.set()
            time.sleep(0.5)  # inside the deletion's transaction, its lock held
        return count_members(seg)

    monkeypatch.setattr(segments, "count_members", slow_count)
    added = []

    def adder():
        deleting.wait(10)
        added.append(segments.add_contacts(segments.resolve("Other"), ids[3:6], me))

    threads = [run(lambda: delete.delete(segments.resolve("Doomed again"), me, with_contacts=True,
                                          confirmed=True)), run(adder)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    assert added == [1]  # only the contact that was not deleted
    assert [c for (c,) in Contact.select(Contact.id).tuples()] == ids[5:]
    assert segments.resolve("Other").member_count == 1
    assert segments.resolve("Kyiv").member_count == 1
    assert _orphans() == {}
