"""Who may do what (docs/reliability.md, "Who may do what").

Forged and replayed Slack requests are refused before anything runs; a
non-admin's contact deletion is refused before any core call (no query
reaches the database); every change is in the audit trail with the person and
the face it came from; and the output of failing runs holds no secret.
"""
from __future__ import annotations

import getpass
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import peewee
from click.testing import CliRunner

from core import leases, notices, segments
from core.audit import Actor
from core.cli.main import cli
from core.clock import utcnow_naive
from core.store import db as store_db
from core.store.models import AuditEntry, Contact
from tests.bot_standin import BOT_TOKEN, SIGNING_SECRET, Acked, SlackSide, sign
from tests.factories import make_contacts
from tests.slack_standin import Answer, SlackStandin, slack_standin  # noqa: F401 (fixture)
from tests.test_bot_run import APP_TOKEN, Running
from tests.test_bot_slack import ADMIN, bot, buttons, people  # noqa: F401 (fixtures: the bot over signed HTTP)

ME = Actor("tester", "cli")
SEGMENTA = str(Path(sys.executable).with_name("segmenta"))


class Spy:
    """Every SQL statement and every call of the named core functions, from any thread."""

    def __init__(self, monkeypatch, *functions: str):
        self.queries: list[str] = []
        self.calls: list[str] = []
        self.on = False
        real = peewee.Database.execute_sql

        def execute_sql(db, sql, *args, **kwargs):
            if self.on:
                self.queries.append(sql)
            return real(db, sql, *args, **kwargs)

        monkeypatch.setattr(peewee.Database, "execute_sql", execute_sql)
        for dotted in functions:
            module, name = dotted.rsplit(".", 1)
            target = sys.modules[module]
            original = getattr(target, name)

            def called(*args, _name=dotted, _original=original, **kwargs):
                if self.on:
                    self.calls.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(target, name, called)

    def __enter__(self):
        self.queries.clear()
        self.calls.clear()
        self.on = True
        return self

    def __exit__(self, *exc):
        time.sleep(0.3)  # anything a request set going would have started by now
        self.on = False


