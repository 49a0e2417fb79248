"""Slack's side of a conversation with the bot, all on 127.0.0.1.

`SlackStandin` (tests/slack_standin.py) plays the Web API and the response
URLs; `SlackSide` here plays Slack's requests to the bot: slash commands,
button clicks, form submissions and events, each signed the way Slack signs
them (as bolt-python's own tests do), each timed until its ack.

`check_message` holds every message and view the bot sent to Slack's
limits, by parsing its blocks with slack_sdk.models.blocks.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from slack_sdk.models.blocks import Block

SIGNING_SECRET = "test-signing-secret-7f3a9c"
BOT_TOKEN = "xoxb-test-bot-token-5d2e8b"


@dataclass
class Acked:
    """What the bot answered to one request, and how fast."""

    status: int
    body: str
    seconds: float
    response_id: str | None = None

    def json(self):
        return json.loads(self.body) if self.body else None


def sign(body: str, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def slack_escape(text: str) -> str:
    """What Slack sends for typed text when the command has should_escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackSide:
    """Sends Slack's signed requests to the bot at URL; records every ack."""

    ACK_LIMIT = 3.0

    def __init__(self, url: str, standin, *, secret: str = SIGNING_SECRET, command: str = "/segment"):
        self.url = url
        self.standin = standin
        self.secret = secret
        self.command_name = command
        self.acks: list[Acked] = []
        self._lock = threading.Lock()
        self._ids = iter(range(1, 10**9))

    # ---- the wire ---------------------------------------------------------------------

    def post(self, body: str, ctype: str = "application/x-www-form-urlencoded", *, secret: str | None = None,
             timestamp: int | None = None, signature: str | None = None) -> Acked:
        ts = str(int(timestamp if timestamp is not None else time.time()))
        headers = {
            "Content-Type": ctype,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(body, ts, secret or self.secret),
        }
        req = urllib.request.Request(self.url, data=body.encode(), headers=headers, method="POST")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                acked = Acked(r.status, r.read().decode(), time.monotonic() - started)
        except urllib.error.HTTPError as e:
            acked = Acked(e.code, e.read().decode(), time.monotonic() - started)
        with self._lock:
            self.acks.append(acked)
        return acked

    # ---- what people do --------------------------------------------------------------

    def command(self, text: str, *, user: str = "U0ALICE", channel: str = "C0MARKETING", escape: bool = True,
                trigger_id: str = "13345224609.738474920.8088930838d88f008e0") -> Acked:
        """`/segment TEXT` typed by USER in CHANNEL; its response_url is the stand-in's."""
        rid = f"cmd{next(self._ids)}"
        form = {
            "token": "legacy-unused", "team_id": "T0STANDIN", "team_domain": "standin", "channel_id": channel,
            "channel_name": "marketing", "user_id": user, "user_name": user.lower(), "command": self.command_name,
            "text": slack_escape(text) if escape else text, "api_app_id": "A0SEGMENTA",
            "response_url": self.standin.response_url(rid), "trigger_id": trigger_id,
        }
        acked = self.post(urllib.parse.urlencode(form))
        acked.response_id = rid
        return acked

    def click(self, button: dict, *, user: str = "U0ALICE", channel: str = "C0MARKETING",
              message_ts: str = "1700000000.000100") -> Acked:
        """A click on BUTTON (a block element dict from one of the bot's messages)."""
        rid = f"act{next(self._ids)}"
        payload = {
            "type": "block_actions", "team": {"id": "T0STANDIN"}, "api_app_id": "A0SEGMENTA",
            "user": {"id": user, "name": user.lower(), "team_id": "T0STANDIN"},
            "channel": {"id": channel, "name": "marketing"},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": True},
            "trigger_id": "13345224609.738474920.8088930838d88f008e1",
            "response_url": self.standin.response_url(rid),
            "actions": [{"type": "button", "block_id": "b", "action_id": button["action_id"],
                         "value": button.get("value", ""), "text": button["text"],
                         "action_ts": str(time.time())}],
        }
        acked = self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}))
        acked.response_id = rid
        return acked

    def submit(self, view: dict, values: dict, *, user: str = "U0ALICE", view_id: str = "V0FORM") -> Acked:
        """Submit the modal VIEW with VALUES {block_id: value} (radio buttons: the option's value)."""
        state = {}
        for block in view["blocks"]:
            if block.get("type") != "input":
                continue
            bid, el = block["block_id"], block["element"]
            value = values.get(bid)
            if el["type"] == "radio_buttons":
                chosen = next((o for o in el["options"] if o["value"] == value), el.get("initial_option"))
                state[bid] = {el["action_id"]: {"type": "radio_buttons", "selected_option": chosen}}
            else:
                state[bid] = {el["action_id"]: {"type": "plain_text_input", "value": value}}
        payload = {
            "type": "view_submission", "team": {"id": "T0STANDIN"}, "api_app_id": "A0SEGMENTA",
            "user": {"id": user, "name": user.lower(), "team_id": "T0STANDIN"},
            "view": {**view, "id": view_id, "hash": "156772938.1827394", "state": {"values": state}},
        }
        return self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}))

    def event(self, event: dict) -> Acked:
        body = {"token": "legacy-unused", "team_id": "T0STANDIN", "api_app_id": "A0SEGMENTA",
                "type": "event_callback", "event_id": f"Ev{next(self._ids)}", "event_time": int(time.time()),
                "event": event}
        return self.post(json.dumps(body), "application/json")

    # ---- what came back ---------------------------------------------------------------

    def responses(self, acked: Acked, count: int = 1, timeout: float = 15) -> list[dict]:
        """The bodies the bot POSTed to ACKED's response_url (waits for COUNT of them)."""
        deadline = time.monotonic() + timeout
        while len(self.standin.responses.get(acked.response_id, [])) < count:
            if time.monotonic() > deadline:
                got = self.standin.responses.get(acked.response_id, [])
                raise TimeoutError(f"{len(got)} of {count} responses to {acked.response_id}: {got}")
            time.sleep(0.02)
        return list(self.standin.responses[acked.response_id])

    def reply(self, acked: Acked, timeout: float = 15) -> dict:
        """The last (usually only) reply through the response_url, once it came."""
        return self.responses(acked, 1, timeout)[-1]


