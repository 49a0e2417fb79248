"""Finding the segment that an `in segment S` test names: by name without
case (Segment.name_norm), or by id (`12`, `#12`)."""
from __future__ import annotations

from ..errors import ConditionError
from ..store.models import Segment
from ..text import norm
from .fields import suggest

MAX_ID = 2**31 - 1  # larger ids would overflow PostgreSQL's integer column


class UnknownSegment(ConditionError):
    """No segment has that name or id; `hint` suggests the closest name."""

    def __init__(self, ref, hint: str):
        self.ref, self.hint = ref, hint
        super().__init__(shown(ref), None, f"unknown segment {shown(ref)}{hint}")


def shown(ref) -> str:
    return f"#{ref}" if isinstance(ref, int) else f'"{ref}"'


def lookup(ref) -> Segment | None:
    if isinstance(ref, int):
        return Segment.get_or_none(Segment.id == ref) if 1 <= ref <= MAX_ID else None
    key = norm(ref)
    return Segment.get_or_none(Segment.name_norm == key) if key else None


def resolver():
    """The default `segments=` of parse(): the store's segments, or UnknownSegment."""

    def resolve(ref) -> Segment:
        seg = lookup(ref)
        if seg is None:
            raise UnknownSegment(ref, _hint(ref))
        return seg

    return resolve


def _hint(ref) -> str:
    if isinstance(ref, int):
        return "; search the segments to find its id"
    names = {n_norm: n for n, n_norm in Segment.select(Segment.name, Segment.name_norm).tuples()}
    close = suggest(norm(ref) or "", list(names))
    if close is None:
        # a part of the name is often what people remember
        part = [k for k in names if (norm(ref) or "") in k]
        close = part[0] if len(part) == 1 else None
    return f' — did you mean "{names[close]}"?' if close else "; search the segments to find its name"
