"""Copy: a new dynamic segment with the same condition and schedule."""
from __future__ import annotations

from . import audit, segments
from .audit import Actor
from .errors import Refused
from .store import write
from .store.models import Segment
from .text import norm


def free_name(base: str) -> str:
    """BASE, or BASE (2), BASE (3)… whichever is not taken."""
    name, n = base, 1
    while Segment.select().where(Segment.name_norm == norm(name)).exists():
        n += 1
        name = f"{base} ({n})"
    return name


def copy(seg: Segment, actor: Actor, *, name: str | None = None, cfg=None):
    """Returns (new segment, its first refresh)."""
    if seg.kind != "dynamic":
        raise Refused(
            f'"{seg.name}" is a list and cannot be copied; export it to a new list instead'
        )
    with write():
        new, result = segments.create_dynamic(
            name or free_name(f"Copy of {seg.name}"),
            seg.condition_text,
            actor,
            every=seg.refresh_every,
            origin={"type": "copy", "source_id": seg.id, "source_name": seg.name},
            cfg=cfg,
        )
        if seg.schedule_off:
            Segment.update(schedule_off=True).where(Segment.id == new.id).execute()
            new.schedule_off = True
        audit.record(actor, "copy", new, source=seg.name, source_id=seg.id)
    return new, result
