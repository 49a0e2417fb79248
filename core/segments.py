"""Segments: finding them, creating them, their members.

A segment is referred to by its name (compared without case) or by its id
(`12` or `#12`). Lists change only when someone changes them; dynamic
segments follow their condition (see core.refresh and core.membership).
"""
from __future__ import annotations

import difflib
import json
import re
import unicodedata
from typing import Iterable


from . import audit, config as config_mod
from .audit import Actor
from .errors import BadInput, ConditionError, Conflict, NotFound, Refused
from .store import backend, database, write
from .store.models import Contact, Membership, Segment, utcnow
from .text import norm

MAX_NAME = 200
_ID = re.compile(r"^#?(\d+)$")


# ---- finding -------------------------------------------------------------

def resolve(ref) -> Segment:
    """The segment named REF (without case) or with id REF / #REF."""
    if isinstance(ref, Segment):
        return ref
    if isinstance(ref, int):
        seg = Segment.get_or_none(Segment.id == ref)
        if seg is None:
            raise NotFound(f"no segment has id #{ref}; search the segments to find its id")
        return seg
    text = str(ref).strip()
    if not text:
        raise BadInput("name a segment, by its name or its id (#12)")
    seg = Segment.get_or_none(Segment.name_norm == norm(text))
    if seg is not None:
        return seg
    m = _ID.match(text)
    if m:
        seg = Segment.get_or_none(Segment.id == int(m.group(1)))
        if seg is not None:
            return seg
    raise NotFound(f'no segment is called "{text}"{did_you_mean(text)}')


def did_you_mean(text: str) -> str:
    names = [n for (n,) in Segment.select(Segment.name).tuples()]
    by_norm = {norm(n): n for n in names}
    close = difflib.get_close_matches(norm(text) or "", list(by_norm), n=1, cutoff=0.6)
    if not close:
        # a part of the name is often what people remember
        part = [n for k, n in by_norm.items() if (norm(text) or "") in k]
        close = [norm(part[0])] if len(part) == 1 else []
    return f' — did you mean "{by_norm[close[0]]}"?' if close else "; search the segments to find its name"


def check_name(name: str) -> str:
    """A segment name as it will be kept: trimmed, NFC, no control characters."""
    if name is None:
        raise BadInput("a segment needs a name")
    clean = unicodedata.normalize("NFC", str(name)).strip()
    if not clean:
        raise BadInput("a segment needs a name")
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\u200d" for ch in clean):
        raise BadInput("a segment name cannot hold control characters; type it again")
    if len(clean) > MAX_NAME:
        raise BadInput(f"a segment name is at most {MAX_NAME} characters; this one has {len(clean)}")
    if _ID.match(clean):
        raise BadInput(f'"{clean}" looks like an id; give the segment a name with a letter in it')
    if Segment.select().where(Segment.name_norm == norm(clean)).exists():
        raise Conflict(f'a segment called "{clean}" exists already; choose another name')
    return clean


# ---- creating ------------------------------------------------------------

def _new(name: str, kind: str, actor: Actor, **fields) -> Segment:
    return Segment.create(
        name=name, name_norm=norm(name), kind=kind, created_by=f"{actor.face}:{actor.who}", **fields
    )


def create_list(name: str, actor: Actor, *, origin: dict | None = None) -> Segment:
    with write():
        seg = _new(check_name(name), "list", actor, origin=json.dumps(origin) if origin else None)
        audit.record(actor, "create", seg, kind="list")
    return seg


def born_with(seg: Segment, members: int) -> None:
    """Record that the new list SEG was made with MEMBERS members (a split's
    part, an export): its size at birth goes into its origin, which is where
    `show` starts its size over time. Its history (membership_change) holds no
    row per member for them: each member's added_at and the origin say when
    and how they came, and the history records what changes afterwards. (A
    row each was half a split's writing: 4.5 of 12.1 s for 880,000 members.)"""
    origin = json.loads(seg.origin) if seg.origin else {}
    origin["members"] = members
    seg.origin = json.dumps(origin)
    Segment.update(origin=seg.origin).where(Segment.id == seg.id).execute()


def parse_condition(text: str, cfg=None, *, own_name: str | None = None, own_id: int | None = None):
    """Parse TEXT with the config's custom fields and the store's segments.

    OWN_NAME / OWN_ID: the segment this condition is for, which it may not
    refer to, directly or through other segments.
    """
    from .conditions import parse, segment_refs
    from .conditions.segment_refs import resolver

    cfg = cfg or config_mod.current()
    base = resolver()

    def resolve(ref):
        if own_name is not None and isinstance(ref, str) and norm(ref) == norm(own_name):
            raise ConditionError(text, None, f'"{own_name}" cannot include itself: a segment cannot refer to itself')
        found = base(ref)
        if own_id is not None and found.id == own_id:
            raise ConditionError(text, None, f'"{found.name}" cannot include itself: a segment cannot refer to itself')
        return found

    tree = parse(text, custom_fields=cfg.custom_fields, segments=resolve)
    if own_id is not None:
        _refuse_loops(text, tree, own_id, segment_refs)
    return tree


