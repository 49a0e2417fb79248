"""Tree → one peewee expression over Contact, for
`Contact.select(Contact.id).where(expr)`: one set-based query, the same on
SQLite and PostgreSQL.

Two values, never three: every test is TRUE or FALSE for every contact
(leaves.py), so `not C` is exactly the complement of C, and the logic can be
rearranged freely. The SQL is given a shallow shape because SQLite's parser
stack is small (about 100): `not` is pushed down to the tests (De Morgan,
and `not not C` is C), `and` inside `and` is one flat list, and the deepest
part of a list comes first.
"""
from __future__ import annotations

from dataclasses import dataclass

import peewee as pw

from ..errors import ConditionError
from ..store.models import Contact, Membership
from . import fields as F
from .context import EvalContext
from .format import format as format_tree
from .leaves import Leaves, chain, chain_levels
from .segment_refs import lookup, shown
from .tree import And, InSegment, Not, Or, Test, from_json

NEGATIVE = {"!=": "=", "not contains": "contains", "not in": "in", "has none": "has any",
            "is empty": "is not empty"}
MAX_SEGMENT_NESTING = 16
# Alternations of and/or, inlined segments included. SQLite 3.40's parser
# takes about 100 with the heaviest tests at the bottom; 40 leaves room.
MAX_COMPILED_DEPTH = 40


def compile_where(tree, ctx: EvalContext):
    return Compiler(ctx).sql(tree)


@dataclass
class _Junction:
    glue: str  # "AND" | "OR"
    parts: list
    depth: int


class Compiler:
    def __init__(self, ctx: EvalContext):
        self.ctx = ctx
        self.leaves = Leaves(ctx)

    def sql(self, tree):
        return _render(self.node(tree, (), False))

    def node(self, n, path: tuple, negate: bool):
        """NEGATE: an odd number of `not`s above. PATH: the dynamic segments
        being inlined, to find loops."""
        if isinstance(n, Not):
            return self.node(n.item, path, not negate)
        if isinstance(n, (And, Or)):
            glue = "AND" if isinstance(n, And) != negate else "OR"  # De Morgan
            return self.junction(n, glue, [self.node(i, path, negate) for i in n.items])
        if isinstance(n, InSegment):
            return self.segment(n, path, negate != n.negated)
        kind = self.checked(n)
        positive = NEGATIVE.get(n.op, n.op)
        expr = self.leaves.positive(n, kind, positive)
        return ~expr if (positive != n.op) != negate else expr

    def junction(self, n, glue: str, parts: list) -> _Junction:
        flat = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, _Junction) and p.glue == glue else [p])
        depth = chain_levels(len(flat)) + max(p.depth if isinstance(p, _Junction) else 0 for p in flat)
        if depth > MAX_COMPILED_DEPTH:
            raise ConditionError(format_tree(n), None, "the condition, with the segments it includes, nests more "
                                                       f"than {MAX_COMPILED_DEPTH} levels deep; write it more simply")
        return _Junction(glue, flat, depth)

    def segment(self, n: InSegment, path: tuple, negate: bool):
        """A list's members as they are; a dynamic segment's condition as it
        is now, compiled inline (not its last refresh)."""
        seg = lookup(n.ref)
        if seg is None:
            raise ConditionError(format_tree(n), None,
                                 f"segment {shown(n.ref)} does not exist any more; edit the condition")
        ids = [s.id for s in path]
        if seg.id in ids:
            loop = " → ".join(f'"{s.name}"' for s in path[ids.index(seg.id):] + (seg,))
            raise ConditionError(format_tree(n), None,
                                 f"segments refer to each other in a loop: {loop}; a segment cannot include itself")
        if len(path) >= MAX_SEGMENT_NESTING:
            raise ConditionError(format_tree(n), None,
                                 f"segments include segments more than {MAX_SEGMENT_NESTING} deep")
        if seg.kind == "dynamic":
            return self.node(from_json(seg.condition), path + (seg,), negate)
        expr = pw.fn.EXISTS(Membership.select(pw.SQL("1")).where(
            (Membership.segment == seg.id) & (Membership.contact == Contact.id)))
        return ~expr if negate else expr

    def checked(self, t: Test) -> str:
        """The field's type now. A stored test is read again under today's
        config: a custom field may have changed type since it was saved."""
        from .parser import parse

        try:
            again = parse(format_tree(t), custom_fields=self.ctx.custom_fields)
        except ConditionError as e:
            raise ConditionError(e.text, e.column, f"{e.what} (the saved condition no longer fits the config)")
        if again != t:
            raise ConditionError(format_tree(t), None, "the saved condition no longer reads the same; write it again")
        return F.field_type(t.field, self.ctx.custom_fields)


def _render(n):
    if not isinstance(n, _Junction):
        return n
    # Deepest first: SQLite's parser then holds one "(" per level, not three.
    parts = sorted(n.parts, key=lambda p: -(p.depth if isinstance(p, _Junction) else 0))
    return chain([_render(p) for p in parts], f" {n.glue} ")
