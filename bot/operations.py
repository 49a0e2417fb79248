"""The command layer: a parsed `/segment` command or a button click → core → a reply.

It knows nothing of Slack's transport (Bolt, HTTP, response URLs); the Slack
listeners and the text console (errbot's idea: one bot core, two backends)
both call `run` and `act` and deliver the Outcome their own way. Every rule
of the mission is core's: a refusal comes back as a core.errors.SegmentaError
that the caller turns into an ephemeral reply.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import tempfile
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from core import audit, config as config_mod, notices, segments
from core.audit import Actor
from core.errors import BadInput
from core.scheduler import connection

from . import blocks
from .blocks import Message
from .commands import Command


@dataclass(frozen=True)
class Caller:
    """Who typed or clicked, and where."""

    user: str  # a Slack user id
    channel: str | None  # where the command was typed (None in the console)
    cfg: config_mod.Config
    face: str = "slack"

    @property
    def actor(self) -> Actor:
        return Actor(self.user, self.face)

    @property
    def prog(self) -> str:
        return self.cfg.slack_command


@dataclass
class Upload:
    """A CSV file to post in the channel; the deliverer removes PATH's folder after."""

    path: Path
    filename: str
    title: str
    comment: str
    segment: str
    rows: int

    def discard(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


@dataclass
class Outcome:
    message: Message | None = None
    form: dict | None = None  # a modal to open
    upload: Upload | None = None
    replace: bool = False  # the message replaces the one whose button was clicked


# ---- commands -------------------------------------------------------------------

def run(cmd: Command, caller: Caller) -> Outcome:
    """Do what CMD asks, as CALLER. Raises SegmentaError for a person's mistake."""
    handler = _COMMANDS[cmd.op]
    with connection():
        out = handler(cmd, caller)
    return out if isinstance(out, Outcome) else Outcome(message=out)


def _help(cmd: Command, c: Caller) -> Message:
    return blocks.help_message(c.prog, unknown=cmd.unknown, topic=cmd.text)


def _list(cmd: Command, c: Caller, page: int = 1) -> Message:
    from core.search import search

    return blocks.segment_list(search(cmd.text), cmd.text, page)


def _show(cmd: Command, c: Caller) -> Message:
    from core.show import show

    return blocks.segment_card(show(segments.resolve(cmd.segment), c.cfg))


def _form(cmd: Command, c: Caller) -> Outcome:
    return Outcome(form=blocks.create_form(kind=cmd.kind or "dynamic", channel=c.channel))


def _create_list(cmd: Command, c: Caller) -> Message:
    seg = segments.create_list(cmd.name, c.actor)
    return blocks.created(seg.name, seg.id, "list", user=c.user)


def _create_dynamic(cmd: Command, c: Caller) -> Message:
    seg, result = segments.create_dynamic(cmd.name, cmd.condition, c.actor, cfg=c.cfg)
    return blocks.created(seg.name, seg.id, "dynamic", result.total, seg.condition_text, user=c.user)


def _preview(cmd: Command, c: Caller) -> Message:
    from core.preview import preview

    return blocks.preview(preview(cmd.condition, cfg=c.cfg))


def _refresh(cmd: Command, c: Caller) -> Message:
    from core.refresh import refresh

    result = refresh(segments.resolve(cmd.segment), c.actor, cfg=c.cfg)
    return blocks.refreshed(result.as_dict(), user=c.user)


def _copy(cmd: Command, c: Caller) -> Message:
    from core.copy import copy

    source = segments.resolve(cmd.segment)
    new, result = copy(source, c.actor, name=cmd.name, cfg=c.cfg)
    return blocks.copied(new.name, new.id, source.name, result.total, user=c.user)


def _split(cmd: Command, c: Caller) -> Message:
    from core.split import SplitPlan, parse_sizes, split

    plan = SplitPlan(parts=cmd.parts) if cmd.parts is not None else SplitPlan(percents=parse_sizes(cmd.percents))
    result = split(segments.resolve(cmd.segment), plan, c.actor, seed=cmd.seed, by=cmd.by,
                   names=list(cmd.names) if cmd.names else None)
    return blocks.split_done(result.as_dict(), user=c.user)


def _export_list(cmd: Command, c: Caller) -> Message:
    from core.export import to_list

    source = segments.resolve(cmd.segment)
    target, n = to_list(source, cmd.name, c.actor)
    return blocks.exported_list(source.name, target.name, target.id, n, user=c.user)


def _export_csv(cmd: Command, c: Caller) -> Outcome:
    from core.export import to_csv

    seg = segments.resolve(cmd.segment)
    folder = Path(tempfile.mkdtemp(prefix="segmenta-export-"))
    filename = (re.sub(r"[^\w.-]+", "-", seg.name, flags=re.UNICODE).strip("-.") or f"segment-{seg.id}") + ".csv"
    try:
        rows = to_csv(seg, folder / filename, c.actor, list(cmd.fields) if cmd.fields else None, c.cfg)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Outcome(upload=Upload(folder / filename, filename, f"{seg.name} — members",
                                 blocks.export_comment(seg.name, rows, c.user), seg.name, rows))


def _empty(cmd: Command, c: Caller) -> Message:
    seg = segments.resolve(cmd.segment)
    segments.require_list(seg, "emptied")  # ask only when core would go ahead
    return blocks.confirm_empty(seg.name, segments.count_members(seg), _pending("empty", seg, c))


def _delete(cmd: Command, c: Caller) -> Message:
    seg = segments.resolve(cmd.segment)
    return blocks.confirm_delete(seg.name, seg.kind, segments.count_members(seg), cmd.with_contacts,
                                 _pending("delete", seg, c, with_contacts=cmd.with_contacts))


def _members(cmd: Command, c: Caller) -> Message:
    seg = segments.resolve(cmd.segment)
    found, unknown = segments.contact_ids_for_emails(cmd.emails)
    if cmd.op == "add":
        n = segments.add_contacts(seg, found.values(), c.actor)
        verb = "added"
    else:
        n = segments.remove_contacts(seg, found.values(), c.actor)
        verb = "removed"
    return blocks.changed_members(verb, seg.name, n, seg.member_count, unknown, user=c.user)


def _why(cmd: Command, c: Caller) -> Message:
    from core.why import why

    return blocks.why(why(cmd.emails[0], cmd.segment, cfg=c.cfg))


def _subscription(cmd: Command, c: Caller) -> Message:
    channel = cmd.channel or c.channel
    if not channel:
        raise BadInput(f"name a channel: `{c.prog} {cmd.op} SEGMENT #channel`")
    seg = segments.resolve(cmd.segment)
    if cmd.op == "subscribe":
        d = notices.subscribe(seg, channel, c.actor)
    else:
        d = notices.unsubscribe(seg, channel, c.actor)
    return blocks.subscribed(d["segment"], d["channel"], cmd.op == "subscribe", user=c.user)


_COMMANDS = {
    "help": _help, "list": _list, "show": _show, "create": _form, "create_list": _create_list,
    "create_dynamic": _create_dynamic, "preview": _preview, "refresh": _refresh, "copy": _copy,
    "split": _split, "export_csv": _export_csv, "export_list": _export_list, "empty": _empty,
    "delete": _delete, "add": _members, "remove": _members, "why": _why,
    "subscribe": _subscription, "unsubscribe": _subscription,
}


# ---- confirmations ------------------------------------------------------------------

_claimed: OrderedDict[str, None] = OrderedDict()  # the nonces used, newest last
_claim_lock = threading.Lock()
CLAIMS_KEPT = 100_000


def _pending(op: str, seg, c: Caller, **extra) -> dict:
    """What the confirm button carries: enough to act on, and a nonce so that it acts once."""
    return {"op": op, "id": seg.id, "name": seg.name, "user": c.user, "nonce": uuid.uuid4().hex, **extra}


def claim(value: dict) -> bool:
    """True the first time a confirmation is used; False on every later click."""
    with _claim_lock:
        if value["nonce"] in _claimed:
            return False
        _claimed[value["nonce"]] = None
        if len(_claimed) > CLAIMS_KEPT:  # a question that old has long been answered or forgotten
            _claimed.popitem(last=False)
        return True


def pending_value(raw: str) -> dict:
    try:
        value = json.loads(raw)
        assert value["op"] in ("empty", "delete") and isinstance(value["id"], int) and value["nonce"]
    except Exception:
        raise BadInput("that button is out of date; type the command again") from None
    return value


def confirmed(value: dict, caller: Caller) -> Outcome:
    """Do the emptying or deleting a person confirmed with the button."""
    from core.delete import delete, empty

    with connection():
        seg = segments.resolve(value["id"])
        if value["op"] == "empty":
            return Outcome(blocks.emptied(seg.name, empty(seg, caller.actor), user=caller.user))
        result = delete(seg, caller.actor, with_contacts=bool(value.get("with_contacts")), confirmed=True)
        result["with_contacts"] = bool(value.get("with_contacts"))
        return Outcome(blocks.deleted(result, user=caller.user))


def working_on(value: dict) -> Message:
    verb = "Emptying" if value["op"] == "empty" else "Deleting"
    return blocks.working(f"{verb} {blocks.quoted(value['name'])}…")


# ---- other buttons ----------------------------------------------------------------------

def act(action_id: str, value: str, caller: Caller) -> Outcome:
    """A click on a button of one of our messages (other than confirm and cancel)."""
    try:
        if action_id == blocks.SHOW:
            cmd, page = Command("show", segment=f"#{int(value)}"), None
        elif action_id.startswith(blocks.PAGE):
            v = json.loads(value)
            cmd, page = Command("list", text=v.get("q") or None), int(v.get("p", 1))
        else:
            raise ValueError(action_id)
    except (ValueError, TypeError, AttributeError):
        raise BadInput("that button is out of date; type the command again") from None
    if page is None:
        return run(cmd, caller)
    with connection():
        return Outcome(_list(cmd, caller, page=page), replace=True)


# ---- the form --------------------------------------------------------------------------

def check_form(name: str, kind: str, condition: str, cfg, *, count: bool) -> dict | None:
    """Check a submitted form against core without saving: the name, and with
    COUNT, the dynamic segment's condition and its count. Raises SegmentaError."""
    from core.preview import preview

    with connection():
        segments.check_name(name)
        if count:
            return preview(condition, cfg=cfg, samples=0)
    return None


def create_from_form(name: str, kind: str, condition: str, caller: Caller) -> Message:
    cmd = Command("create_list", name=name) if kind == "list" else Command(
        "create_dynamic", name=name, condition=condition)
    return run(cmd, caller).message


# ---- App Home --------------------------------------------------------------------------

def home() -> dict:
    from core.search import search

    with connection():
        biggest = search(sort="size", limit=10)
        refreshes = [
            {"at": dt.datetime.fromisoformat(e["at"]), "segment": e["segment"], "trigger": e["details"].get("trigger"),
             "total": e["details"].get("total"), "joined": e["details"].get("joined"),
             "left": e["details"].get("left")}
            for e in audit.read(300) if e["operation"] == "refresh"
        ][:10]
        subs = _all_subscriptions()
    return blocks.home(biggest, refreshes, subs)


def _all_subscriptions(limit: int = 50) -> list[dict]:
    # core.notices lists one segment's channels; the home tab wants every one, in one read
    from core.store.models import Segment
    from core.store.models_notices import Subscription

    rows = (Subscription.select(Subscription.channel, Subscription.failure, Segment.name)
            .join(Segment, on=(Subscription.segment == Segment.id))
            .order_by(Subscription.id.desc()).limit(limit).dicts())
    return [{"channel": r["channel"], "segment": r["name"],
             "status": f"failing: {r['failure']}" if r["failure"] else "ok"} for r in rows]
