"""Tree → one peewee expression over Contact, for
`Contact.select(Contact.id).where(expr)`: one set-based query, the same on
SQLite and PostgreSQL.

Two values, never three: every leaf is built TRUE or FALSE for every contact
(a NULL column is tested with IS NOT NULL first, an EXISTS is never NULL), and
each negative operator is NOT of its positive twin. So `not C` is exactly the
complement of C, and an empty value matches `!=`, `not in`, `has none`.
"""
from __future__ import annotations

import math
import operator
from decimal import Decimal
from functools import reduce

import peewee as pw

from ..errors import ConditionError
from ..store.models import Contact, CustomValue, Interest, Membership, Order
from . import dates
from . import fields as F
from .context import EvalContext
from .format import format as format_tree
from .segment_refs import lookup, shown
from .tree import And, InSegment, Items, Not, Or, Test, from_json
from ..text import norm

TRUE = pw.SQL("(1 = 1)")
FALSE = pw.SQL("(1 = 0)")
NEGATIVE = {"!=": "=", "not contains": "contains", "not in": "in", "has none": "has any",
            "is empty": "is not empty"}
MAX_SEGMENT_NESTING = 16
DATE_COLUMNS = {"birth_date": Contact.birth_date, "created_at": Contact.created_at,
                "orders.first_date": Contact.orders_first_date, "orders.last_date": Contact.orders_last_date}
# Integer columns and the factor that turns a written number into their unit.
INT_COLUMNS = {"orders.count": (Contact.orders_count, 1), "orders.total": (Contact.orders_total, 100),
               "orders.max": (Contact.orders_max, 100)}
CUSTOM_COLUMNS = {F.TEXT: CustomValue.norm, F.NUMBER: CustomValue.number, F.DATE: CustomValue.date,
                  F.YESNO: CustomValue.yesno}


def compile_where(tree, ctx: EvalContext):
    return Compiler(ctx).node(tree, ())


class Compiler:
    def __init__(self, ctx: EvalContext):
        self.ctx = ctx

    def node(self, n, path: tuple):
        if isinstance(n, And):
            return reduce(operator.and_, [self.node(i, path) for i in n.items])
        if isinstance(n, Or):
            return reduce(operator.or_, [self.node(i, path) for i in n.items])
        if isinstance(n, Not):
            return ~self.node(n.item, path)
        if isinstance(n, InSegment):
            return self.segment(n, path)
        return self.test(n)

    # ---- in segment ------------------------------------------------------

    def segment(self, n: InSegment, path: tuple):
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
                                 f"segments refer to segments more than {MAX_SEGMENT_NESTING} deep")
        if seg.kind == "list":
            expr = pw.fn.EXISTS(Membership.select(pw.SQL("1")).where(
                (Membership.segment == seg.id) & (Membership.contact == Contact.id)))
        else:
            expr = self.node(from_json(seg.condition), path + (seg,))
        return ~expr if n.negated else expr

    # ---- tests -----------------------------------------------------------

    def test(self, t: Test):
        kind = self.checked(t)
        positive = NEGATIVE.get(t.op, t.op)
        expr = self.positive(t, kind, positive)
        return ~expr if positive != t.op else expr

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

    def positive(self, t: Test, kind: str, op: str):
        f, v = t.field, t.value
        if kind == F.BIRTHDAY:
            return self.birthday(op, v)
        if F.custom_key(f) is not None:
            return self.custom(F.custom_key(f), kind, op, v)
        if kind == F.TEXT:
            return guarded(getattr(Contact, f + "_norm"), text_op(getattr(Contact, f + "_norm"), op, v))
        if kind == F.CHOICE:
            col = getattr(Contact, f)
            return guarded(col, text_op(col, op, v, normalise=False))
        if kind == F.SET:
            return self.interests(op, v)
        if kind == F.DATE:
            col = DATE_COLUMNS[f]
            return guarded(col, self.date_op(col, op, v))
        if f == "age":
            return guarded(Contact.birth_date, self.age(op, v))
        if f == "orders.avg":
            return self.average(op, v)
        if t.window is not None:
            return self.windowed(f, t.window, op, v)
        col, scale = INT_COLUMNS[f]
        return guarded(col, int_op(col, op, v, scale))

    def custom(self, key: str, kind: str, op: str, v):
        col = CUSTOM_COLUMNS[kind]
        if kind == F.NUMBER:
            pred = float_op(col, op, v)
        elif kind == F.DATE:
            pred = self.date_op(col, op, v)
        elif kind == F.YESNO:
            pred = col.is_null(False) if op == "is not empty" else (col == v.value)
        else:
            pred = text_op(col, op, v)
        return pw.fn.EXISTS(CustomValue.select(pw.SQL("1")).where(
            (CustomValue.contact == Contact.id) & (CustomValue.key == key) & col.is_null(False) & pred))

    def interests(self, op: str, v):
        def exists(extra):
            return pw.fn.EXISTS(Interest.select(pw.SQL("1")).where((Interest.contact == Contact.id) & extra))

        if op == "is not empty":
            return exists(TRUE)
        wanted = sorted({norm(i.value) for i in v.values}) if isinstance(v, Items) else [norm(v.value)]
        if op == "has all":
            return reduce(operator.and_, [exists(Interest.value == w) for w in wanted])
        return exists(Interest.value.in_(wanted))

    def date_op(self, col, op: str, v):
        today = self.ctx.today
        if op == "is not empty":
            return TRUE
        if op == "in last":
            return (col >= dates.ago(today, v.n, v.unit)) & (col <= today)
        if op == "between":
            return (col >= dates.resolve(v.low, today)) & (col <= dates.resolve(v.high, today))
        d = dates.resolve(v, today)
        return {"=": col == d, "before": col < d, "after": col > d}[op]

    def birthday(self, op: str, v):
        if op == "in month":
            return Contact.birth_md.between(v.value * 100 + 1, v.value * 100 + 31)
        days = 1 if op == "is today" else v.n
        ranges = dates.md_ranges(dates.birthday_codes(self.ctx.today, days))
        if not ranges:
            return FALSE
        return reduce(operator.or_, [Contact.birth_md.between(lo, hi) for lo, hi in ranges])

    def age(self, op: str, v):
        """Whole years on today, as a range of birth_date (an index can serve it)."""
        def at_least(years: int):
            cutoff = dates.age_cutoff(self.ctx.today, years)
            return FALSE if cutoff is None else Contact.birth_date <= cutoff

        if op == "is not empty":
            return TRUE
        if op == "between":
            lo, hi = v.low.value, v.high.value
            return at_least(math.ceil(lo)) & ~at_least(math.floor(hi) + 1)
        q = v.value
        if op == "=":
            return at_least(int(q)) & ~at_least(int(q) + 1) if q == q.to_integral_value() else FALSE
        return {">": at_least(math.floor(q) + 1), ">=": at_least(math.ceil(q)),
                "<": ~at_least(math.ceil(q)), "<=": ~at_least(math.floor(q) + 1)}[op]

    def average(self, op: str, v):
        """total/count compared exactly: avg > X ⇔ total·b > a·count, where
        a/b is X in cents (b > 1 only for fractions of a cent)."""
        total, orders = Contact.orders_total, Contact.orders_count
        if op == "is not empty":
            return orders > 0

        def cmp(sign: str, x: Decimal):
            a, b = (x * 100).as_integer_ratio()
            left = total if b == 1 else total * b
            # count is a 32-bit column on PostgreSQL: widen it before multiplying
            count = pw.Cast(Contact.orders_count, "BIGINT")
            return {"=": left == count * a, ">": left > count * a, ">=": left >= count * a,
                    "<": left < count * a, "<=": left <= count * a}[sign]

        if op == "between":
            return (orders > 0) & cmp(">=", v.low.value) & cmp("<=", v.high.value)
        return (orders > 0) & cmp(op, v.value)

    def windowed(self, field: str, window, op: str, v):
        start = dates.ago(self.ctx.today, window.n, window.unit)
        inside = (Order.contact == Contact.id) & (Order.created_at >= start) & (Order.created_at <= self.ctx.today)
        if field == "orders.count":
            expr, scale = Order.select(pw.fn.COUNT(Order.id)).where(inside), 1
        else:
            expr, scale = Order.select(pw.fn.COALESCE(pw.fn.SUM(Order.total), 0)).where(inside), 100
        return TRUE if op == "is not empty" else int_op(expr, op, v, scale)


