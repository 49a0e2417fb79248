"""`segmenta bot --console`: the same command layer, replies as text, no Slack."""
import io

import pytest
from click.testing import CliRunner

from bot.console import Console, render
from bot.operations import Caller
from core import config as config_mod, segments
from core.cli.main import cli
from core.store import db as store_db
from core.store.models import Contact, Segment
from tests.factories import make_contacts


@pytest.fixture
def console(sqlite_db, tmp_path):
    make_contacts(12, gender=lambda i: "female" if i % 2 else "male")
    cfg = config_mod.Config(slack_admins=("U0ADMIN",))

    def run(*lines, user="U0ALICE"):
        out = io.StringIO()
        Console(Caller(user, None, cfg, face="console"), stdin=io.StringIO("\n".join(lines) + "\n"),
                stdout=out, out_dir=tmp_path).loop()
        return out.getvalue()

    return run


def test_commands_and_their_replies_as_text(console):
    out = console('/segment create dynamic "Women" where gender = female', "show women", "list",
                  "preview gender = male and orders.total < 5", "frobnicate")
    assert "[channel] :white_check_mark: Created the dynamic “Women” (`#1`) by @U0ALICE: 6 members." in out
    assert "Members: 6 (6 active)" in out and "[1] Show" in out
    assert "6 contacts* match" in out and "gender = male and orders.total < 5" in out
    assert "I do not know `frobnicate`" in out


def test_errors_keep_their_caret(console):
    out = console("preview gender = female and regoin = Kyiv")
    assert "[only you] :warning: That condition cannot be understood:" in out
    assert "    gender = female and regoin = Kyiv\n" + " " * 24 + "^" in out


def test_buttons_are_numbers_and_confirmations_ask(console):
    segments.create_list("Test", __import__("core.audit", fromlist=["Actor"]).Actor("t", "cli"))
    out = console("add Test c1@example.com c2@example.com", "empty Test", "1", "n", "1", "y", "1")
    assert "Added 2 contacts" in out and "[1] Empty it   [2] Cancel" in out
    assert "Not done." in out and "Emptied “Test” by @U0ALICE: 2 members removed" in out
    assert out.count("Emptied") == 1 and "There is no button [1]." in out  # the question is gone
    assert segments.resolve("Test").member_count == 0


def test_deleting_contacts_is_for_admins(console):
    console("create list Spam", "add Spam c1@example.com c3@example.com")
    out = console("delete Spam with contacts")
    assert "admins" in out and Contact.select().count() == 12
    out = console("delete Spam with contacts", "1", "y", user="U0ADMIN")
    assert "2 contacts with their orders" in out and Contact.select().count() == 10


def test_export_csv_is_saved_here(console, tmp_path):
    console("create dynamic Men where gender = male")
    out = console("export Men csv email")
    assert "6 members of “Men”" in out
    lines = (tmp_path / "Men.csv").read_text().splitlines()
    assert lines[0] == "email" and len(lines) == 7


def test_the_form_asks_its_questions_and_counts_first(console):
    out = console("create", "Women", "dynamic", "gender = female", "y")
    assert "6 contacts match (6 active)." in out and "Created the dynamic “Women”" in out
    out = console("create", "Nope", "dynamic", "gender = female", "n")
    assert "Nothing was created." in out and Segment.select().count() == 1


def test_render_shows_every_kind_of_block():
    buttons = []
    text = render([
        {"type": "header", "text": {"type": "plain_text", "text": "Title"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Kind*\nlist"}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "a &lt;b&gt; <!date^1700000000^{date}|2023-11-14>"}]},
        {"type": "divider"},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"},
                                          "action_id": "x", "value": "1"}]},
    ], buttons)
    assert text.splitlines() == ["Title", "=====", "Kind: list", "  a <b> 2023-11-14", "-" * 40, "[1] Go"]
    assert buttons[0]["action_id"] == "x"


def test_segmenta_bot_console_runs_from_the_command_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    store_db.open_database(url)
    make_contacts(3)
    store_db.close_database()
    result = CliRunner().invoke(cli, ["--db", url, "bot", "--console", "--as", "U0ALICE"],
                                input="/segment create list VIP\nadd VIP c0@example.com\nlist\n")
    assert result.exit_code == 0, result.output
    assert "Created the list “VIP”" in result.output and "Added 1 contact to “VIP”" in result.output
    assert "*VIP*  `#1` · list · 1 member" in result.output
