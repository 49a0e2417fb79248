"""Join and leave at once: when contacts change, exactly those contacts are
re-evaluated against every dynamic segment, inside the caller's transaction."""
from __future__ import annotations

from itertools import islice
from typing import Callable, Iterable

import peewee as pw

from .audit import Actor
from .bulk import analyze_scratch, prefer_index_probes, segment_grew
from .store import database
from .store.models import Contact, Segment


def contacts_changed(
    contact_ids: Iterable[int],
    actor: Actor,
    *,
    reason: str = "import",
    only_referring_to: Segment | None = None,
    cfg=None,
) -> dict[int, tuple[int, int]]:
    """Re-evaluate CONTACT_IDS against the dynamic segments; returns {segment id: (joined, left)}.

    With ONLY_REFERRING_TO, only the dynamic segments whose condition names
    that segment are re-evaluated (a list's members changed, nothing else).
    Call inside the transaction that changed the contacts.
    """
    ids = sorted(set(int(i) for i in contact_ids))
    if not ids:
        return {}
    dynamics = _dynamic_segments(only_referring_to)
    if not dynamics:
        return {}
    from .refresh import scratch_ids

    touched = scratch_ids("changed_contacts", ids)
    return _reevaluate(dynamics, touched, reason, cfg)


def contacts_changed_in(select_ids: str | Callable[[], str], actor: Actor, *, reason: str = "import",
                        only_orders: bool = False, cfg=None) -> dict[int, tuple[int, int]]:
    """`contacts_changed` for the contacts whose ids SELECT_IDS (SQL) gives, such as
    an import's staging table: the ids never travel through Python. SELECT_IDS may
    be a function giving that SQL (core.bulk.staged_on_demand), called only when
    some dynamic segment is to be re-evaluated.

    ONLY_ORDERS: only their orders changed (an orders file), so only the dynamic
    segments whose condition tests an `orders.` field, itself or through a
    dynamic segment it includes, can gain or lose them; the others are passed
    over (re-evaluating a segment of 880,000 members for each batch of an
    orders file that could not change it was a third of that import).
    """
    dynamics = _dynamic_segments(None)
    if only_orders:
        dynamics = [s for s in dynamics if _tests_orders(s)]
    if not dynamics:
        return {}
    from .refresh import scratch_table

    if callable(select_ids):
        select_ids = select_ids()
    touched = scratch_table("changed_contacts")
    database.obj.execute_sql(f"INSERT INTO {touched} (contact_id) SELECT DISTINCT contact_id FROM ({select_ids}) x")
    analyze_scratch(touched)
    return _reevaluate(dynamics, touched, reason, cfg)


def _dynamic_segments(only_referring_to: Segment | None) -> list[Segment]:
    dynamics = list(Segment.select().where(Segment.kind == "dynamic").order_by(Segment.id))
    if dynamics and only_referring_to is not None:
        dynamics = [s for s in dynamics if _refers_to(s, only_referring_to)]
    return dynamics


def _reevaluate(dynamics: list[Segment], touched: str, reason: str, cfg) -> dict[int, tuple[int, int]]:
    """Re-evaluate the contacts in the scratch table TOUCHED against DYNAMICS."""
    from . import segments
    from .refresh import apply_difference, matching_query, scratch_table

    new = "changed_matching"
    out = {}
    prefer_index_probes()  # a few contacts against whole segments: by their ids
    for seg in dynamics:
        tree = segments.condition_tree(seg)
        scratch_table(new)
        # each contact looked up by its id and tested: `IN (the matching contacts)`
        # had SQLite list every contact of the condition (880,000 for `status =
        # active`) for each batch, and PostgreSQL merge them from the first id on
        q = matching_query(tree, cfg, few=True).where(Contact.id == pw.SQL("t.contact_id"))
        sql, params = q.sql()
        database.obj.execute_sql(
            f"INSERT INTO {new} (contact_id) SELECT t.contact_id FROM {touched} t WHERE EXISTS ({sql})",
            params,
        )
        analyze_scratch(new)
        before = seg.member_count or 0
        joined, left = apply_difference(seg, new, reason=reason, scope=touched)
        if joined or left:
            segment_grew(seg.id, before, segments.set_member_count(seg))
            out[seg.id] = (joined, left)
    return out


def _tests_orders(seg: Segment) -> bool:
    """Does SEG's condition test an `orders.` field, directly or through the dynamic
    segments it includes? A segment it names that cannot be found counts as yes:
    re-evaluating it then reports what is wrong, as before."""
    from .conditions import fields_used

    return any(s is None or (tree is not None and any(f.startswith("orders.") for f in fields_used(tree)))
               for s, tree in _included(seg))


def _refers_to(seg: Segment, target: Segment) -> bool:
    """Does SEG's condition name TARGET, directly or through other segments?
    (A segment it names that cannot be found names nothing.)"""
    return any(s is not None and s.id == target.id for s, _ in islice(_included(seg), 1, None))


def _included(seg: Segment):
    """(segment, its condition) for SEG, then for each segment its condition names,
    directly or through the dynamic segments it includes, each once: a list's
    condition is None (its members are what they are), and a segment named that
    cannot be found comes as (None, None)."""
    from . import segments
    from .conditions import segment_refs
    from .conditions.segment_refs import lookup

    seen = set()
    todo = [seg]
    while todo:
        s = todo.pop()
        if s is None:
            yield None, None
            continue
        if s.id in seen:
            continue
        seen.add(s.id)
        tree = segments.condition_tree(s) if s.kind == "dynamic" else None
        yield s, tree
        if tree is not None:
            todo.extend(lookup(ref) for ref in segment_refs(tree))
