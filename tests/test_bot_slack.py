"""The Slack bot driven as Slack drives it: signed HTTP requests to the real Bolt
app behind the real server, a stand-in Web API and response URLs, all on
127.0.0.1. Every ack is timed (under 3 s on every path) and every message and
view the bot sends is held to Block Kit's limits (see the `bot` fixture)."""
from __future__ import annotations

import csv
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from core import config as config_mod, refresh as refresh_mod, segments
from core.audit import Actor
from core.store import db as store_db
from core.store.models import Contact, Membership, Segment
from tests.bot_standin import (BOT_TOKEN, SIGNING_SECRET, SlackSide, check_everything_sent, check_message,
                               check_view, sign)
from tests.factories import make_contacts
from tests.slack_standin import slack_standin  # noqa: F401 (fixture)

ME = Actor("tester", "cli")
ADMIN = "U0ADMIN"


@dataclass
class Bot:
    slack: SlackSide
    standin: object
    cfg: config_mod.Config

    def ask(self, text, **kw) -> dict:
        """`/segment TEXT`; returns the reply that came through the response_url."""
        acked = self.slack.command(text, **kw)
        assert acked.status == 200, acked
        return self.slack.reply(acked)


def view_of(call) -> dict:
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def all_text(payload) -> str:
    return json.dumps(payload, ensure_ascii=False)


def buttons(payload) -> dict:
    out = {}
    for block in payload.get("blocks", []):
        for el in block.get("elements", []) if block["type"] == "actions" else [block.get("accessory") or {}]:
            if el.get("type") == "button":
                out[el["text"]["text"]] = el
    return out