def raw_post(url: str, body: str, headers: dict) -> int:
    request = urllib.request.Request(url, data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def command_body(slack: SlackSide, text: str, rid: str, user: str = "U0ALICE") -> str:
    """A slash command's body, as Slack posts it; its response_url is the stand-in's RID."""
    return urllib.parse.urlencode({
        "command": "/segment", "text": text, "user_id": user, "user_name": user.lower(), "team_id": "T0STANDIN",
        "channel_id": "C0MARKETING", "api_app_id": "A0SEGMENTA", "trigger_id": "1.2.3",
        "response_url": slack.standin.response_url(rid)})


# ---- forged and replayed requests ---------------------------------------------------------

def test_forged_requests_are_refused_before_anything_runs(bot, people, monkeypatch):  # noqa: F811
    shared = segments.create_list("Shared", ME)
    body = command_body(bot.slack, "add Shared c1@example.com", "genuine")
    now = int(time.time())
    good = sign(body, str(now))
    url = bot.slack.url
    forged = {
        "signed with another secret": {"X-Slack-Request-Timestamp": str(now),
                                       "X-Slack-Signature": sign(body, str(now), "not-the-secret")},
        "no signature": {"X-Slack-Request-Timestamp": str(now)},
        "an empty signature": {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v0="},
        "the signature of another body": {"X-Slack-Request-Timestamp": str(now),
                                          "X-Slack-Signature": sign(body.replace("c1%40", "c2%40"), str(now))},
        "the signature of another moment": {"X-Slack-Request-Timestamp": str(now),
                                            "X-Slack-Signature": sign(body, str(now - 1))},
        "no timestamp": {"X-Slack-Signature": good},
        "a timestamp that is not a number": {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": good},
        "signed six minutes ago (replayed later)": {"X-Slack-Request-Timestamp": str(now - 360),
                                                    "X-Slack-Signature": sign(body, str(now - 360))},
        "signed for six minutes from now": {"X-Slack-Request-Timestamp": str(now + 360),
                                            "X-Slack-Signature": sign(body, str(now + 360))},
        "another scheme": {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": "v1=" + good[3:]},
    }
    spy = Spy(monkeypatch)
    slack_calls = len(bot.standin.calls())
    with spy:
        answers = {name: raw_post(url, body, headers) for name, headers in forged.items()}
    assert answers == {name: 401 for name in forged}
    assert spy.queries == [] and len(bot.standin.calls()) == slack_calls
    assert segments.resolve(shared.id).member_count == 0
    # the same request, signed as Slack signs it, goes through (and the spy sees its queries)
    with spy:
        assert raw_post(url, body, {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": good}) == 200
        assert "Added 1 contact" in bot.slack.reply(Acked(200, "", 0, response_id="genuine"))["text"]
    assert spy.queries


def test_an_exact_replay_within_five_minutes_is_refused(bot, people, monkeypatch):  # noqa: F811
    """Bolt alone would serve it again (its signature is valid for five minutes);
    bot/replay.py serves each signed request once."""
    from slack_sdk.signature import SignatureVerifier

    shared = segments.create_list("Shared", ME)
    body = command_body(bot.slack, "add Shared c1@example.com", "first")
    ts = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(body, ts)}
    # what Slack's guidance and Bolt check: the signature, and a timestamp within five minutes
    verifier = SignatureVerifier(SIGNING_SECRET)
    assert verifier.is_valid(body, ts, headers["X-Slack-Signature"])
    assert verifier.is_valid(body, ts, headers["X-Slack-Signature"])  # no memory: a replay verifies

    assert raw_post(bot.slack.url, body, headers) == 200
    deadline = time.monotonic() + 10
    while segments.resolve(shared.id).member_count != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    segments.remove_contacts(segments.resolve(shared.id), [people[1]], ME)  # a replay would add c1 again
    spy = Spy(monkeypatch, "bot.operations.run", "bot.operations.act", "bot.operations.confirmed")
    with spy:
        assert raw_post(bot.slack.url, body, headers) == 401
    assert spy.queries == [] and spy.calls == []
    assert segments.resolve(shared.id).member_count == 0
    # another request in the same second is not a replay
    other = command_body(bot.slack, "add Shared c2@example.com", "second")
    assert raw_post(bot.slack.url, other, {"X-Slack-Request-Timestamp": ts,
                                           "X-Slack-Signature": sign(other, ts)}) == 200

    # a click replayed: refused at the door too (the question's nonce would refuse it next)
    question = bot.ask("empty Shared")
    button = buttons(question)["Empty it"]
    click_ts = str(int(time.time()))
    payload = {"type": "block_actions", "user": {"id": "U0ALICE"}, "team": {"id": "T0STANDIN"},
               "channel": {"id": "C0MARKETING"}, "response_url": bot.standin.response_url(),
               "actions": [{"type": "button", "action_id": button["action_id"], "value": button["value"],
                            "block_id": "b", "action_ts": click_ts}]}
    click = urllib.parse.urlencode({"payload": json.dumps(payload)})
    click_headers = {"X-Slack-Request-Timestamp": click_ts, "X-Slack-Signature": sign(click, click_ts)}
    assert raw_post(bot.slack.url, click, click_headers) == 200
    assert raw_post(bot.slack.url, click, click_headers) == 401


# ---- deleting contacts is for admins --------------------------------------------------------

CORE = ("core.segments.resolve", "core.segments.count_members", "core.delete.delete", "core.delete.empty",
        "bot.operations.run", "bot.operations.confirmed")


def test_a_non_admins_contact_deletion_is_refused_before_any_core_call(bot, people, monkeypatch):  # noqa: F811
    import core.delete  # noqa: F401 (spied on)

    traps = segments.create_list("Spam traps", ME)
    segments.add_contacts(traps, people[:4], ME)
    typed = ["delete Spam traps with contacts", "DELETE   spam TRAPS   With Contacts",
             'delete "Spam traps" with contacts', "delete \u201cSpam traps\u201d with contacts",
             f"delete #{traps.id} with contacts", "delete Nothing-by-this-name with contacts"]
    question = bot.ask("delete Spam traps with contacts", user=ADMIN)
    button = buttons(question)["Delete contacts too"]
    made_up = dict(button, value=json.dumps({**json.loads(button["value"]), "user": "U0MALLORY"}))
    spy = Spy(monkeypatch, *CORE)
    with spy:
        for text in typed:
            acked = bot.slack.command(text, user="U0MALLORY")
            assert "admins" in acked.json()["text"], text  # refused in the ack itself
        clicks = [bot.slack.click(button, user="U0MALLORY"), bot.slack.click(made_up, user="U0MALLORY")]
    assert spy.calls == [] and spy.queries == []
    said = [bot.slack.reply(c)["text"] for c in clicks]
    assert "only the person who asked" in said[0] and "admins" in said[1]
    assert Contact.select().count() == 30 and segments.resolve("Spam traps").member_count == 4

    # the console refuses it the same way, before any core call
    from bot.console import Console
    from bot.operations import Caller

    out = io.StringIO()
    with spy:
        Console(Caller("U0MALLORY", None, bot.cfg, face="console"),
                stdin=io.StringIO("delete Spam traps with contacts\n"), stdout=out).loop()
    assert "admins" in out.getvalue() and spy.calls == [] and spy.queries == []

    # and the admin's own question still works: the refusals used nothing up
    done = bot.slack.responses(bot.slack.click(button, user=ADMIN), 2)
    assert "4 contacts" in done[1]["text"] and Contact.select().count() == 26


# ---- the audit trail ------------------------------------------------------------------------

def trail(since: int) -> list[tuple[str, str, str, str | None]]:
    return [(e.actor, e.face, e.operation, e.segment_name)
            for e in AuditEntry.select().where(AuditEntry.id > since).order_by(AuditEntry.id)]


def last_id() -> int:
    return AuditEntry.select(AuditEntry.id).order_by(AuditEntry.id.desc()).scalar() or 0


def test_every_change_from_slack_is_in_the_audit_trail_as_its_person(bot, people):  # noqa: F811
    start = last_id()
    alice, bob = "U0ALICE", ADMIN
    for text, user in [
        ("create list Team", alice),
        ("create dynamic Kyiv where region = Kyiv", bob),
        ("add Team c1@example.com c2@example.com c3@example.com", alice),
        ("remove Team c2@example.com", bob),
        ("refresh Kyiv", alice),
        ("copy Kyiv as Kyiv again", bob),
        ("split Kyiv into 2 seed 3", alice),
        ("export Kyiv to list Kyiv today", bob),
        ("export Kyiv csv email", alice),
        ("subscribe Kyiv #growth", bob),
        ("unsubscribe Kyiv #growth", alice),
    ]:
        if " csv" in text:  # the answer is the file, posted in the channel
            bot.slack.command(text, user=user)
            bot.standin.wait_for("files.completeUploadExternal", timeout=15)
            continue
        reply = bot.ask(text, user=user)
        assert ":warning:" not in reply["text"], (text, reply["text"])
    for text, label, user in [("empty Team", "Empty it", alice), ("delete Kyiv again", "Delete it", bob),
                              ("delete Team with contacts", "Delete contacts too", bob)]:
        bot.slack.responses(bot.slack.click(buttons(bot.ask(text, user=user))[label], user=user), 2)
    assert trail(start) == [
        (alice, "slack", "create", "Team"),
        (bob, "slack", "create", "Kyiv"),
        (alice, "slack", "add", "Team"),
        (bob, "slack", "remove", "Team"),
        (alice, "slack", "refresh", "Kyiv"),
        (bob, "slack", "create", "Kyiv again"),
        (bob, "slack", "copy", "Kyiv again"),
        (alice, "slack", "create", "Kyiv — A"),
        (alice, "slack", "create", "Kyiv — B"),
        (alice, "slack", "split", "Kyiv"),
        (bob, "slack", "create", "Kyiv today"),
        (bob, "slack", "export", "Kyiv"),
        (alice, "slack", "export", "Kyiv"),
        (bob, "slack", "subscribe", "Kyiv"),
        (alice, "slack", "unsubscribe", "Kyiv"),
        (alice, "slack", "empty", "Team"),
        (bob, "slack", "delete", "Kyiv again"),
        (bob, "slack", "delete", "Team"),
    ]


def test_every_change_from_the_command_line_is_in_the_audit_trail(db_url, tmp_path):
    """As the login name, face cli; the scheduler's refreshes as segmenta, face scheduler."""
    runner = CliRunner()
    people_csv = tmp_path / "people.csv"
    people_csv.write_text("email,region\n" + "".join(f"p{i}@example.com,{'Kyiv' if i % 2 else 'Lviv'}\n"
                                                      for i in range(30)))
    lines = [
        ["import", "contacts", str(people_csv), "--list", "Imported"],
        ["create", "list", "Team"],
        ["create", "dynamic", "Kyiv", "--where", "region = Kyiv"],
        ["add", "Team", "p1@example.com", "p2@example.com"],
        ["add", "Team", "new@example.com", "--create"],
        ["remove", "Team", "p2@example.com"],
        ["refresh", "Kyiv"],
        ["copy", "Kyiv", "--name", "Kyiv again"],
        ["split", "Imported", "--parts", "2", "--seed", "1"],
        ["export", "Kyiv", "--to-list", "Kyiv today"],
        ["export", "Kyiv", "--csv", str(tmp_path / "kyiv.csv")],
        ["schedule", "Kyiv", "5m"],
        ["subscribe", "Kyiv", "#growth"],
        ["unsubscribe", "Kyiv", "#growth"],
        ["empty", "Team"],
        ["delete", "Kyiv again", "--yes"],
        ["delete", "Team", "--with-contacts", "--yes"],
    ]
    for line in lines:
        r = runner.invoke(cli, ["--db", db_url, *line], catch_exceptions=False)
        assert r.exit_code == 0, (line, r.output)
    me = getpass.getuser()
    store_db.open_database(db_url)
    try:
        seg = segments.resolve("Kyiv")
        leases.ensure(seg.id, utcnow_naive())
        from core.scheduler import refresh_if_due

        assert refresh_if_due(seg.id, "test-holder") == "refreshed"
        got = trail(0)
    finally:
        store_db.close_database()
    ops = [(who, face, op) for who, face, op, _ in got]
    assert {(who, face) for who, face, _ in ops} == {(me, "cli"), ("segmenta", "scheduler")}
    assert [op for who, _, op in ops if who == me] == [
        "create", "import", "create", "create", "add", "create contacts", "add", "remove", "refresh",
        "create", "copy", "create", "create", "split", "create", "export", "export", "schedule", "subscribe",
        "unsubscribe", "empty", "delete", "delete"]
    assert ops[-1] == ("segmenta", "scheduler", "refresh")


async def test_every_change_from_the_terminal_ui_is_in_the_audit_trail(sqlite_db, monkeypatch):
    from tests.test_tui import SIZE, fill, select, settle, submit
    from tui.app import SegmentaApp
    from core import config

    make_contacts(12, region="Kyiv")
    carol = Actor("carol", "tui")
    app = SegmentaApp(config.Config(), carol, where="test")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.click("#kind-list")
        await fill(pilot, "#name", "Team")
        await submit(pilot)
        await select(pilot, "Team")
        await pilot.press("a")
        await fill(pilot, "#emails", "c1@example.com c2@example.com")
        await submit(pilot)
        await pilot.press("R")
        await fill(pilot, "#emails", "c2@example.com")
        await submit(pilot)
        await pilot.press("x")
        await submit(pilot)
        await pilot.press("d")
        await submit(pilot)
        await pilot.press("n")
        await fill(pilot, "#name", "Kyiv")
        await fill(pilot, "#condition-input", "region = Kyiv")
        await submit(pilot)
        await select(pilot, "Kyiv")
        await pilot.press("r")
        await settle(pilot)
    assert trail(0) == [("carol", "tui", op, "Team") for op in ("create", "add", "remove", "empty", "delete")] + [
        ("carol", "tui", "create", "Kyiv"), ("carol", "tui", "refresh", "Kyiv")]


# ---- secrets -------------------------------------------------------------------------------

DB_PASSWORDS = ("hunter2-db-pw", "hunter3@db-pw")
SECRETS = (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, BOT_TOKEN.split("-", 1)[1], SIGNING_SECRET[-12:], *DB_PASSWORDS,
           "hunter3", "@db-pw")


def assert_no_secret(where: str, output: str) -> None:
    leaked = [s for s in SECRETS if s in output]
    assert not leaked, f"{where} printed {leaked}:\n{output[-3000:]}"


def test_no_secret_in_the_output_of_failing_runs(tmp_path):
    """Runs that fail every way we can make them, their whole output grepped for the secrets —
    also when Slack's answers echo the token back."""
    url = f"sqlite:///{tmp_path / 'run.db'}"
    store_db.open_database(url)
    make_contacts(12, region="Kyiv")
    seg, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME, every=1)
    notices.subscribe(seg, "#growth", ME)
    store_db.close_database()
    echo = {"ok": False, "error": "invalid_auth", "echo": f"token={BOT_TOKEN} secret={SIGNING_SECRET}"}
    outputs = {}
    with SlackStandin() as standin:
        for api in ("chat.postMessage", "chat.postEphemeral", "views.open", "files.getUploadURLExternal",
                    "chat.update"):
            standin.on(api, lambda call: echo)
        standin.script("response", *[Answer(500, f"<html>bad gateway {BOT_TOKEN}</html>")] * 50)
        bot = Running(url, standin.api_url)  # with its scheduler, whose notices fail too
        try:
            slack = SlackSide(f"http://127.0.0.1:{bot.port}/slack/events", standin)
            slack.command("help")
            slack.command("create")
            slack.command("export Kyiv csv")
            slack.command("show no-such-segment")
            slack.post("command=%2Fsegment&text=help", secret="forged")
            slack.post("command=%2Fsegment&text=help", timestamp=int(time.time()) - 3600)
            store_db.open_database(url)  # three contacts move: the next scheduled refresh owes a notice
            Contact.update(region="Lviv", region_norm="lviv").where(Contact.id <= 3).execute()
            store_db.close_database()
            time.sleep(4)  # a scheduled refresh, its notice, and the failing sends
        finally:
            outputs["segmenta bot --http"] = bot.stop()
        assert "invalid_auth" in outputs["segmenta bot --http"]  # it failed, and said so

        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SEGMENTA_"))}
        env.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_APP_TOKEN=APP_TOKEN,
                   SLACK_API_URL=standin.api_url, SEGMENTA_DEBUG="1")
        runs = {
            "a refused bot token": [SEGMENTA, "--db", url, "bot", "--http", "--port", "0"],
            "socket mode refused": [SEGMENTA, "--db", url, "bot", "--no-scheduler"],
            "a database that is not there": [SEGMENTA, "--db", f"postgresql://segmenta:{DB_PASSWORDS[0]}@127.0.0.1:1/x",
                                             "show", "Kyiv"],
            "a password with an @ in it": [SEGMENTA, "--db", f"postgresql://segmenta:{DB_PASSWORDS[1]}@127.0.0.1:1/x",
                                           "search"],
            "a database URL that cannot be read": [SEGMENTA, "--db",
                                                   f"postgresql://segmenta:{DB_PASSWORDS[0]}@host:port/x", "search"],
            "a kind of database Segmenta does not know": [SEGMENTA, "--db",
                                                          f"mysql://segmenta:{DB_PASSWORDS[0]}@127.0.0.1/x", "search"],
            "the terminal UI on a database that is not there": [
                SEGMENTA, "--db", f"postgresql://segmenta:{DB_PASSWORDS[0]}@127.0.0.1:1/x", "tui"],
            "the scheduler on a database that is not there": [
                SEGMENTA, "--db", f"postgresql://segmenta:{DB_PASSWORDS[1]}@127.0.0.1:1/x", "scheduler"],
        }
        standin.token = "xoxb-another-token"  # Slack refuses the bot's
        for where, argv in runs.items():
            r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
            assert r.returncode != 0, where
            outputs[where] = r.stdout + r.stderr
    for where, output in outputs.items():
        assert_no_secret(where, output)
