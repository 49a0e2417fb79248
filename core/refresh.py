"""Refresh: recompute a dynamic segment's members in one transaction.

The new members are computed by one set-based query into a scratch table;
who joined and who left come from set differences in SQL, never from
Python loops over contacts.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import audit, clock, config as config_mod
from .audit import Actor
from .bulk import analyze_scratch, empty_scratch, wrote_many
from .errors import Refused
from .store import database, write
from .store.models import Contact, RefreshRun, Segment, utcnow


@dataclass
class RefreshResult:
    segment_id: int
    name: str
    total: int
    joined: int
    left: int
    run_id: int

    def as_dict(self) -> dict:
        return {
            "segment_id": self.segment_id,
            "segment": self.name,
            "total": self.total,
            "joined": self.joined,
            "left": self.left,
            "run_id": self.run_id,
        }


def eval_context(cfg=None, *, few: bool = False):
    from .conditions import EvalContext

    cfg = cfg or config_mod.current()
    return EvalContext(today=clock.today(cfg.tz), custom_fields=cfg.custom_fields, few=few)


def matching_query(tree, cfg=None, *, few: bool = False):
    """SELECT id FROM contact WHERE <condition>, as a Peewee query. FEW: to be
    narrowed to a few contacts by id (see EvalContext)."""
    from .conditions import compile_where

    return Contact.select(Contact.id).where(compile_where(tree, eval_context(cfg, few=few)))


def scratch_table(name: str) -> str:
    """A per-connection temporary table of contact ids, emptied for reuse."""
    db = database.obj
    db.execute_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} (contact_id BIGINT PRIMARY KEY)")
    empty_scratch(name)
    return name


def scratch_ids(name: str, ids: list[int]) -> str:
    """`scratch_table(NAME)` holding IDS (distinct)."""
    db = database.obj
    p = db.param
    scratch_table(name)
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        db.execute_sql(f"INSERT INTO {name} (contact_id) VALUES " + ", ".join([f"({p})"] * len(chunk)), chunk)
    analyze_scratch(name)
    return name


def apply_difference(seg: Segment, new_table: str, *, reason: str, run_id=None, scope: str | None = None):
    """Make SEG's members equal NEW_TABLE's ids (within SCOPE, a table of ids, if given).

    Records each join and leave; returns (joined, left), and (0, 0) if SEG was
    deleted meanwhile: its row is held first (key share, as a foreign key's check
    would), so a deletion waits or is seen.
    """
    from .segments import lock

    if not lock(seg, key_share=True):
        return 0, 0
    db = database.obj
    p = db.param
    now = utcnow()
    in_scope = f" AND m.contact_id IN (SELECT contact_id FROM {scope})" if scope else ""
    left_where = (
        f"m.segment_id = {p}{in_scope} AND NOT EXISTS "
        f"(SELECT 1 FROM {new_table} n WHERE n.contact_id = m.contact_id)"
    )
    joined_where = (
        f"NOT EXISTS (SELECT 1 FROM membership m WHERE m.segment_id = {p} AND m.contact_id = n.contact_id)"
    )
    left = db.execute_sql(
        "INSERT INTO membership_change (segment_id, contact_id, change, at, reason, refresh_run_id) "
        f"SELECT {p}, m.contact_id, 'left', {p}, {p}, {p} FROM membership m WHERE {left_where}",
        (seg.id, now, reason, run_id, seg.id),
    ).rowcount
    if left:
        db.execute_sql(f"DELETE FROM membership WHERE segment_id = {p} AND contact_id IN "
                       f"(SELECT m.contact_id FROM membership m WHERE {left_where})", (seg.id, seg.id))
    joined = db.execute_sql(
        "INSERT INTO membership_change (segment_id, contact_id, change, at, reason, refresh_run_id) "
        f"SELECT {p}, n.contact_id, 'joined', {p}, {p}, {p} FROM {new_table} n WHERE {joined_where}",
        (seg.id, now, reason, run_id, seg.id),
    ).rowcount
    if joined:
        db.execute_sql(
            "INSERT INTO membership (segment_id, contact_id, added_at) "
            f"SELECT {p}, n.contact_id, {p} FROM {new_table} n WHERE {joined_where}",
            (seg.id, now, seg.id),
        )
    wrote_many("membership", joined + left)
    return joined, left


def refresh(seg: Segment, actor: Actor, *, trigger: str = "manual", cfg=None, audit_it: bool = True) -> RefreshResult:
    """Recompute SEG's members now; records a refresh run with joined/left."""
    from . import segments

    if seg.kind != "dynamic":
        raise Refused(f'"{seg.name}" is a list: its members change only by hand, so there is nothing to refresh')
    tree = segments.condition_tree(seg)
    with write():
        run = RefreshRun.create(segment=seg, trigger=trigger, actor=f"{actor.face}:{actor.who}")
        new = scratch_table("refresh_new")
        sql, params = matching_query(tree, cfg).sql()
        database.obj.execute_sql(f"INSERT INTO {new} (contact_id) {sql}", params)
        joined, left = apply_difference(seg, new, reason="refresh", run_id=run.id)
        total = segments.set_member_count(seg)
        finished = utcnow()
        RefreshRun.update(finished_at=finished, total=total, joined=joined, left=left).where(
            RefreshRun.id == run.id
        ).execute()
        Segment.update(last_refresh_at=finished).where(Segment.id == seg.id).execute()
        seg.last_refresh_at = finished
        if audit_it:
            audit.record(actor, "refresh", seg, trigger=trigger, total=total, joined=joined, left=left)
        _after_refresh(seg, run.id)
    return RefreshResult(seg.id, seg.name, total, joined, left, run.id)


# Hooks run inside the refresh's transaction (the notices outbox registers one).
AFTER_REFRESH = []


def _after_refresh(seg: Segment, run_id: int) -> None:
    for hook in AFTER_REFRESH:
        hook(seg, run_id)


def refresh_all(actor: Actor, *, trigger: str = "manual", cfg=None) -> list[RefreshResult]:
    out = []
    for seg in Segment.select().where(Segment.kind == "dynamic").order_by(Segment.id):
        out.append(refresh(seg, actor, trigger=trigger, cfg=cfg))
    return out


# Refresh notices belong to every refresh, in every process: registering them
# here means no face can forget to.
from . import notices as _notices  # noqa: E402,F401
