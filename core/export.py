"""Contacts export: a segment's members into a new list, or into a CSV file."""
from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from . import audit, config as config_mod, segments
from .audit import Actor
from .errors import BadInput
from .store import database, write
from .store.models import CustomValue, Interest, Membership, utcnow

CONTACT_FIELDS = (
    "email", "phone", "first_name", "last_name", "gender", "birth_date", "country", "region",
    "city", "language", "status", "created_at", "interests",
)


def to_list(seg, name: str, actor: Actor):
    """A new list holding SEG's current members; it keeps them when SEG changes."""
    db = database.obj
    p = db.param
    with write():
        target = segments.create_list(
            name, actor, origin={"type": "export", "source_id": seg.id, "source_name": seg.name}
        )
        now = utcnow()
        db.execute_sql(
            f"INSERT INTO membership (segment_id, contact_id, added_at) "
            f"SELECT {p}, contact_id, {p} FROM membership WHERE segment_id = {p}",
            (target.id, now, seg.id),
        )
        db.execute_sql(
            "INSERT INTO membership_change (segment_id, contact_id, change, at, reason) "
            f"SELECT {p}, contact_id, 'joined', {p}, 'export' FROM membership WHERE segment_id = {p}",
            (target.id, now, target.id),
        )
        n = segments.set_member_count(target)
        audit.record(actor, "export", seg, to_list=target.name, to_list_id=target.id, members=n)
    return target, n


def columns_for(seg, fields: list[str] | None, cfg=None) -> list[str]:
    """The CSV's columns: the fields asked for, else every contact field and
    every custom field (declared, or present among the members)."""
    cfg = cfg or config_mod.current()
    if fields:
        out = []
        for f in fields:
            f = f.strip()
            key = f[7:] if f.lower().startswith("custom.") else f
            if f in CONTACT_FIELDS:
                out.append(f)
            elif f.lower().startswith("custom.") or key.lower() in cfg.custom_fields:
                out.append(f"custom.{key.lower()}")
            else:
                raise BadInput(
                    f'"{f}" is not a contact field; choose from {", ".join(CONTACT_FIELDS)} or custom.KEY'
                )
        return out
    present = {
        k for (k,) in CustomValue.select(CustomValue.key).distinct()
        .join(Membership, on=(Membership.contact == CustomValue.contact))
        .where(Membership.segment == seg).tuples()
    }
    return list(CONTACT_FIELDS) + [f"custom.{k}" for k in sorted(present | set(cfg.custom_fields))]


def write_csv(seg, out: io.TextIOBase, fields: list[str] | None = None, cfg=None, page: int = 5000) -> int:
    """Stream SEG's members as CSV into OUT; returns the number of rows."""
    cols = columns_for(seg, fields, cfg)
    custom_keys = [c[7:] for c in cols if c.startswith("custom.")]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(cols)
    rows = 0
    last = 0
    base = [c for c in cols if c in CONTACT_FIELDS and c != "interests"]
    want_interests = "interests" in cols
    while True:
        page_rows = [dict(zip(("id", *base), row)) for row in segments.member_page(seg, last, page, base)]
        if not page_rows:
            break
        ids = [r["id"] for r in page_rows]
        customs: dict[int, dict[str, str]] = {}
        if custom_keys:
            for cid, key, text in (
                CustomValue.select(CustomValue.contact, CustomValue.key, CustomValue.text)
                .where(CustomValue.contact.in_(ids) & CustomValue.key.in_(custom_keys)).tuples()
            ):
                customs.setdefault(cid, {})[key] = text
        interests: dict[int, list[str]] = {}
        if want_interests:
            for cid, display in (
                Interest.select(Interest.contact, Interest.display)
                .where(Interest.contact.in_(ids)).order_by(Interest.contact, Interest.value).tuples()
            ):
                interests.setdefault(cid, []).append(display)
        for r in page_rows:
            line = []
            for c in cols:
                if c == "interests":
                    line.append(";".join(interests.get(r["id"], [])))
                elif c.startswith("custom."):
                    line.append(customs.get(r["id"], {}).get(c[7:], ""))
                else:
                    v = r[c]
                    line.append("" if v is None else (v.isoformat() if hasattr(v, "isoformat") else v))
            writer.writerow(line)
        rows += len(page_rows)
        last = ids[-1]
    return rows


def to_csv(seg, path: str | os.PathLike, actor: Actor, fields: list[str] | None = None, cfg=None) -> int:
    """Write the CSV next to PATH and move it into place, so a crash leaves no half file."""
    target = Path(path)
    if target.is_dir():
        raise BadInput(f"{target} is a folder; give a file name like {target / 'members.csv'}")
    if not target.parent.exists():
        raise BadInput(f"the folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".segmenta-", suffix=".csv", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            rows = write_csv(seg, fh, fields, cfg)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with write():
        audit.record(actor, "export", seg, csv=str(target), rows=rows)
    return rows
