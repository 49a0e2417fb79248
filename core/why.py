"""Why: for one contact and one dynamic segment, each test true or false."""
from __future__ import annotations

from . import segments
from .errors import NotFound, Refused
from .refresh import eval_context, matching_query
from .store.models import Contact, Membership
from .text import norm


def why(email: str, segment_ref, cfg=None) -> dict:
    from .conditions import explain

    seg = segments.resolve(segment_ref)
    if seg.kind != "dynamic":
        raise Refused(
            f'"{seg.name}" is a list: people are in it because someone put them there, not by a condition'
        )
    contact = Contact.get_or_none(Contact.email_norm == norm(email))
    if contact is None:
        raise NotFound(f'no contact has the email "{email}"; check the spelling or import it first')
    tree = segments.condition_tree(seg)
    lines = explain(tree, contact.id, eval_context(cfg))
    matches = matching_query(tree, cfg, few=True).where(Contact.id == contact.id).exists()
    member = Membership.select().where((Membership.segment == seg) & (Membership.contact == contact)).exists()
    return {
        "email": contact.email,
        "segment": seg.name,
        "condition": seg.condition_text,
        "matches": matches,
        "member": member,
        "tests": [_line(x) for x in lines],
    }


def _line(x) -> dict:
    get = x.get if isinstance(x, dict) else (lambda k: getattr(x, k))
    return {"test": get("test"), "result": bool(get("result")), "value": get("value")}
