"""Notices: Slack channels told of a segment's refreshes.

Subscribing stores the segment's current members as the channel's baseline.
Every refresh, in any process, runs `note_refresh` inside its own
transaction: where the members differ from the baseline, it writes a notice
into the outbox (new size, joined, left, a few sample emails) and moves the
baseline, so the notice exists exactly when the refresh does. A sender
(core.sender) drains the outbox later, outside any refresh.

Importing this module registers the refresh hook and the `show` provider.
"""
from __future__ import annotations

import json
import re

from . import audit, refresh as refresh_mod, show as show_mod
from .audit import Actor
from .errors import BadInput, Conflict, NotFound, Refused
from .store import database, write
from .store.models import Segment
from .store.models_notices import Notice, NoticeBaseline, Subscription

SAMPLES = 5

_MENTION = re.compile(r"^<#([A-Z0-9]+)(?:\|[^>]*)?>$")  # how Slack writes a channel in a command
_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_NAME = re.compile(r"^[^\s#<>@,]{1,80}$")


def channel_ref(text: str) -> str:
    """A channel as Slack's chat.postMessage accepts it: an id (C0123ABC) or #name."""
    raw = (text or "").strip()
    m = _MENTION.match(raw)
    if m:
        return m.group(1)
    if _ID.match(raw):
        return raw
    name = raw[1:] if raw.startswith("#") else raw
    if not _NAME.match(name):
        raise BadInput(f'"{raw}" is not a Slack channel; write it as #marketing or a channel id like C0123ABC')
    return "#" + name.lower()


# ---- subscriptions ------------------------------------------------------------

def subscribe(seg: Segment, channel: str, actor: Actor) -> dict:
    """Tell CHANNEL of SEG's refreshes; the members now are what the first notice compares with."""
    if seg.kind != "dynamic":
        raise Refused(f'"{seg.name}" is a list: it is never refreshed, so a channel would never be told anything')
    ref = channel_ref(channel)
    p = database.obj.param
    with write():
        if Subscription.select().where((Subscription.segment == seg.id) & (Subscription.channel_key == ref.lower())).exists():
            raise Conflict(f'{ref} is already told of "{seg.name}"')
        sub = Subscription.create(segment=seg.id, channel=ref, channel_key=ref.lower(),
                                  created_by=f"{actor.face}:{actor.who}")
        baseline = database.obj.execute_sql(
            "INSERT INTO notice_baseline (subscription_id, contact_id) "
            f"SELECT {p}, contact_id FROM membership WHERE segment_id = {p}", (sub.id, seg.id)
        ).rowcount
        audit.record(actor, "subscribe", seg, channel=ref, members=baseline)
    return {"segment_id": seg.id, "segment": seg.name, "channel": ref, "members": baseline}


def unsubscribe(seg: Segment, channel: str, actor: Actor) -> dict:
    """Stop telling CHANNEL; notices owed to it and not yet sent are dropped."""
    ref = channel_ref(channel)
    with write():
        sub = Subscription.get_or_none((Subscription.segment == seg.id) & (Subscription.channel_key == ref.lower()))
        if sub is None:
            told = ", ".join(s["channel"] for s in subscriptions(seg)) or "no channel"
            raise NotFound(f'{ref} is not told of "{seg.name}" (told: {told})')
        # children first: correct even where the cascade is not enforced
        NoticeBaseline.delete().where(NoticeBaseline.subscription == sub.id).execute()
        Notice.delete().where((Notice.subscription_id == sub.id) & (Notice.state == "pending")).execute()
        sub.delete_instance()
        audit.record(actor, "unsubscribe", seg, channel=ref)
    return {"segment_id": seg.id, "segment": seg.name, "channel": ref}


def subscriptions(seg: Segment) -> list[dict]:
    """The channels told of SEG: status "ok" or "failing: <Slack's error>", last notice sent."""
    out = []
    for sub in Subscription.select().where(Subscription.segment == seg.id).order_by(Subscription.id):
        out.append({
            "channel": sub.channel,
            "status": f"failing: {sub.failure}" if sub.failure else "ok",
            "last_notice_at": sub.last_notice_at,
            "since": sub.created_at,
        })
    return out


