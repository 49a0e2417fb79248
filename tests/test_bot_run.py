"""`segmenta bot` as people run it: a process serving Slack's requests over HTTP,
with its scheduler and notice sender, pointed at the stand-in by SLACK_API_URL.
Its output never holds a secret, even when things fail."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.store import db as store_db
from tests.bot_standin import BOT_TOKEN, SIGNING_SECRET, SlackSide, check_everything_sent
from tests.factories import make_contacts
from tests.slack_standin import SlackStandin, slack_standin  # noqa: F401 (fixture)

SEGMENTA = str(Path(sys.executable).with_name("segmenta"))
APP_TOKEN = "xapp-1-test-app-token-9c1d"


def env(api_url: str, **extra) -> dict:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SEGMENTA_"))}
    out.update(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=api_url,
               PYTHONUNBUFFERED="1", **extra)
    return out


def assert_no_secret(output: str) -> None:
    for secret in (BOT_TOKEN, SIGNING_SECRET, APP_TOKEN, "test-bot-token", "test-signing-secret"):
        assert secret not in output


@pytest.fixture
def database(tmp_path):
    url = f"sqlite:///{tmp_path / 'run.db'}"
    store_db.open_database(url)
    make_contacts(12)
    store_db.close_database()
    return url


class Running:
    """`segmenta bot --http --port 0` in a process; its output gathered as it comes."""

    def __init__(self, url: str, api_url: str, *args: str):
        self.proc = subprocess.Popen([SEGMENTA, "--db", url, "bot", "--http", "--port", "0", *args],
                                     env=env(api_url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.port = None
        started = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.lines.append(line)
                m = re.search(r"http://127\.0\.0\.1:(\d+)/slack/events", line)
                if m:
                    self.port = int(m.group(1))
                    started.set()
            started.set()

        threading.Thread(target=read, daemon=True).start()
        assert started.wait(30) and self.port, "".join(self.lines)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, "".join(self.lines)
        time.sleep(0.1)
        return "".join(self.lines)


def test_the_bot_serves_signed_requests_and_sends_notices(database, slack_standin):  # noqa: F811
    bot = Running(database, slack_standin.api_url)
    try:
        slack = SlackSide(f"http://127.0.0.1:{bot.port}/slack/events", slack_standin)
        for line in ("create list Blocked", 'create dynamic Reachable where not in segment "Blocked"'):
            assert "Created" in slack.reply(slack.command(line))["text"]
        assert "will be told" in slack.reply(slack.command("subscribe Reachable <#C0NEWS123|news>", escape=False))[
            "text"]
        slack.reply(slack.command("add Blocked c1@example.com"))
        assert "11 members" in slack.reply(slack.command("refresh Reachable"))["text"]
        (notice,) = slack_standin.wait_for("chat.postMessage", timeout=20)  # the sender, within seconds
        assert notice.params["channel"] == "C0NEWS123" and "11 members (0 joined, 1 left)" in notice.params["text"]
        # a failing run: a forged request, and a response_url that breaks
        assert slack.post("command=%2Fsegment&text=help", secret="forged").status == 401
        slack_standin.server_error("response", times=3)
        acked = slack.command("show nothing-like-this")
        (fallback,) = slack_standin.wait_for("chat.postEphemeral")
        assert "no segment is called" in fallback.params["text"]
        assert all(a.seconds < 3 for a in slack.acks)
        assert check_everything_sent(slack_standin) >= 8  # the sender's notice too
    finally:
        output = bot.stop()
    assert "Segmenta bot stopped." in output
    assert_no_secret(output)


def test_a_refused_token_stops_the_bot_with_a_clear_message(database):
    with SlackStandin(token="xoxb-the-real-one") as standin:
        result = subprocess.run([SEGMENTA, "--db", database, "bot", "--http", "--port", "0"],
                                env=env(standin.api_url), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Slack refused the bot token" in result.stderr and "invalid_auth" in result.stderr
    assert_no_secret(result.stdout + result.stderr)


def test_missing_secrets_are_named(database, slack_standin):  # noqa: F811
    no_secret = env(slack_standin.api_url)
    del no_secret["SLACK_SIGNING_SECRET"]
    result = subprocess.run([SEGMENTA, "--db", database, "bot", "--http"], env=no_secret,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in result.stderr
    result = subprocess.run([SEGMENTA, "--db", database, "bot"], env=env(slack_standin.api_url),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "SLACK_APP_TOKEN is not set" in result.stderr
    assert_no_secret(result.stdout + result.stderr)


def test_socket_mode_asks_slack_with_the_app_token(database, slack_standin):  # noqa: F811
    slack_standin.on("apps.connections.open", lambda call: {"ok": False, "error": "invalid_auth"})
    result = subprocess.run([SEGMENTA, "--db", database, "bot", "--no-scheduler"],
                            env=env(slack_standin.api_url, SLACK_APP_TOKEN=APP_TOKEN),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Slack refused Socket Mode (invalid_auth)" in result.stderr
    (opened,) = slack_standin.calls("apps.connections.open")
    assert opened.token == APP_TOKEN  # the app-level token, not the bot's
    assert_no_secret(result.stdout + result.stderr)


def test_the_manifest_declares_what_the_bot_uses():
    text = (Path(__file__).parent.parent / "bot" / "manifest.yaml").read_text(encoding="utf-8")
    assert re.search(r"- command: /segment\n(\s+\w+: .*\n)*\s+should_escape: true", text)
    for scope in ("commands", "chat:write", "chat:write.public", "files:write"):
        assert re.search(rf"^\s+- {re.escape(scope)}$", text, re.M), scope
    for setting in ("home_tab_enabled: true", "socket_mode_enabled: true", "- app_home_opened",
                    "interactivity:\n    is_enabled: true"):
        assert setting in text