def _refuse_loops(text, tree, own_id: int, segment_refs) -> None:
    """Refuse a condition that reaches its own segment through other segments."""
    todo = [(ref, ()) for ref in segment_refs(tree)]
    seen = set()
    while todo:
        ref, path = todo.pop()
        try:
            seg = resolve(ref)
        except NotFound:
            continue
        if seg.id == own_id:
            names = " → ".join(f'"{n}"' for n in (Segment.get_by_id(own_id).name, *path, seg.name))
            raise ConditionError(text, None, f"segments refer to each other in a loop: {names}")
        if seg.id in seen or seg.kind != "dynamic":
            continue
        seen.add(seg.id)
        todo += [(r, (*path, seg.name)) for r in segment_refs(condition_tree(seg))]


def create_dynamic(
    name: str,
    condition: str,
    actor: Actor,
    *,
    every: int | None = None,
    origin: dict | None = None,
    cfg=None,
):
    """A dynamic segment, with its members computed before it is returned.

    A bad condition raises the language's error and creates nothing. Returns
    (segment, refresh result).
    """
    from .conditions import format as format_condition, to_json
    from .refresh import refresh

    cfg = cfg or config_mod.current()
    tree = parse_condition(condition, cfg, own_name=name)
    if every is not None and every <= 0:
        raise BadInput("the refresh interval must be positive, like 30m or 1h")
    with write():
        seg = _new(
            check_name(name),
            "dynamic",
            actor,
            condition=to_json(tree),
            condition_text=format_condition(tree),
            condition_norm=norm(format_condition(tree)),
            refresh_every=every,
            origin=json.dumps(origin) if origin else None,
        )
        audit.record(actor, "create", seg, kind="dynamic", condition=seg.condition_text)
        result = refresh(seg, actor, trigger="create", cfg=cfg, audit_it=False)
    return seg, result


def change_condition(seg: Segment, condition: str, actor: Actor, *, cfg=None):
    """Give a dynamic segment a new condition and refresh it; returns the refresh result."""
    from .conditions import format as format_condition, to_json
    from .refresh import refresh

    cfg = cfg or config_mod.current()
    if seg.kind != "dynamic":
        raise Refused(f'"{seg.name}" is a list; only dynamic segments have a condition')
    tree = parse_condition(condition, cfg, own_id=seg.id)
    text = format_condition(tree)
    with write():
        before = seg.condition_text
        Segment.update(condition=to_json(tree), condition_text=text, condition_norm=norm(text),
                       updated_at=utcnow()).where(Segment.id == seg.id).execute()
        seg.condition, seg.condition_text, seg.condition_norm = to_json(tree), text, norm(text)
        audit.record(actor, "change condition", seg, before=before, after=text)
        return refresh(seg, actor, trigger="edit", cfg=cfg, audit_it=False)


def condition_tree(seg: Segment):
    from .conditions import from_json

    if seg.kind != "dynamic" or not seg.condition:
        raise Refused(f'"{seg.name}" is a list; only dynamic segments have a condition')
    return from_json(seg.condition)


# ---- members ---------------------------------------------------------------

def count_members(seg: Segment) -> int:
    return Membership.select().where(Membership.segment == seg).count()


def count_active(seg: Segment, *, up_to: int | None = None) -> int:
    """SEG's members whose status is active; with UP_TO, counting stops there
    (a split only asks whether there are fewer than 2,000)."""
    query = Membership.select(Membership.contact).join(Contact).where(
        (Membership.segment == seg) & (Contact.status == "active"))
    return (query.limit(up_to) if up_to is not None else query).count()


def lock(seg: Segment, *, key_share: bool = False) -> bool:
    """Hold SEG's row until the transaction ends, so that changes to its members
    queue up instead of counting past each other, and a deletion of SEG waits
    for them (or they for it). PostgreSQL only: SQLite's BEGIN IMMEDIATE
    already lets one writer in at a time. Whether SEG still exists.

    KEY_SHARE: only keep SEG from being deleted (what a foreign key's check
    took, per row, before schema version 4): writers that each hold it do not
    wait for one another."""
    if backend() == "postgres":
        strength = "KEY SHARE" if key_share else "UPDATE"
        return bool(database.obj.execute_sql(
            f"SELECT id FROM segment WHERE id = %s FOR {strength}", (seg.id,)).fetchall())
    return Segment.select().where(Segment.id == seg.id).exists()


def _lock_existing(seg: Segment) -> None:
    if not lock(seg):
        raise NotFound(f'"{seg.name}" was deleted meanwhile; nothing was changed')


def set_member_count(seg: Segment, *, known: int | None = None) -> int:
    """Store SEG's member count, counted — or KNOWN, for a segment made in this
    transaction, which no one else can have written to yet."""
    lock(seg)  # counted under the lock: a concurrent change is either all seen or waits for us
    n = count_members(seg) if known is None else known
    Segment.update(member_count=n, updated_at=utcnow()).where(Segment.id == seg.id).execute()
    seg.member_count = n
    return n


