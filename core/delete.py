"""Empty and delete: the operations that take members (or contacts) away."""
from __future__ import annotations

from . import audit, segments
from .audit import Actor
from .errors import Refused
from .membership import contacts_changed
from .refresh import scratch_table
from .store import database, write
from .store.models import Segment, utcnow


def empty(seg: Segment, actor: Actor) -> int:
    """Remove every member of a list; the contacts stay in the database."""
    if seg.kind != "list":
        raise Refused(
            f'"{seg.name}" is a dynamic segment: its members follow its condition, so it cannot be emptied. '
            "Change its condition, or delete it."
        )
    db = database.obj
    p = db.param
    with write():
        former = [c for (c,) in db.execute_sql(
            f"SELECT contact_id FROM membership WHERE segment_id = {p}", (seg.id,)).fetchall()]
        db.execute_sql(
            "INSERT INTO membership_change (segment_id, contact_id, change, at, reason) "
            f"SELECT {p}, contact_id, 'left', {p}, 'empty' FROM membership WHERE segment_id = {p}",
            (seg.id, utcnow(), seg.id),
        )
        db.execute_sql(f"DELETE FROM membership WHERE segment_id = {p}", (seg.id,))
        segments.set_member_count(seg)
        audit.record(actor, "empty", seg, removed=len(former))
        contacts_changed(former, actor, reason="empty", only_referring_to=seg)
    return len(former)


def referring_segments(seg: Segment) -> list[Segment]:
    """The dynamic segments whose condition names SEG."""
    from .conditions import segment_refs

    out = []
    for other in Segment.select().where((Segment.kind == "dynamic") & (Segment.id != seg.id)):
        for ref in segment_refs(segments.condition_tree(other)):
            try:
                if segments.resolve(ref).id == seg.id:
                    out.append(other)
                    break
            except Exception:
                continue
    return out


def delete(seg: Segment, actor: Actor, *, with_contacts: bool = False, confirmed: bool = False) -> dict:
    """Delete SEG. With contacts: every member contact too, with orders and
    memberships, in one transaction — irreversible, so CONFIRMED must be true."""
    users = referring_segments(seg)
    if users:
        names = ", ".join(f'"{s.name}"' for s in users)
        raise Refused(
            f'"{seg.name}" cannot be deleted: the condition of {names} refers to it. Change or delete those first.'
        )
    if with_contacts and not confirmed:
        raise Refused("deleting contacts is irreversible and needs an explicit confirmation")
    db = database.obj
    p = db.param
    deleted_contacts = 0
    with write(deleting_contacts=with_contacts):
        segments.lock(seg)  # a refresh or an add in progress finishes first
        members = segments.count_members(seg)
        if with_contacts:
            scratch_table("doomed")
            db.execute_sql(
                f"INSERT INTO doomed (contact_id) SELECT contact_id FROM membership WHERE segment_id = {p}",
                (seg.id,),
            )
            affected = [s for (s,) in db.execute_sql(
                f"SELECT DISTINCT segment_id FROM membership WHERE segment_id <> {p} "
                "AND contact_id IN (SELECT contact_id FROM doomed)", (seg.id,)).fetchall()]
            db.execute_sql(
                "INSERT INTO membership_change (segment_id, contact_id, change, at, reason) "
                f"SELECT segment_id, contact_id, 'left', {p}, 'contact deleted' FROM membership "
                f"WHERE segment_id <> {p} AND contact_id IN (SELECT contact_id FROM doomed)",
                (utcnow(), seg.id),
            )
            # Children first: correct even where the cascade is not enforced.
            for table in ("membership", "interest", "custom_value", '"order"', "order_totals"):
                db.execute_sql(f"DELETE FROM {table} WHERE contact_id IN (SELECT contact_id FROM doomed)")
            deleted_contacts = db.execute_sql(
                "DELETE FROM contact WHERE id IN (SELECT contact_id FROM doomed)").rowcount
            for sid in affected:
                segments.set_member_count(Segment.get_by_id(sid))
        audit.record(actor, "delete", seg, kind=seg.kind, members=members,
                     with_contacts=with_contacts, contacts_deleted=deleted_contacts)
        # Its members and their history: explicitly, as PostgreSQL has no cascade
        # from the segment to them (core.store.schema, version 4).
        for table in ("membership", "membership_change"):
            db.execute_sql(f"DELETE FROM {table} WHERE segment_id = {p}", (seg.id,))
        seg.delete_instance()
    return {"segment": seg.name, "members": members, "contacts_deleted": deleted_contacts}