@pytest.fixture
def bot(db_url, monkeypatch, slack_standin):  # noqa: F811
    """The bot on each backend (conftest's db_url), served on a free port of 127.0.0.1."""
    from bot.app import build_app
    from bot.server import serve

    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.delenv("SLACK_API_URL", raising=False)
    url = db_url
    cfg = config_mod.Config(database_url=url, slack_admins=(ADMIN,), slack_api_url=slack_standin.api_url)
    previous = config_mod.current()
    config_mod.use(cfg)
    store_db.open_database(url)
    server = serve(build_app(cfg), "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    side = SlackSide(f"http://127.0.0.1:{server.server_port}/slack/events", slack_standin)
    yield Bot(side, slack_standin, cfg)
    server.shutdown()
    server.server_close()
    store_db.close_database()
    config_mod.use(previous)
    slow = [a for a in side.acks if a.seconds >= SlackSide.ACK_LIMIT]
    assert not slow, f"acked after 3 s: {slow}"
    check_everything_sent(slack_standin)
    for acked in side.acks:  # what the acks themselves said is a message or a view too
        body = acked.json() if acked.body.startswith("{") else None
        if body and "view" in body:
            check_view(body["view"])
        elif body and "text" in body:
            check_message(body)


@pytest.fixture
def people(bot):
    """30 contacts c0..c29@example.com; odd ones female; every third in Lviv, the rest in Kyiv."""
    return make_contacts(30, gender=lambda i: "female" if i % 2 else "male",
                         region=lambda i: "Lviv" if i % 3 == 0 else "Kyiv")


def members_of(name) -> set[str]:
    seg = segments.resolve(name)
    return {c.email for c in Contact.select().join(Membership).where(Membership.segment == seg)}


# ---- every subcommand ------------------------------------------------------------------

def test_help_empty_and_unknown(bot):
    reply = bot.ask("help")
    assert reply["response_type"] == "ephemeral" and "/segment split" in all_text(reply)
    assert "Examples" in all_text(bot.ask(""))
    reply = bot.ask("frobnicate everything")
    assert "I do not know `frobnicate`" in all_text(reply) and "/segment show" in all_text(reply)


def test_create_list_add_remove_and_show(bot, people):
    reply = bot.ask('create list "Do not contact"')
    assert reply["response_type"] == "in_channel" and "Created the list “Do not contact”" in reply["text"]
    # Slack sends typed emails as mailto links (should_escape)
    acked = bot.slack.command("add do not contact <mailto:c1@example.com|c1@example.com> C2@EXAMPLE.COM "
                              "ghost@nowhere.org", escape=False)
    reply = bot.slack.reply(acked)
    assert "Added 2 contacts" in reply["text"] and "ghost@nowhere.org" in all_text(reply)
    assert members_of("Do not contact") == {"c1@example.com", "c2@example.com"}
    reply = bot.ask("remove Do not contact c1@example.com")
    assert "Removed 1 contact" in reply["text"] and members_of("Do not contact") == {"c2@example.com"}
    reply = bot.ask("SHOW   “do not contact”")
    assert reply["response_type"] == "ephemeral" and "1 (1 active)" in all_text(reply)


def test_create_dynamic_preview_refresh_copy_why(bot, people):
    reply = bot.ask('create dynamic "Kyiv women" where gender = female and region = Kyiv')
    assert reply["response_type"] == "in_channel" and "10 members" in reply["text"]
    reply = bot.ask("preview gender = female and region in (Kyiv, Lviv)")
    assert reply["response_type"] == "ephemeral" and "15 contacts" in reply["text"]
    assert Segment.select().count() == 1  # a preview saves nothing
    acked = bot.slack.command("refresh kyiv women")
    assert "Refreshing" in acked.json()["text"]  # slow work: the ack says so, the answer follows
    reply = bot.slack.reply(acked)
    assert reply["response_type"] == "in_channel" and "10 members, +0 joined, −0 left" in reply["text"]
    reply = bot.ask('copy "Kyiv women" as "Kyiv women 2"')
    assert "Kyiv women 2" in reply["text"] and members_of("Kyiv women 2") == members_of("Kyiv women")
    reply = bot.ask('why c1@example.com "Kyiv women"')
    assert "is in" in reply["text"] and "✅" in all_text(reply)
    reply = bot.ask("why c3@example.com Kyiv women")
    assert "is not in" in reply["text"] and "❌" in all_text(reply)


def test_conditions_with_escaped_characters(bot, people):
    reply = bot.ask('create dynamic "Not Lviv" where region != Lviv and orders.total >= 0')
    assert "20 members" in reply["text"]
    assert segments.resolve("Not Lviv").condition_text == "region != Lviv and orders.total >= 0"


def test_split_into_parts_and_by_percent(bot, people):
    bot.ask("create dynamic Everyone where orders.total >= 0")
    reply = bot.ask("split Everyone into 3 seed 42")
    assert reply["response_type"] == "in_channel" and "seed `42`" in reply["text"]
    parts = [members_of(f"Everyone — {x}") for x in "ABC"]
    assert sorted(map(len, parts)) == [10, 10, 10] and set.union(*parts) == members_of("Everyone")
    reply = bot.ask('split Everyone 50/30 by gender names "Test A", "Test B"')
    assert "held out: 6 members" in all_text(reply) and len(members_of("Test A")) == 15
    assert "results may be unreliable" in all_text(reply) or "warning" in all_text(reply).lower()


def test_export_to_list(bot, people):
    bot.ask("create dynamic Women where gender = female")
    reply = bot.ask('export Women to list "Women, March"')
    assert "to the new list “Women, March”" in reply["text"]
    assert members_of("Women, March") == members_of("Women")


def test_subscribe_and_unsubscribe_a_channel(bot, people):
    bot.ask("create dynamic Women where gender = female")
    acked = bot.slack.command("subscribe Women <#C0NEWS123|news>", escape=False)
    reply = bot.slack.reply(acked)
    assert reply["response_type"] == "in_channel" and "<#C0NEWS123>" in reply["text"]
    assert "<#C0NEWS123>" in all_text(bot.ask("show Women"))
    reply = bot.ask("subscribe Women")  # the channel the command was typed in
    assert "<#C0MARKETING>" in reply["text"]
    reply = bot.ask("unsubscribe Women <#C0NEWS123|news>", escape=False)
    assert "no longer be told" in reply["text"]


# ---- replies that are errors -----------------------------------------------------------

def test_errors_are_ephemeral_with_did_you_mean_and_caret(bot, people):
    bot.ask('create list "Do not contact"')
    reply = bot.ask("show do not contakt")
    assert reply["response_type"] == "ephemeral" and 'did you mean \\"Do not contact\\"' in all_text(reply)
    reply = bot.ask("preview region = Kyiv and orders.totl > 100")
    assert reply["response_type"] == "ephemeral"
    text = reply["blocks"][0]["text"]["text"]
    assert "```region = Kyiv and orders.totl &gt; 100\n" + " " * 18 + "^\n" in text and "orders.total" in text
    reply = bot.ask('copy "Do not contact"')  # a rule of core: lists are not copied
    assert reply["response_type"] == "ephemeral" and "export it to a new list" in reply["text"]
    reply = bot.ask("split Do not contact into 2")
    assert "a split needs more than 10" in reply["text"]
    acked = bot.slack.command("split")  # a usage error of the command itself: said in the ack
    assert acked.json()["response_type"] == "ephemeral" and "/segment split" in acked.json()["text"]


def test_names_typed_by_people_cannot_ping_the_channel(bot, people):
    reply = bot.ask('create list "<!channel> promo <@U0BOSS>"')
    raw = all_text(reply)
    assert "<!channel>" not in raw and "<@U0BOSS>" not in raw and "&lt;!channel&gt;" in raw
    raw = all_text(bot.ask("list promo"))
    assert "<!channel>" not in raw and "&lt;!channel&gt;" in raw


# ---- long lists page --------------------------------------------------------------------

def test_a_long_list_pages_with_buttons(bot):
    for i in range(23):
        segments.create_list(f"Campaign {i:02d}", ME)
    reply = bot.ask("list campaign")
    assert "23 segments" in reply["text"] and "page 1 of 3" in all_text(reply)
    acked = bot.slack.click(buttons(reply)["Next ›"])
    page2 = bot.slack.reply(acked)
    assert page2["replace_original"] is True and "page 2 of 3" in all_text(page2)
    acked = bot.slack.click(buttons(page2)["Show"])
    assert "Campaign" in bot.slack.reply(acked)["text"]


# ---- confirmations -----------------------------------------------------------------------

def test_empty_asks_then_empties_once(bot, people):
    seg = segments.create_list("Newsletter test", ME)
    segments.add_contacts(seg, people[:5], ME)
    question = bot.ask("empty Newsletter test")
    assert question["response_type"] == "ephemeral" and "5 members" in all_text(question)
    assert len(members_of("Newsletter test")) == 5  # nothing happens before the click
    confirm = buttons(question)["Empty it"]
    assert confirm["style"] == "danger" and confirm["confirm"]["style"] == "danger"
    first = bot.slack.click(confirm)
    done = bot.slack.responses(first, 2)
    assert done[0]["replace_original"] is True and "Emptying" in done[0]["text"]
    assert done[1]["response_type"] == "in_channel" and "5 members removed" in done[1]["text"]
    assert members_of("Newsletter test") == set()
    segments.add_contacts(Segment.get_by_id(seg.id), people[:2], ME)
    second = bot.slack.click(confirm)  # the same button again: nothing twice
    assert second.status == 200
    time.sleep(0.3)
    assert bot.standin.responses.get(second.response_id) is None
    assert len(members_of("Newsletter test")) == 2


def test_empty_refuses_a_dynamic_segment_without_asking(bot, people):
    bot.ask("create dynamic Women where gender = female")
    reply = bot.ask("empty Women")
    assert reply["response_type"] == "ephemeral" and "cannot be emptied" in reply["text"]
    assert not buttons(reply)


def test_cancel_changes_nothing(bot, people):
    seg = segments.create_list("Keep", ME)
    question = bot.ask("delete Keep")
    acked = bot.slack.click(buttons(question)["Cancel"])
    assert "nothing was changed" in bot.slack.reply(acked)["text"]
    assert Segment.get_or_none(Segment.id == seg.id) is not None


def test_delete_asks_then_deletes_keeping_contacts(bot, people):
    seg = segments.create_list("Old test", ME)
    segments.add_contacts(seg, people[:3], ME)
    question = bot.ask("delete Old test")
    done = bot.slack.responses(bot.slack.click(buttons(question)["Delete it"]), 2)
    assert "Deleted “Old test”" in done[1]["text"] and "the contacts stay" in done[1]["text"]
    assert Segment.get_or_none(Segment.id == seg.id) is None and Contact.select().count() == 30


def test_a_non_admin_cannot_delete_contacts(bot, people):
    seg = segments.create_list("Spam traps", ME)
    segments.add_contacts(seg, people[:4], ME)
    acked = bot.slack.command("delete Spam traps with contacts", user="U0MALLORY")
    body = acked.json()  # refused in the ack itself, before any core call
    assert body["response_type"] == "ephemeral" and "admins" in body["text"]
    assert bot.standin.responses.get(acked.response_id) is None
    # nor by clicking an admin's question…
    question = bot.ask("delete Spam traps with contacts", user=ADMIN)
    button = buttons(question)["Delete contacts too"]
    assert "only the person who asked" in bot.slack.reply(bot.slack.click(button, user="U0MALLORY"))["text"]
    # …nor with a question of one's own made up
    forged = dict(button, value=json.dumps({**json.loads(button["value"]), "user": "U0MALLORY"}))
    assert "admins" in bot.slack.reply(bot.slack.click(forged, user="U0MALLORY"))["text"]
    assert Contact.select().count() == 30 and Segment.get_or_none(Segment.id == seg.id) is not None
    # the admin's question still works: the refused clicks used nothing up
    done = bot.slack.responses(bot.slack.click(button, user=ADMIN), 2)
    assert "4 contacts" in done[1]["text"] and Contact.select().count() == 26


def test_an_admin_deletes_contacts_after_confirming(bot, people):
    seg = segments.create_list("Spam traps", ME)
    segments.add_contacts(seg, people[:4], ME)
    question = bot.ask("delete Spam traps WITH CONTACTS", user=ADMIN)
    assert "cannot be undone" in all_text(question)
    done = bot.slack.responses(bot.slack.click(buttons(question)["Delete contacts too"], user=ADMIN), 2)
    assert "4 contacts" in done[1]["text"]
    assert Contact.select().count() == 26 and Segment.get_or_none(Segment.id == seg.id) is None


# ---- the CSV upload ----------------------------------------------------------------------

def test_export_csv_uploads_exactly_the_members(bot, people):
    bot.ask("create dynamic Kyiv women where gender = female and region = Kyiv")
    acked = bot.slack.command('export "Kyiv women" csv email,first_name')
    assert "Exporting" in acked.json()["text"]
    done = bot.standin.wait_for("files.completeUploadExternal")
    (url_call,) = bot.standin.calls("files.getUploadURLExternal")
    assert url_call.params["filename"] == "Kyiv-women.csv"
    (uploaded,) = bot.standin.uploads.values()
    assert int(url_call.params["length"]) == len(uploaded)
    rows = list(csv.DictReader(io.StringIO(uploaded.decode("utf-8"))))
    assert list(rows[0]) == ["email", "first_name"]
    assert {r["email"] for r in rows} == members_of("Kyiv women") and len(rows) == 10
    assert done[0].params["channel_id"] == "C0MARKETING"
    assert "10 members" in done[0].params["initial_comment"]


def test_export_csv_where_the_bot_is_not_in_the_channel(bot, people):
    bot.ask("create dynamic Women where gender = female")
    bot.standin.slack_error("files.completeUploadExternal", "not_in_channel")
    acked = bot.slack.command("export Women csv")
    reply = bot.slack.reply(acked)
    assert reply["response_type"] == "ephemeral" and "/invite @Segmenta" in reply["text"]


# ---- the form ------------------------------------------------------------------------------

def test_create_alone_opens_the_form_and_checks_it(bot, people):
    acked = bot.slack.command("create", trigger_id="trig-42")
    assert acked.status == 200
    (opened,) = bot.standin.wait_for("views.open")
    assert opened.params["trigger_id"] == "trig-42"
    view = view_of(opened)

    bad = bot.slack.submit(view, {"name": "Kyiv women", "kind": "dynamic",
                                  "condition": "gender = female and regoin = Kyiv"}).json()
    assert bad["response_action"] == "errors" and 'did you mean "region"' in bad["errors"]["condition"]

    counted = bot.slack.submit(view, {"name": "Kyiv women", "kind": "dynamic",
                                      "condition": "gender = female and region = Kyiv"}).json()
    assert counted["response_action"] == "update"
    assert "10 contacts" in all_text(counted["view"]) and Segment.select().count() == 0  # shown before saving

    saved = bot.slack.submit(counted["view"], {"name": "Kyiv women", "kind": "dynamic",
                                               "condition": "gender = female and region = Kyiv"})
    assert saved.body == ""  # closes the form
    (posted,) = bot.standin.wait_for("chat.postMessage")
    assert posted.params["channel"] == "C0MARKETING" and "10 members" in posted.params["text"]
    assert members_of("Kyiv women") and len(members_of("Kyiv women")) == 10


def test_a_slow_count_turns_the_form_into_counting_then_updates_it(bot, people, monkeypatch):
    from bot.listeners import views

    monkeypatch.setattr(views, "CHECK_BUDGET", 0.0)  # as if the database were big
    bot.slack.command("create")
    view = view_of(bot.standin.wait_for("views.open")[0])
    answer = bot.slack.submit(view, {"name": "Men", "kind": "dynamic", "condition": "gender = male"}).json()
    assert answer["response_action"] == "update" and "Counting" in all_text(answer["view"])
    (updated,) = bot.standin.wait_for("views.update")
    assert updated.params["view_id"] == "V0FORM" and "15 contacts" in all_text(view_of(updated))
    monkeypatch.setattr(views, "CHECK_BUDGET", 2.0)
    assert bot.slack.submit(view_of(updated), {"name": "Men", "kind": "dynamic", "condition": "gender = male"}).body == ""
    bot.standin.wait_for("chat.postMessage")
    assert len(members_of("Men")) == 15


def test_the_form_refuses_a_taken_name_on_its_field(bot, people):
    segments.create_list("VIP", ME)
    bot.slack.command("create list")
    (opened,) = bot.standin.wait_for("views.open")
    view = view_of(opened)
    answer = bot.slack.submit(view, {"name": "vip", "kind": "list"}).json()
    assert answer["response_action"] == "errors" and "exists already" in answer["errors"]["name"]
    assert bot.slack.submit(view, {"name": "VIP 2", "kind": "list"}).body == ""
    bot.standin.wait_for("chat.postMessage")
    assert segments.resolve("VIP 2").kind == "list"


# ---- App Home ------------------------------------------------------------------------------

def test_app_home_shows_biggest_refreshes_and_subscriptions(bot, people):
    bot.ask("create dynamic Women where gender = female")
    bot.ask("refresh Women")
    bot.ask("subscribe Women <#C0NEWS123|news>", escape=False)
    acked = bot.slack.event({"type": "app_home_opened", "user": "U0ALICE", "channel": "D0HOME", "tab": "home"})
    assert acked.status == 200
    (published,) = bot.standin.wait_for("views.publish")
    assert published.params["user_id"] == "U0ALICE"
    text = all_text(view_of(published))
    assert "Biggest segments" in text and "Women" in text and "+0 / −0" in text and "C0NEWS123" in text


# ---- the wire --------------------------------------------------------------------------------

def test_forged_and_stale_signatures_are_refused(bot, people):
    body = "command=%2Fsegment&text=delete+x&user_id=U1&channel_id=C1&response_url=http%3A%2F%2F127.0.0.1%3A9%2Fr"
    assert bot.slack.post(body, secret="not-the-secret").status == 401
    stale = int(time.time()) - 10 * 60
    assert bot.slack.post(body, timestamp=stale).status == 401
    ts = str(int(time.time()))
    assert bot.slack.post(body, signature=sign(body + "&x=1", ts), timestamp=int(ts)).status == 401
    assert bot.slack.post(body, signature="v0=", timestamp=int(ts)).status == 401
    assert bot.standin.calls("response") == []
    # Slack's check of an HTTP events URL is signed too, and answered
    challenge = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    assert bot.slack.post(challenge, "application/json").json() == {"challenge": "c-123"}
    assert bot.slack.post(challenge, "application/json", secret="forged").status == 401


def test_the_web_client_waits_out_a_rate_limit(bot, people):
    bot.standin.rate_limit("chat.postMessage", times=1, retry_after=1)
    bot.slack.command("create list")
    view = view_of(bot.standin.wait_for("views.open")[0])
    bot.slack.submit(view, {"name": "Patient", "kind": "list"})
    posted = bot.standin.wait_for("chat.postMessage", ok=None, count=2)
    assert [c.status for c in posted] == [429, 200]
    assert posted[1].at - posted[0].at >= 1.0  # Retry-After was honoured


def test_thirty_commands_are_acked_in_time_while_a_big_refresh_runs(bot, monkeypatch):
    make_contacts(20000, region=lambda i: "Kyiv" if i % 2 else "Lviv")
    seg, _ = segments.create_dynamic("Big", "region = Kyiv", ME)
    in_refresh = threading.Event()

    def slow(segment, run_id):  # a big refresh: it holds the write transaction for seconds
        if segment.name == "Big":
            in_refresh.set()
            time.sleep(4)

    monkeypatch.setattr(refresh_mod, "AFTER_REFRESH", refresh_mod.AFTER_REFRESH + [slow])
    big = bot.slack.command("refresh Big")
    assert in_refresh.wait(10)
    lines = [f"create list Team {i}" if i % 3 == 0 else ("list" if i % 3 == 1 else "show Big") for i in range(30)]
    with ThreadPoolExecutor(30) as pool:
        acks = list(pool.map(bot.slack.command, lines))
    assert all(a.status == 200 for a in acks)
    assert max(a.seconds for a in acks) < 3.0
    replies = [bot.slack.reply(a, timeout=30) for a in acks]
    assert sum("Created the list" in r["text"] for r in replies) == 10
    assert "10,000 members" in bot.slack.reply(big, timeout=30)["text"]