# ---- leaves over one column -------------------------------------------------

def guarded(col, pred):
    """`col IS NOT NULL AND pred`: FALSE, not NULL, when the value is empty."""
    return col.is_null(False) & pred


def text_op(col, op: str, v, *, normalise: bool = True):
    key = norm if normalise else (lambda s: s)
    if op == "is not empty":
        return TRUE
    if op == "in":
        return col.in_([key(i.value) for i in v.values])
    if op == "=":
        return col == key(v.value)
    pattern = like_pattern(key(v.value), op)
    return pw.NodeList((col, pw.SQL("LIKE"), pattern, pw.SQL("ESCAPE '!'")), parens=True)


def int_op(expr, op: str, v, scale: int):
    """An integer-valued EXPR against a written number, exactly: the number
    times SCALE may have a fraction, so > and < round it the right way."""
    if op == "is not empty":
        return TRUE
    if op == "between":
        return (expr >= math.ceil(v.low.value * scale)) & (expr <= math.floor(v.high.value * scale))
    q = v.value * scale
    if op == "=":
        return expr == int(q) if q == q.to_integral_value() else FALSE
    return {">": expr > math.floor(q), ">=": expr >= math.ceil(q),
            "<": expr < math.ceil(q), "<=": expr <= math.floor(q)}[op]


def float_op(col, op: str, v):
    """Custom numbers are stored as floats; compare with the float of the literal."""
    if op == "is not empty":
        return TRUE
    if op == "between":
        return (col >= float(v.low.value)) & (col <= float(v.high.value))
    x = float(v.value)
    return {"=": col == x, ">": col > x, ">=": col >= x, "<": col < x, "<=": col <= x}[op]


def like_pattern(s: str, op: str) -> str:
    """A LIKE pattern matching S literally: % and _ in S are escaped with !."""
    s = s.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return {"contains": f"%{s}%", "starts with": f"{s}%", "ends with": f"%{s}"}[op]
