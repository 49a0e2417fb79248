"""The parsed condition: small immutable values, and their stored form.

A tree holds what the person wrote, typed: text as typed (compared through
core.text.norm only when compiled), numbers as Decimal (money stays exact),
relative dates unresolved (`30 days ago` moves with the calendar, so it is
resolved when the condition is evaluated, not when it is saved).

The stored form is versioned JSON ({"v": 1, "tree": ...}) so that a later
version of the language can still read what an earlier one saved.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Union

from ..errors import ConditionError

VERSION = 1
UNITS = ("days", "weeks", "months", "years")
# Deeper trees are refused when parsed or read back: every walk over a tree
# (format, compile, ==) is recursive, and no person writes 40 levels.
MAX_DEPTH = 40


# ---- values ---------------------------------------------------------------

@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Number:
    value: Decimal


@dataclass(frozen=True)
class Date:
    value: dt.date


@dataclass(frozen=True)
class Ago:
    """`N units ago`; `today` is Ago(0, "days") and `yesterday` Ago(1, "days")."""

    n: int
    unit: str


@dataclass(frozen=True)
class YesNo:
    value: bool


@dataclass(frozen=True)
class Month:
    value: int  # 1..12


@dataclass(frozen=True)
class Span:
    """`last N units` (a window back from today) or `next N days` (birthdays)."""

    n: int
    unit: str


@dataclass(frozen=True)
class Items:
    values: tuple


@dataclass(frozen=True)
class Range:
    low: object
    high: object


Value = Union[Text, Number, Date, Ago, YesNo, Month, Span, Items, Range]


# ---- conditions -----------------------------------------------------------

@dataclass(frozen=True)
class Test:
    field: str  # canonical, lower case: "region", "orders.total", "custom.tier"
    op: str  # canonical: "=", "!=", "contains", "not in", "is empty", "in last", ...
    value: Value | None = None
    window: Span | None = None  # orders.count(last 30 days)


@dataclass(frozen=True)
class InSegment:
    ref: Union[str, int]  # a name as written, or an id
    negated: bool = False


@dataclass(frozen=True)
class Not:
    item: "Node"


@dataclass(frozen=True)
class And:
    items: tuple

    def __post_init__(self):
        if not isinstance(self.items, tuple) or len(self.items) < 2:
            raise ValueError("And needs a tuple of at least two items")


@dataclass(frozen=True)
class Or:
    items: tuple

    def __post_init__(self):
        if not isinstance(self.items, tuple) or len(self.items) < 2:
            raise ValueError("Or needs a tuple of at least two items")


Node = Union[And, Or, Not, Test, InSegment]


def leaves(tree: Node):
    """The tests of a tree, left to right."""
    if isinstance(tree, (And, Or)):
        for item in tree.items:
            yield from leaves(item)
    elif isinstance(tree, Not):
        yield from leaves(tree.item)
    else:
        yield tree


# ---- stored form ----------------------------------------------------------

def to_json(tree: Node) -> str:
    return json.dumps({"v": VERSION, "tree": _enc(tree)}, ensure_ascii=False, separators=(",", ":"))


def from_json(s: str) -> Node:
    """Read a stored condition back; a damaged one raises ConditionError."""
    try:
        data = json.loads(s)
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise _Bad(f"version {data.get('v') if isinstance(data, dict) else '?'} is not {VERSION}")
        return _dec(data.get("tree"), 0)
    except (_Bad, ValueError, TypeError, KeyError, RecursionError, InvalidOperation) as e:
        raise ConditionError(
            str(s), None, f"the stored condition cannot be read ({e}); write the condition again"
        ) from None


class _Bad(Exception):
    pass


def _enc(node):
    if isinstance(node, And):
        return {"and": [_enc(i) for i in node.items]}
    if isinstance(node, Or):
        return {"or": [_enc(i) for i in node.items]}
    if isinstance(node, Not):
        return {"not": _enc(node.item)}
    if isinstance(node, InSegment):
        return {"segment": node.ref, "negated": node.negated}
    if isinstance(node, Test):
        out = {"field": node.field, "op": node.op}
        if node.value is not None:
            out["value"] = _enc_value(node.value)
        if node.window is not None:
            out["window"] = [node.window.n, node.window.unit]
        return out
    raise TypeError(f"not a condition node: {node!r}")


def _enc_value(v):
    if isinstance(v, Text):
        return {"text": v.value}
    if isinstance(v, Number):
        return {"number": format(v.value, "f")}
    if isinstance(v, Date):
        return {"date": v.value.isoformat()}
    if isinstance(v, Ago):
        return {"ago": [v.n, v.unit]}
    if isinstance(v, YesNo):
        return {"yesno": v.value}
    if isinstance(v, Month):
        return {"month": v.value}
    if isinstance(v, Span):
        return {"span": [v.n, v.unit]}
    if isinstance(v, Items):
        return {"items": [_enc_value(i) for i in v.values]}
    if isinstance(v, Range):
        return {"range": [_enc_value(v.low), _enc_value(v.high)]}
    raise TypeError(f"not a condition value: {v!r}")


def _dec(d, depth):
    if depth > MAX_DEPTH:
        raise _Bad(f"nested deeper than {MAX_DEPTH}")
    if not isinstance(d, dict):
        raise _Bad(f"{d!r} is not a node")
    if "and" in d or "or" in d:
        items = d.get("and", d.get("or"))
        if not isinstance(items, list) or len(items) < 2:
            raise _Bad("and/or need two items or more")
        kind = And if "and" in d else Or
        return kind(tuple(_dec(i, depth + 1) for i in items))
    if "not" in d:
        return Not(_dec(d["not"], depth + 1))
    if "segment" in d:
        ref = d["segment"]
        if isinstance(ref, bool) or not isinstance(ref, (str, int)):
            raise _Bad(f"{ref!r} is not a segment")
        return InSegment(ref, bool(d.get("negated", False)))
    field, op = d["field"], d["op"]
    if not isinstance(field, str) or not isinstance(op, str):
        raise _Bad("field and op are text")
    value = _dec_value(d["value"]) if "value" in d else None
    window = _span(d["window"], Span) if "window" in d else None
    return Test(field, op, value, window)


def _span(pair, kind):
    n, unit = pair
    if isinstance(n, bool) or not isinstance(n, int) or unit not in UNITS:
        raise _Bad(f"{pair!r} is not a number of {', '.join(UNITS)}")
    return kind(n, unit)


def _dec_value(d):
    if not isinstance(d, dict) or len(d) != 1:
        raise _Bad(f"{d!r} is not a value")
    (kind, v), = d.items()
    if kind == "text" and isinstance(v, str):
        return Text(v)
    if kind == "number" and isinstance(v, str):
        n = Decimal(v)
        if not n.is_finite():
            raise _Bad(f"{v} is not a number")
        return Number(n)
    if kind == "date" and isinstance(v, str):
        return Date(dt.date.fromisoformat(v))
    if kind == "ago":
        return _span(v, Ago)
    if kind == "yesno" and isinstance(v, bool):
        return YesNo(v)
    if kind == "month" and isinstance(v, int) and 1 <= v <= 12:
        return Month(v)
    if kind == "span":
        return _span(v, Span)
    if kind == "items" and isinstance(v, list) and v:
        return Items(tuple(_dec_value(i) for i in v))
    if kind == "range" and isinstance(v, list) and len(v) == 2:
        return Range(_dec_value(v[0]), _dec_value(v[1]))
    raise _Bad(f"{d!r} is not a value")


def fields_used(tree: Node) -> set[str]:
    """The fields a condition tests ("orders.count" for orders.count(last 30 days))."""
    return {leaf.field for leaf in leaves(tree) if isinstance(leaf, Test)}


def segment_refs(tree: Node) -> set:
    """The segments a condition names directly, as written (a name or an id)."""
    return {leaf.ref for leaf in leaves(tree) if isinstance(leaf, InSegment)}