# ---- the outbox -------------------------------------------------------------------

def note_refresh(seg: Segment, run_id: int) -> list[int]:
    """After a refresh, in its transaction: one notice per channel whose last
    notice no longer matches the members. Returns the new notices' ids."""
    subs = list(Subscription.select(Subscription.id, Subscription.channel).where(Subscription.segment == seg.id))
    if not subs:
        return []
    size = seg.member_count
    made = []
    for sub in subs:
        joined, left = _difference(seg.id, sub.id)
        if not joined and not left:
            continue
        notice = Notice.create(
            segment_id=seg.id, segment_name=seg.name, subscription_id=sub.id, channel=sub.channel,
            refresh_run_id=run_id, size=size, joined=joined, left=left,
            samples=json.dumps(_samples(seg.id, sub.id), ensure_ascii=False),
        )
        _move_baseline(seg.id, sub.id)
        made.append(notice.id)
    return made


_NEW = ("FROM membership m WHERE m.segment_id = {p} AND NOT EXISTS "
        "(SELECT 1 FROM notice_baseline b WHERE b.subscription_id = {p} AND b.contact_id = m.contact_id)")
_GONE = ("FROM notice_baseline b WHERE b.subscription_id = {p} AND NOT EXISTS "
         "(SELECT 1 FROM membership m WHERE m.segment_id = {p} AND m.contact_id = b.contact_id)")


def _difference(seg_id: int, sub_id: int) -> tuple[int, int]:
    db = database.obj
    p = db.param
    joined = db.execute_sql("SELECT COUNT(*) " + _NEW.format(p=p), (seg_id, sub_id)).fetchone()[0]
    left = db.execute_sql("SELECT COUNT(*) " + _GONE.format(p=p), (sub_id, seg_id)).fetchone()[0]
    return int(joined), int(left)


def _samples(seg_id: int, sub_id: int) -> dict:
    db = database.obj
    p = db.param
    joined = db.execute_sql(
        "SELECT c.email FROM contact c WHERE c.id IN (SELECT m.contact_id " + _NEW.format(p=p) + ") "
        f"ORDER BY c.id LIMIT {SAMPLES}", (seg_id, sub_id)).fetchall()
    # a contact deleted since has no email left to show; it still counts as left
    left = db.execute_sql(
        "SELECT c.email FROM contact c WHERE c.id IN (SELECT b.contact_id " + _GONE.format(p=p) + ") "
        f"ORDER BY c.id LIMIT {SAMPLES}", (sub_id, seg_id)).fetchall()
    return {"joined": [e for (e,) in joined], "left": [e for (e,) in left]}


def _move_baseline(seg_id: int, sub_id: int) -> None:
    db = database.obj
    p = db.param
    db.execute_sql(
        f"DELETE FROM notice_baseline WHERE subscription_id = {p} AND NOT EXISTS (SELECT 1 FROM membership m "
        f"WHERE m.segment_id = {p} AND m.contact_id = notice_baseline.contact_id)", (sub_id, seg_id))
    db.execute_sql(
        "INSERT INTO notice_baseline (subscription_id, contact_id) "
        f"SELECT {p}, m.contact_id " + _NEW.format(p=p), (sub_id, seg_id, sub_id))


def outbox(state: str | None = "pending", limit: int = 100) -> list[dict]:
    """Notices, oldest first (for people and tests: what is owed, what failed)."""
    q = Notice.select().order_by(Notice.id).limit(limit)
    if state:
        q = q.where(Notice.state == state)
    return [
        {"id": n.id, "segment": n.segment_name, "channel": n.channel, "size": n.size, "joined": n.joined,
         "left": n.left, "state": n.state, "attempts": n.attempts, "created_at": n.created_at,
         "sent_at": n.sent_at, "error": n.error}
        for n in q
    ]


def _register() -> None:
    # idempotent: importing the module twice (reloads in tests) must not send twice
    if note_refresh not in refresh_mod.AFTER_REFRESH:
        refresh_mod.AFTER_REFRESH.append(note_refresh)
    if subscriptions not in show_mod.CHANNELS_OF:
        show_mod.CHANNELS_OF.append(subscriptions)


_register()
