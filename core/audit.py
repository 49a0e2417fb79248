"""The audit trail: every change to segments or contacts, with who, from where and when."""
from __future__ import annotations

import getpass
import json
from dataclasses import dataclass

from .store.models import AuditEntry


@dataclass(frozen=True)
class Actor:
    """Who is acting, and through which face (cli, tui, slack, scheduler, api)."""

    who: str
    face: str

    @classmethod
    def local(cls, face: str = "cli") -> "Actor":
        try:
            who = getpass.getuser()
        except Exception:  # no login name (containers)
            who = "unknown"
        return cls(who, face)


SYSTEM = Actor("segmenta", "scheduler")


def record(actor: Actor, operation: str, segment=None, **details) -> AuditEntry:
    """Write one audit entry; call inside the operation's transaction."""
    return AuditEntry.create(actor=actor.who, face=actor.face, operation=operation, **_about(segment, details))


def amend(entry: AuditEntry, segment=None, **details) -> AuditEntry:
    """Bring ENTRY up to date (an operation of several transactions, such as an
    import, says in each what it has done so far); call inside a transaction."""
    AuditEntry.update(**_about(segment, details)).where(AuditEntry.id == entry.id).execute()
    return entry


def _about(segment, details: dict) -> dict:
    return {
        "segment_id": getattr(segment, "id", None),
        "segment_name": getattr(segment, "name", None),
        "details": json.dumps(details, default=str, ensure_ascii=False) if details else None,
    }


def read(limit: int = 50, segment_id: int | None = None) -> list[dict]:
    q = AuditEntry.select().order_by(AuditEntry.id.desc()).limit(limit)
    if segment_id is not None:
        q = q.where(AuditEntry.segment_id == segment_id)
    return [
        {
            "id": e.id,
            "at": e.at.isoformat(sep=" ", timespec="seconds"),
            "actor": e.actor,
            "face": e.face,
            "operation": e.operation,
            "segment_id": e.segment_id,
            "segment": e.segment_name,
            "details": json.loads(e.details) if e.details else {},
        }
        for e in q
    ]
