"""Preview: what a condition selects, without saving anything."""
from __future__ import annotations

import peewee as pw

from . import config as config_mod
from .refresh import matching_query
from .segments import parse_condition
from .store.models import Contact

SAMPLE_FIELDS = ("email", "first_name", "last_name", "city", "region", "gender", "status")


def preview(condition: str, *, samples: int = 5, cfg=None, own_id: int | None = None) -> dict:
    """OWN_ID: the segment whose condition is being edited (it may not refer to itself)."""
    from .conditions import format as format_condition

    cfg = cfg or config_mod.current()
    tree = parse_condition(condition, cfg, own_id=own_id)
    matching = matching_query(tree, cfg)
    # one pass for both counts, and the samples from the first contacts by id (a
    # scan that stops at the fifth match): no list of every match is made
    active = pw.fn.SUM(pw.Case(None, ((Contact.status == "active", 1),), 0))
    count, active = matching.select(pw.fn.COUNT(Contact.id), pw.fn.COALESCE(active, 0)).tuples().get()
    rows = matching.select(*[getattr(Contact, f) for f in SAMPLE_FIELDS]).order_by(Contact.id).limit(samples).dicts()
    return {
        "condition": format_condition(tree),
        "count": count,
        "active": active,
        "samples": list(rows),
    }
