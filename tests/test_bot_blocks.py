"""The Block Kit builders (bot/blocks.py): pure functions, held to Slack's limits."""
import datetime as dt
import json

import pytest

from bot import blocks
from bot.commands import Command
from core.errors import ConditionError, NotFound
from tests.bot_standin import check_message, check_view

EVIL = "<!channel> <@U123> <#C999> &amp; <https://evil.example|click>"
LONG = "Ж" * 5000


def texts(msg) -> str:
    return json.dumps(msg.payload(), ensure_ascii=False)


def assert_no_mentions(msg):
    raw = texts(msg)
    for bad in ("<!channel>", "<@U123>", "<#C999>", "<https://evil"):
        assert bad not in raw, bad


def row(i, name=None, condition=None):
    return {"id": i, "name": name or f"Segment {i}", "kind": "dynamic", "members": i * 10,
            "condition": condition, "last_refresh": dt.datetime(2024, 5, 1, 12, 0), "created_at": None}


def test_help_lists_every_subcommand_with_examples():
    msg = blocks.help_message("/segment")
    check_message(msg.payload())
    raw = texts(msg)
    for word in ("list", "show", "create dynamic", "preview", "refresh", "copy", "split", "export", "empty",
                 "delete", "add", "remove", "why", "subscribe", "unsubscribe"):
        assert f"/segment {word}" in raw
    assert "Examples" in raw


def test_help_for_an_unknown_word_says_so_escaped():
    msg = blocks.help_message("/segment", unknown="<!channel>")
    check_message(msg.payload())
    assert_no_mentions(msg)
    assert "I do not know" in texts(msg)


def test_names_typed_by_people_never_become_mentions():
    for msg in (
        blocks.created(EVIL, 1, "list", user="U1"),
        blocks.refreshed({"segment": EVIL, "total": 1, "joined": 1, "left": 0}),
        blocks.segment_list([row(1, EVIL, EVIL)], EVIL),
        blocks.error(NotFound(f'no segment is called "{EVIL}"')),
        blocks.confirm_delete(EVIL, "list", 3, True, {"op": "delete", "id": 1}),
        blocks.changed_members("added", EVIL, 1, 1, [EVIL]),
        blocks.why({"email": EVIL, "segment": EVIL, "condition": EVIL, "matches": True, "member": True,
                    "tests": [{"test": EVIL, "result": True, "value": EVIL}]}),
    ):
        check_message(msg.payload())
        assert_no_mentions(msg)


def test_huge_values_stay_within_the_limits():
    card = blocks.segment_card({
        "id": 1, "name": LONG, "kind": "dynamic", "condition": LONG, "members": 10**9, "active": 10**8,
        "schedule": "every 1h", "last_refresh": {"at": dt.datetime(2024, 1, 1), "trigger": "schedule",
                                                 "total": 5, "joined": 1, "left": 2},
        "last_error": {"at": dt.datetime(2024, 1, 1), "error": LONG},
        "origin": {"text": LONG}, "channels": [{"channel": "C0123ABC", "status": "ok"}] * 500,
        "history": [{"size": i} for i in range(100)], "created_at": dt.datetime(2024, 1, 1), "created_by": LONG,
    })
    check_message(card.payload())
    why = blocks.why({"email": "a@b.c", "segment": LONG, "condition": LONG, "matches": False, "member": True,
                      "tests": [{"test": LONG, "result": i % 2 == 0, "value": LONG} for i in range(500)]})
    check_message(why.payload())
    assert len(why.blocks) <= 50
    split = blocks.split_done({"source": LONG, "seed": 1, "held_out": 3, "warning": LONG,
                               "parts": [{"name": LONG, "id": i, "members": i} for i in range(26)]})
    check_message(split.payload())


def test_a_long_list_pages_with_buttons():
    rows = [row(i) for i in range(1, 36)]
    first = blocks.segment_list(rows, None, page=1)
    check_message(first.payload())
    nav = [b for b in first.blocks if b["type"] == "actions"][0]["elements"]
    assert [b["text"]["text"] for b in nav] == ["Next ›"]
    assert json.loads(nav[0]["value"]) == {"q": "", "p": 2}
    last = blocks.segment_list(rows, None, page=4)
    assert "page 4 of 4" in texts(last)
    nav = [b for b in last.blocks if b["type"] == "actions"][0]["elements"]
    assert [b["text"]["text"] for b in nav] == ["‹ Previous"]
    assert sum(1 for b in last.blocks if b["type"] == "section" and "accessory" in b) == 5


def test_a_condition_error_keeps_its_caret_in_a_code_block():
    err = ConditionError("region = Kyiv and orders.totl > 100", 19, 'unknown field "orders.totl"')
    msg = blocks.error(err)
    check_message(msg.payload())
    text = msg.blocks[0]["text"]["text"]
    assert "```region = Kyiv and orders.totl &gt; 100\n" + " " * 18 + "^\nunknown field" in text
    assert msg.public is False


def test_confirmations_are_danger_buttons_behind_a_dialog():
    msg = blocks.confirm_delete("Old", "list", 12, False, {"op": "delete", "id": 3, "nonce": "n"})
    check_message(msg.payload())
    confirm = msg.blocks[-1]["elements"][0]
    assert confirm["style"] == "danger" and confirm["confirm"]["style"] == "danger"
    assert json.loads(confirm["value"])["id"] == 3
    assert msg.public is False


def test_slow_commands_ack_with_a_note_and_fast_ones_with_nothing():
    assert "Refreshing" in blocks.acknowledgement(Command("refresh", segment="X"))["text"]
    assert blocks.acknowledgement(Command("show", segment="X")) is None
    assert blocks.acknowledgement(None) is None


@pytest.mark.parametrize("kw", [{}, {"counted": {"count": 5, "active": 4}, "checked": "x"}, {"counting": True},
                                {"problem": LONG}, {"name": LONG[:200], "condition": LONG[:3000], "kind": "list"}])
def test_the_form_is_a_valid_modal(kw):
    check_view(blocks.create_form(channel="C0123ABC", **kw))


def test_the_home_tab_fits():
    view = blocks.home([row(i, LONG) for i in range(40)],
                       [{"at": dt.datetime(2024, 1, 1), "segment": LONG, "total": 1, "joined": 1, "left": 0,
                         "trigger": "schedule"}] * 40,
                       [{"channel": "C0123ABC", "segment": LONG, "status": "ok"}] * 40)
    check_view(view)
