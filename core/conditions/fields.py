"""The fields a condition can test, their types, and the operators that fit.

One table shared by the parser (to refuse `region > 5` with the list of
what fits), the compiler (a custom field's type may have changed in the
config since the condition was saved) and the explainer.
"""
from __future__ import annotations

import difflib

from ..store.models import CHOICES, TEXT_FIELDS

TEXT, CHOICE, NUMBER, DATE, BIRTHDAY, SET, YESNO = (
    "text", "choice", "number", "date", "birthday", "set", "yes/no")

BUILTIN: dict[str, str] = {
    **{name: TEXT for name in TEXT_FIELDS},
    "gender": CHOICE,
    "status": CHOICE,
    "birth_date": DATE,
    "age": NUMBER,
    "birthday": BIRTHDAY,
    "created_at": DATE,
    "interests": SET,
    "orders.count": NUMBER,
    "orders.total": NUMBER,
    "orders.avg": NUMBER,
    "orders.max": NUMBER,
    "orders.first_date": DATE,
    "orders.last_date": DATE,
}
MONEY = ("orders.total", "orders.avg", "orders.max")  # kept in cents
WINDOWED = ("orders.count", "orders.total")  # take (last N days|weeks|months)
WINDOW_UNITS = ("days", "weeks", "months")
CUSTOM = "custom."
CUSTOM_TYPES = {"text": TEXT, "number": NUMBER, "date": DATE, "yesno": YESNO}

OPS: dict[str, tuple[str, ...]] = {
    TEXT: ("=", "!=", "contains", "not contains", "starts with", "ends with", "in", "not in",
           "is empty", "is not empty"),
    CHOICE: ("=", "!=", "in", "not in", "is empty", "is not empty"),
    NUMBER: ("=", "!=", ">", ">=", "<", "<=", "between", "is empty", "is not empty"),
    DATE: ("=", "!=", "before", "after", "between", "in last", "is empty", "is not empty"),
    BIRTHDAY: ("is today", "in next", "in month"),
    SET: ("has", "has any", "has all", "has none", "is empty", "is not empty"),
    YESNO: ("=", "is empty", "is not empty"),
}
# How an operator is shown in a message, with the shape of its value.
SPELLING = {
    "in": "in (…)", "not in": "not in (…)", "between": "between A and B",
    "in last": "in last N days", "in next": "in next N days", "in month": "in month M",
    "has": "has X", "has any": "has any (…)", "has all": "has all (…)", "has none": "has none (…)",
    "before": "before D", "after": "after D",
}


def custom_key(name: str) -> str | None:
    """'custom.tier' → 'tier'; None for other names."""
    if name.startswith(CUSTOM) and len(name) > len(CUSTOM):
        return name[len(CUSTOM):]
    return None


def field_type(name: str, custom_fields: dict | None) -> str | None:
    """The type of a canonical field name, or None if there is no such field."""
    if name in BUILTIN:
        return BUILTIN[name]
    key = custom_key(name)
    if key is not None and all(ch.isalnum() or ch in "_-" for ch in key):
        return CUSTOM_TYPES.get((custom_fields or {}).get(key, "text"), TEXT)
    return None


def known_fields(custom_fields: dict | None) -> list[str]:
    return list(BUILTIN) + [CUSTOM + k for k in sorted(custom_fields or {})]


def suggest(word: str, candidates, *, cutoff: float = 0.6) -> str | None:
    """The closest candidate to WORD (compared without case), if one is close."""
    by_lower = {str(c).lower(): c for c in candidates}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[close[0]] if close else None


def spell_ops(kind: str) -> str:
    return ", ".join(SPELLING.get(op, op) for op in OPS[kind])


def describe(name: str, kind: str) -> str:
    return f'the {kind} field "{name}"'