# ---- Slack's limits ---------------------------------------------------------------------

def check_blocks(blocks: list) -> None:
    assert isinstance(blocks, list) and 0 < len(blocks) <= 50, f"{len(blocks)} blocks"
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, f"not a block: {raw}"
        block.to_dict()  # validates lengths and shapes; raises SlackObjectFormationError
        kind = raw["type"]
        if kind == "section":
            if "text" in raw:
                assert len(raw["text"]["text"]) <= 3000
            assert len(raw.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in raw.get("fields", []))
        if kind == "header":
            assert len(raw["text"]["text"]) <= 150


def check_message(body: dict) -> None:
    """A message as Slack would take it: fallback text and valid blocks, within the limits."""
    blocks = body.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if body.get("delete_original"):
        return
    assert (body.get("text") or "").strip(), f"no fallback text: {body}"
    if blocks is not None:
        check_blocks(blocks)


def check_view(view: dict) -> None:
    if isinstance(view, str):
        view = json.loads(view)
    assert view["type"] in ("modal", "home")
    check_blocks(view["blocks"])
    if view["type"] == "modal":
        assert len(view["title"]["text"]) <= 24 and len(view["submit"]["text"]) <= 24
        assert len(view.get("private_metadata", "")) <= 3000


def check_everything_sent(standin) -> int:
    """Validate every message and view the bot sent; returns how many."""
    n = 0
    for call in standin.calls():
        if call.api in ("response", "chat.postMessage", "chat.postEphemeral", "chat.update"):
            check_message(call.params if call.api != "response" else (call.json or {}))
            n += 1
        elif call.api.startswith("views."):
            check_view(call.params["view"])
            n += 1
    return n
