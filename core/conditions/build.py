"""Lark's parse tree → the condition tree: fields looked up without case,
operators checked against the field's type, values read by that type.

Non-recursive (lark's Transformer_NonRecursive) and depth-checked on the way
up, so 10,000 nested `not`s end in a ConditionError, not a RecursionError.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Token, Transformer_NonRecursive, v_args

from ..errors import ConditionError, SegmentaError
from . import fields as F
from . import values as V
from .segment_refs import MAX_ID, UnknownSegment, shown
from .format import KEYWORDS
from .tree import MAX_DEPTH, UNITS, And, InSegment, Items, Not, Or, Range, Span, Test

# Grammar rule → canonical operator.
OP_RULES = {
    "contains": "contains", "not_contains": "not contains", "starts_with": "starts with",
    "ends_with": "ends with", "in_": "in", "not_in": "not in", "is_empty": "is empty",
    "is_not_empty": "is not empty", "is_today": "is today", "before": "before", "after": "after",
    "between": "between", "in_last": "in last", "in_next": "in next", "in_month": "in month",
    "has": "has", "has_any": "has any", "has_all": "has all", "has_none": "has none",
}


@dataclass(frozen=True)
class Built:
    """A node under construction, with what the checks above it need."""

    node: object
    depth: int
    pos: int
    bare_segment: bool = False  # `in segment S` not in parentheses: `not` makes it `not in segment S`


@dataclass(frozen=True)
class _Field:
    token: Token
    window: tuple | None  # (n token, unit token, pos)


@dataclass(frozen=True)
class _Op:
    name: str
    args: list
    pos: int


def unknown_field(text: str, token: Token, custom_fields) -> ConditionError:
    name, col = str(token), token.start_pos + 1
    if name.lower().rstrip(".") == "custom":
        return ConditionError(text, col, f"a custom field is written custom.KEY, like custom.tier (column {col})")
    if KEYWORDS.fullmatch(name):
        return ConditionError(text, col, f'"{name}" at column {col} is a keyword, not a field; '
                                         "a test starts with a field, like: region = Kyiv")
    close = F.suggest(name, F.known_fields(custom_fields))
    if close:
        return ConditionError(text, col, f'unknown field "{name}" at column {col} — did you mean "{close}"?')
    known = ", ".join(F.known_fields(custom_fields))
    return ConditionError(text, col, f'unknown field "{name}" at column {col}; the fields are {known}, custom.KEY')


@v_args(meta=True)
class Build(Transformer_NonRecursive):
    def __init__(self, text: str, custom_fields: dict, segments):
        super().__init__()
        self.text, self.custom, self.segments = text, custom_fields, segments

    def _fail(self, pos: int, what: str) -> ConditionError:
        return ConditionError(self.text, pos + 1, what)

    def _read(self, pos: int, fn, *args):
        try:
            return fn(*args)
        except V.Problem as p:
            raise self._fail(pos, p.message.replace("{at}", f"at column {pos + 1}")) from None

    def _deep(self, depth: int, pos: int) -> int:
        if depth > MAX_DEPTH:
            raise self._fail(pos, f"the condition nests more than {MAX_DEPTH} levels deep at column {pos + 1}; "
                                  "write it more simply")
        return depth

    # ---- and, or, not, parentheses ---------------------------------------

    def start(self, meta, c):
        return c[0]

    def or_expr(self, meta, c):
        return self._join(Or, c, meta)

    def and_expr(self, meta, c):
        return self._join(And, c, meta)

    def _join(self, kind, c, meta):
        depth = self._deep(1 + max(x.depth for x in c), meta.start_pos)
        return Built(kind(tuple(x.node for x in c)), depth, meta.start_pos)

    def not_(self, meta, c):
        x = c[0]
        node = InSegment(x.node.ref, True) if x.bare_segment else Not(x.node)
        return Built(node, self._deep(x.depth + 1, meta.start_pos), meta.start_pos)

    def group(self, meta, c):
        return Built(c[0].node, c[0].depth, meta.start_pos)

    # ---- in segment ------------------------------------------------------

    def in_segment(self, meta, c):
        ref, pos = c[0]
        if self.segments is not None:
            self._resolve(ref, pos)
        return Built(InSegment(ref), 1, meta.start_pos, bare_segment=True)

    def ref(self, meta, c):
        tok = c[0]
        if tok.type == "STRING":
            ref = self._read(tok.start_pos, V.single, V.Raw("quoted", V.unescape(tok), tok.start_pos), "a segment")
            if not ref.strip():
                raise self._fail(tok.start_pos, f"an empty segment name at column {tok.start_pos + 1}")
        elif tok.type == "HASHID" or re.fullmatch(r"[0-9]+", tok):
            ref = int(tok.lstrip("#"))
            if not 1 <= ref <= MAX_ID:
                raise self._fail(tok.start_pos, f"no segment has id #{ref} (column {tok.start_pos + 1})")
        else:
            ref = self._read(tok.start_pos, V.single, V.Raw("bare", str(tok), tok.start_pos), "a segment name")
        return ref, tok.start_pos

    def _resolve(self, ref, pos: int) -> None:
        col = pos + 1
        try:
            self.segments(ref)
        except UnknownSegment as e:
            raise self._fail(pos, f"unknown segment {shown(ref)} at column {col}{e.hint}") from None
        except ConditionError as e:
            raise self._fail(pos, f"{e.what} (column {col})") from None
        except SegmentaError as e:
            raise self._fail(pos, f"{e.message} (column {col})") from None

    # ---- tests -----------------------------------------------------------

    def field(self, meta, c):
        return _Field(c[0], c[1] if len(c) > 1 else None)

    def window(self, meta, c):
        return (c[0], c[1], meta.start_pos)

    def bare(self, meta, c):
        return V.Raw("bare", str(c[0]), c[0].start_pos)

    def quoted(self, meta, c):
        return V.Raw("quoted", V.unescape(c[0]), c[0].start_pos)

    def ago(self, meta, c):
        return V.Raw("ago", str(c[0]), c[0].start_pos, unit=str(c[1]))

    def items(self, meta, c):
        return V.Raw("items", "", meta.start_pos, items=tuple(c))

    def cmp(self, meta, c):
        return _Op("!=" if c[0] == "<>" else str(c[0]), c[1:], meta.start_pos)

    def __default__(self, data, children, meta):
        if data in OP_RULES:
            return _Op(OP_RULES[data], children, meta.start_pos)
        raise AssertionError(f"grammar rule {data} has no builder")  # pragma: no cover

    def test(self, meta, c):
        fld, op = c
        name = fld.token.lower()
        kind = F.field_type(name, self.custom)
        if kind is None:
            raise unknown_field(self.text, fld.token, self.custom)
        window = self._window(fld, name)
        if op.name not in F.OPS[kind]:
            col = op.pos + 1
            raise self._fail(op.pos, f'"{op.name}" does not fit the {kind} field "{name}" at column {col}; '
                                     f"use one of {F.spell_ops(kind)}")
        return Built(Test(name, op.name, self._value(name, kind, op), window), 1, meta.start_pos)

    def _window(self, fld: _Field, name: str) -> Span | None:
        if fld.window is None:
            return None
        n, unit, pos = fld.window
        if name not in F.WINDOWED:
            raise self._fail(pos, f"only orders.count and orders.total take a window like (last 30 days) "
                                  f"(column {pos + 1})")
        return Span(self._read(n.start_pos, V.read_whole, str(n), 1),
                    self._read(unit.start_pos, V.read_unit, str(unit), F.WINDOW_UNITS))

    def _value(self, name: str, kind: str, op: _Op):
        o, a = op.name, op.args
        if o in ("is empty", "is not empty", "is today"):
            return None
        if o == "between":
            return Range(self._one(name, kind, a[0]), self._one(name, kind, a[1]))
        if o in ("in", "not in", "has any", "has all", "has none"):
            raws = a[0].items if a[0].kind == "items" else (a[0],)
            return Items(tuple(self._one(name, kind, r) for r in raws))
        if o in ("in last", "in next"):
            n, unit = a
            units = UNITS if o == "in last" else ("days",)
            return Span(self._read(n.start_pos, V.read_whole, str(n), 1),
                        self._read(unit.start_pos, V.read_unit, str(unit), units))
        if o == "in month":
            return self._read(a[0].pos, V.read_month, a[0])
        return self._one(name, kind, a[-1])

    def _one(self, name: str, kind: str, raw: V.Raw):
        if kind == F.CHOICE:
            return self._read(raw.pos, V.read_choice, raw, name)
        if kind == F.NUMBER:
            return self._read(raw.pos, V.read_number, raw, name)
        if kind == F.DATE:
            return self._read(raw.pos, V.read_date, raw, name)
        if kind == F.YESNO:
            return self._read(raw.pos, V.read_yesno, raw, name)
        return self._read(raw.pos, V.read_text, raw, f'"{name}"')
