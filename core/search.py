"""Search: segments by a part of the name, id, kind or a word of their condition."""
from __future__ import annotations

import re

import peewee as pw

from .errors import BadInput
from .show import schedule_of
from .store.models import RefreshRun, Segment
from .text import norm

KIND_WORDS = {"list": "list", "lists": "list", "static": "list", "dynamic": "dynamic"}
SORTS = {
    "newest": (Segment.created_at.desc(), Segment.id.desc()),
    "name": (Segment.name_norm.asc(),),
    "size": (Segment.member_count.desc(), Segment.id.desc()),
}


def _contains(column, word: str):
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", word) + "%"
    # Spelled out: Peewee turns its LIKE operator into GLOB on SQLite.
    return pw.NodeList((column, pw.SQL("LIKE"), pw.Value(pattern), pw.SQL("ESCAPE '\\'")))


def search(text: str | None = None, *, kind: str | None = None, sort: str = "newest", limit: int | None = None) -> list[dict]:
    if sort not in SORTS:
        raise BadInput(f'cannot sort by "{sort}"; use one of {", ".join(SORTS)}')
    if kind not in (None, "list", "dynamic"):
        raise BadInput(f'"{kind}" is not a kind of segment; use list or dynamic')
    q = Segment.select()
    if kind:
        q = q.where(Segment.kind == kind)
    for word in (norm(text) or "").split():
        # every word must be found: in the name, in the condition, as the id, or as the kind
        hit = _contains(Segment.name_norm, word) | _contains(Segment.condition_norm, word)
        m = re.fullmatch(r"#?(\d{1,11})", word)
        if m:
            hit = hit | (Segment.id == int(m.group(1)))
        if word in KIND_WORDS:
            hit = hit | (Segment.kind == KIND_WORDS[word])
        q = q.where(hit)
    q = q.order_by(*SORTS[sort])
    if limit:
        q = q.limit(limit)
    segments = list(q)
    last = _last_runs([s.id for s in segments])
    return [summary(s, last.get(s.id)) for s in segments]


def _last_runs(ids: list[int]) -> dict[int, RefreshRun]:
    if not ids:
        return {}
    newest = (
        RefreshRun.select(RefreshRun.segment, pw.fn.MAX(RefreshRun.id).alias("last"))
        .where(RefreshRun.segment.in_(ids) & RefreshRun.finished_at.is_null(False))
        .group_by(RefreshRun.segment)
    )
    runs = RefreshRun.select().where(RefreshRun.id.in_([r.last for r in newest]))
    return {r.segment_id: r for r in runs}


def summary(seg: Segment, run: RefreshRun | None) -> dict:
    return {
        "id": seg.id,
        "name": seg.name,
        "kind": seg.kind,
        "members": seg.member_count,
        "condition": seg.condition_text,
        "schedule": schedule_of(seg),
        "created_at": seg.created_at,
        "last_refresh": run.finished_at if run else None,
        "last_joined": run.joined if run else None,
        "last_left": run.left if run else None,
    }
