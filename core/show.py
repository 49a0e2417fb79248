"""Show: everything about one segment."""
from __future__ import annotations

import datetime as dt
import json

import peewee as pw

from . import config as config_mod, segments
from .config import format_duration
from .store.models import MembershipChange, RefreshRun, Segment

HISTORY_POINTS = 30

# Filled by core.notices: (segment) -> list of {"channel", "status", ...}
CHANNELS_OF = []


def schedule_of(seg: Segment, cfg=None) -> str | None:
    if seg.kind != "dynamic":
        return None
    if seg.schedule_off:
        return "off"
    cfg = cfg or config_mod.current()
    if seg.refresh_every:
        return f"every {format_duration(seg.refresh_every)}"
    return f"every {format_duration(cfg.refresh_every)} (default)"


def origin_of(seg: Segment) -> dict | None:
    if not seg.origin:
        return None
    origin = json.loads(seg.origin)
    src = Segment.get_or_none(Segment.id == origin.get("source_id"))
    origin["source"] = src.name if src else origin.get("source_name")
    if origin.get("type") == "copy":
        origin["text"] = f'copy of "{origin["source"]}"'
    elif origin.get("type") == "split":
        origin["text"] = f'part {origin["part"]} of a split of "{origin["source"]}" with seed {origin["seed"]}'
    elif origin.get("type") == "export":
        origin["text"] = f'export of "{origin["source"]}"'
    else:
        origin["text"] = json.dumps(origin)
    return origin


def size_history(seg: Segment, points: int = HISTORY_POINTS) -> list[dict]:
    """Size over time: each refresh for a dynamic segment; each day of changes for a list."""
    if seg.kind == "dynamic":
        runs = (
            RefreshRun.select(RefreshRun.finished_at, RefreshRun.total)
            .where((RefreshRun.segment == seg) & RefreshRun.total.is_null(False))
            .order_by(RefreshRun.id.desc())
            .limit(points)
        )
        return [{"at": r.finished_at, "size": r.total} for r in reversed(list(runs))]
    day = pw.fn.DATE(MembershipChange.at) if segments_backend() == "sqlite" else MembershipChange.at.cast("date")
    delta = pw.fn.SUM(pw.Case(None, [(MembershipChange.change == "joined", 1)], -1))
    rows = list(
        MembershipChange.select(day.alias("day"), delta.alias("delta"))
        .where(MembershipChange.segment == seg)
        .group_by(day)
        .order_by(day)
        .tuples()
    )
    deltas: dict = {}
    born = json.loads(seg.origin).get("members") if seg.origin else None
    if born:  # made with members (segments.born_with), recorded once rather than a row each
        deltas[seg.created_at.date()] = int(born)
    for d, change in rows:
        d = d.date() if isinstance(d, dt.datetime) else d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d))
        deltas[d] = deltas.get(d, 0) + int(change)
    out, size = [], 0
    for d in sorted(deltas):
        size += deltas[d]
        out.append({"at": d, "size": size})
    return out[-points:]


def segments_backend() -> str:
    from .store import backend

    return backend()


def show(seg: Segment, cfg=None) -> dict:
    last = (
        RefreshRun.select()
        .where((RefreshRun.segment == seg) & RefreshRun.finished_at.is_null(False))
        .order_by(RefreshRun.id.desc())
        .first()
    )
    failed = (
        RefreshRun.select()
        .where((RefreshRun.segment == seg) & RefreshRun.error.is_null(False))
        .order_by(RefreshRun.id.desc())
        .first()
    )
    channels = []
    for provider in CHANNELS_OF:
        channels.extend(provider(seg))
    return {
        "id": seg.id,
        "name": seg.name,
        "kind": seg.kind,
        "condition": seg.condition_text,
        "members": segments.count_members(seg),
        "active": segments.count_active(seg),
        "schedule": schedule_of(seg, cfg),
        "last_refresh": (
            {"at": last.finished_at, "trigger": last.trigger, "total": last.total,
             "joined": last.joined, "left": last.left}
            if last else None
        ),
        "last_error": (
            {"at": failed.started_at, "error": failed.error}
            if failed and (not last or failed.id > last.id) else None
        ),
        "origin": origin_of(seg),
        "channels": channels,
        "history": size_history(seg),
        "created_at": seg.created_at,
        "created_by": seg.created_by,
    }


from . import notices as _notices  # noqa: E402,F401  (registers the channels of show())
