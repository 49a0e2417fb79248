"""Preview: what a condition selects, without saving anything."""
from __future__ import annotations

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
    ids = matching_query(tree, cfg)
    count = Contact.select().where(Contact.id.in_(ids)).count()
    active = Contact.select().where(Contact.id.in_(ids) & (Contact.status == "active")).count()
    rows = (
        Contact.select(*[getattr(Contact, f) for f in SAMPLE_FIELDS])
        .where(Contact.id.in_(ids))
        .order_by(Contact.id)
        .limit(samples)
        .dicts()
    )
    return {
        "condition": format_condition(tree),
        "count": count,
        "active": active,
        "samples": list(rows),
    }
