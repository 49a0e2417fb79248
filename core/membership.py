"""Join and leave at once: when contacts change, exactly those contacts are
re-evaluated against every dynamic segment, inside the caller's transaction."""
from __future__ import annotations

from typing import Iterable

from .audit import Actor
from .store import database
from .store.models import Segment


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


def contacts_changed_in(select_ids: str, actor: Actor, *, reason: str = "import", cfg=None) -> dict[int, tuple[int, int]]:
    """`contacts_changed` for the contacts whose ids SELECT_IDS (SQL) gives, such as
    an import's staging table: the ids never travel through Python."""
    dynamics = _dynamic_segments(None)
    if not dynamics:
        return {}
    from .bulk import analyze_scratch
    from .refresh import scratch_table

    touched = scratch_table("changed_contacts")
    database.obj.execute_sql(f"INSERT INTO {touched} (contact_id) SELECT DISTINCT contact_id FROM ({select_ids}) x")
    analyze_scratch(touched)
    return _reevaluate(dynamics, touched, reason, cfg)


def _dynamic_segments(only_referring_to: Segment | None) -> list[Segment]:
    dynamics = list(Segment.select().where(Segment.kind == "dynamic").order_by(Segment.id))
    if dynamics and only_referring_to is not None:
        from .conditions import segment_refs

        dynamics = [s for s in dynamics if _refers_to(s, only_referring_to, segment_refs)]
    return dynamics


def _reevaluate(dynamics: list[Segment], touched: str, reason: str, cfg) -> dict[int, tuple[int, int]]:
    """Re-evaluate the contacts in the scratch table TOUCHED against DYNAMICS."""
    from . import segments
    from .refresh import apply_difference, matching_query, scratch_table

    new = "changed_matching"
    out = {}
    for seg in dynamics:
        tree = segments.condition_tree(seg)
        scratch_table(new)
        q = matching_query(tree, cfg)
        sql, params = q.sql()
        database.obj.execute_sql(
            f"INSERT INTO {new} (contact_id) SELECT t.contact_id FROM {touched} t "
            f"WHERE t.contact_id IN ({sql})",
            params,
        )
        joined, left = apply_difference(seg, new, reason=reason, scope=touched)
        if joined or left:
            segments.set_member_count(seg)
            out[seg.id] = (joined, left)
    return out


def _refers_to(seg: Segment, target: Segment, segment_refs) -> bool:
    """Does SEG's condition name TARGET, directly or through other segments?"""
    from . import segments

    seen = set()
    todo = [seg]
    while todo:
        s = todo.pop()
        if s.id in seen or s.kind != "dynamic":
            continue
        seen.add(s.id)
        for ref in segment_refs(segments.condition_tree(s)):
            try:
                r = segments.resolve(ref)
            except Exception:
                continue
            if r.id == target.id:
                return True
            todo.append(r)
    return False