def contact_ids_for_emails(emails: Iterable[str]) -> tuple[dict[str, int], list[str]]:
    """Map emails (any case) to contact ids; also the emails not found."""
    wanted: dict[str, str] = {}
    for e in emails:
        k = norm(e)
        if k:
            wanted.setdefault(k, e.strip())
    found: dict[str, int] = {}
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        for cid, key in Contact.select(Contact.id, Contact.email_norm).where(Contact.email_norm.in_(chunk)).tuples():
            found[key] = cid
    missing = [wanted[k] for k in keys if k not in found]
    return found, missing


def require_list(seg: Segment, what: str) -> None:
    if seg.kind != "list":
        raise Refused(
            f'"{seg.name}" is a dynamic segment: its members follow its condition, so it cannot be {what}. '
            "Export it to a new list first, and change that list."
        )


def add_contacts(seg: Segment, contact_ids: Iterable[int], actor: Actor, reason: str = "add", *, audit_it=True) -> int:
    """Add contacts to a list; returns how many were not members before."""
    from .membership import contacts_changed

    require_list(seg, "added to by hand")
    ids = sorted(set(contact_ids))
    with write():
        _lock_existing(seg)  # another person adding the same contact waits, then sees it a member
        added = _change_members(seg, ids, "joined", reason)
        set_member_count(seg)
        if audit_it:
            audit.record(actor, reason, seg, added=added, asked=len(ids))
        contacts_changed(ids, actor, reason=reason, only_referring_to=seg)
    return added


def remove_contacts(seg: Segment, contact_ids: Iterable[int], actor: Actor, reason: str = "remove") -> int:
    from .membership import contacts_changed

    require_list(seg, "removed from by hand")
    ids = sorted(set(contact_ids))
    with write():
        _lock_existing(seg)
        removed = _change_members(seg, ids, "left", reason)
        set_member_count(seg)
        audit.record(actor, reason, seg, removed=removed, asked=len(ids))
        contacts_changed(ids, actor, reason=reason, only_referring_to=seg)
    return removed


def _change_members(seg: Segment, ids: list[int], change: str, reason: str) -> int:
    """Make IDS members of SEG ("joined") or not ("left"), in set-based SQL:
    the ids go into a scratch table, those with nothing to do are dropped from
    it by a primary-key probe each, and the rest are written (members and
    history) in one statement each. Returns how many changed."""
    from .refresh import scratch_ids

    if not ids:
        return 0
    db = database.obj
    p = db.param
    asked = scratch_ids("asked_contacts", ids)
    nothing_to_do = "EXISTS" if change == "joined" else "NOT EXISTS"
    db.execute_sql(f"DELETE FROM {asked} WHERE {nothing_to_do} (SELECT 1 FROM membership m "
                   f"WHERE m.segment_id = {p} AND m.contact_id = {asked}.contact_id)", (seg.id,))
    if change == "joined":  # ids read before this transaction: a contact may be gone since
        db.execute_sql(f"DELETE FROM {asked} WHERE NOT EXISTS "
                       f"(SELECT 1 FROM contact c WHERE c.id = {asked}.contact_id)")
    now = utcnow()
    if change == "joined":
        changed = db.execute_sql(f"INSERT INTO membership (segment_id, contact_id, added_at) "
                                 f"SELECT {p}, contact_id, {p} FROM {asked}", (seg.id, now)).rowcount
    else:
        changed = db.execute_sql(f"DELETE FROM membership WHERE segment_id = {p} AND contact_id IN "
                                 f"(SELECT contact_id FROM {asked})", (seg.id,)).rowcount
    if changed:
        db.execute_sql(f"INSERT INTO membership_change (segment_id, contact_id, change, at, reason) "
                       f"SELECT {p}, contact_id, {p}, {p}, {p} FROM {asked}", (seg.id, change, now, reason))
    return changed


def member_page(seg: Segment, after: int, limit: int, fields=()) -> list[tuple]:
    """Members with a contact id above AFTER, as (id, *FIELDS), at most LIMIT.

    Keyset over the membership's primary key (segment, contact): each page is
    an index range, never a sort of the whole segment.
    """
    return list(
        Contact.select(Contact.id, *[getattr(Contact, f) for f in fields])
        .join(Membership, on=(Membership.contact == Contact.id))
        .where((Membership.segment == seg) & (Membership.contact > after))
        .order_by(Membership.contact)
        .limit(limit)
        .tuples()
    )


def iter_members(seg: Segment, fields=(), page: int = 5000, limit: int | None = None):
    """Stream members as dicts of FIELDS, page by page: constant memory, any size."""
    last, sent = 0, 0
    while limit is None or sent < limit:
        rows = member_page(seg, last, page if limit is None else min(page, limit - sent), fields)
        if not rows:
            return
        for row in rows:
            yield dict(zip(fields, row[1:]))
        sent += len(rows)
        last = rows[-1][0]


