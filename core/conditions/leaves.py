"""The SQL of one test, over the columns of the store (see models.py):
text through its `_norm` twin, money in cents, age as a birth_date range,
birthdays as birth_md ranges, sets and custom fields as EXISTS, order
aggregates as EXISTS of the contact's row of them (`id IN (…)` on SQLite
over all contacts).

Each builder gives the *positive* operator (`=`, `contains`, `in`, `has
any`, `is not empty`) and is TRUE or FALSE for every contact, never NULL;
compile.py makes the negative ones by NOT, so `!=` is exactly not `=`.
"""
from __future__ import annotations

import math
from decimal import Decimal

import peewee as pw

from ..store import backend, database
from ..store.models import Contact, CustomValue, Interest, Order, OrderTotals
from ..text import norm
from . import dates
from . import fields as F
from .context import EvalContext
from .tree import Items, Test

TRUE = pw.SQL("(1 = 1)")
FALSE = pw.SQL("(1 = 0)")
DATE_COLUMNS = {"birth_date": Contact.birth_date, "created_at": Contact.created_at}
# The order aggregates (a row of OrderTotals per contact with orders), what they
# are for a contact without any, and the factor that turns a written number
# into their unit (None: a date).
TOTALS = {"orders.count": (OrderTotals.orders_count, 0, 1), "orders.total": (OrderTotals.orders_total, 0, 100),
          "orders.max": (OrderTotals.orders_max, None, 100),
          "orders.first_date": (OrderTotals.orders_first_date, None, None),
          "orders.last_date": (OrderTotals.orders_last_date, None, None)}
CUSTOM_COLUMNS = {F.TEXT: CustomValue.norm, F.NUMBER: CustomValue.number, F.DATE: CustomValue.date,
                  F.YESNO: CustomValue.yesno}


class Leaves:
    def __init__(self, ctx: EvalContext):
        self.ctx = ctx

    def positive(self, t: Test, kind: str, op: str):
        f, v = t.field, t.value
        if kind == F.BIRTHDAY:
            return guarded(Contact.birth_md, self.birthday(op, v))
        if F.custom_key(f) is not None:
            return self.custom(F.custom_key(f), kind, op, v)
        if kind == F.TEXT:
            return guarded(getattr(Contact, f + "_norm"), text_op(getattr(Contact, f + "_norm"), op, v))
        if kind == F.CHOICE:
            col = getattr(Contact, f)
            return guarded(col, text_op(col, op, v, normalise=False))
        if kind == F.SET:
            return self.interests(op, v)
        if f == "age":
            return guarded(Contact.birth_date, self.age(op, v))
        if t.window is not None:
            return self.windowed(f, t.window, op, v)
        if f in TOTALS or f == "orders.avg":
            return self.totals(f, op, v)
        col = DATE_COLUMNS[f]
        return guarded(col, self.date_op(col, op, v))

    def totals(self, f: str, op: str, v):
        """A test of the order aggregates, as EXISTS of the contact's row of them
        (an index probe, or a semi-join of the two tables): of a row that passes
        the test; or, when a contact without orders passes it (`orders.count < 2`),
        of none that fails it."""
        def test(columns: dict):
            if f == "orders.avg":
                return self.average(op, v, columns["orders.count"], columns["orders.total"])
            col, scale = columns[f], TOTALS[f][2]
            return guarded(col, self.date_op(col, op, v) if scale is None else int_op(col, op, v, scale))

        stored = {name: col for name, (col, _, _) in TOTALS.items()}
        without = {name: pw.SQL("NULL" if none is None else str(none)) for name, (_, none, _) in TOTALS.items()}
        passes = not holds(test(without))  # else: none that fails
        wanted = test(stored) if passes else ~test(stored)
        if backend() == "sqlite" and not self.ctx.few:
            # IN (…): SQLite runs the subquery once and looks its contacts up by id,
            # where EXISTS probed for every contact (0.3 s against 1.8 s of a million);
            # for a few contacts (an import's batch) EXISTS, a probe each, as it
            # would list all the matching rows for each batch
            ids = OrderTotals.select(OrderTotals.contact).where(wanted)
            return Contact.id.in_(ids) if passes else Contact.id.not_in(ids)
        # EXISTS: a semi-join or an anti-join (NOT IN would be neither on PostgreSQL)
        row = pw.fn.EXISTS(OrderTotals.select(pw.SQL("1")).where((OrderTotals.contact == Contact.id) & wanted))
        return row if passes else ~row

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
            return chain([exists(Interest.value == w) for w in wanted], " AND ")
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
        return chain([Contact.birth_md.between(lo, hi) for lo, hi in ranges], " OR ")

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

    def average(self, op: str, v, orders, total):
        """total/count (ORDERS, TOTAL: their columns) compared exactly: avg > X ⇔
        total·b > a·count, where a/b is X in cents (b > 1 only for fractions of a cent)."""
        if op == "is not empty":
            return orders > 0
        # the count is a 32-bit column on PostgreSQL: widen it before multiplying
        count = pw.Cast(orders, "BIGINT")

        def cmp(sign: str, x: Decimal):
            a, b = (x * 100).as_integer_ratio()
            left = total if b == 1 else total * b
            right = count * a
            return {"=": left == right, ">": left > right, ">=": left >= right,
                    "<": left < right, "<=": left <= right}[sign]

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


# ---- over one column ------------------------------------------------------------

FAN = 8


def chain(exprs: list, glue: str):
    """`a AND b AND …` in groups of at most FAN: SQLite nests a long chain
    one level per term and refuses more than 1,000 levels."""
    if len(exprs) > FAN:
        size = -(-len(exprs) // FAN)
        exprs = [chain(exprs[i:i + size], glue) for i in range(0, len(exprs), size)]
    return pw.NodeList(exprs, glue=glue, parens=True)


def chain_levels(n: int) -> int:
    """How many parentheses deep chain() nests a list of N."""
    return 1 if n <= FAN else 1 + chain_levels(-(-n // FAN))


def holds(expr) -> bool:
    """Whether EXPR, over constants alone, is true (asked of the database, whose
    arithmetic and comparisons the test is written in)."""
    case = pw.Case(None, ((expr, 1),), 0)
    return bool(database.obj.execute(pw.Select(columns=[case])).fetchone()[0])


def guarded(col, pred):
    """`col IS NOT NULL AND pred`: FALSE, not NULL, when the value is empty."""
    return col.is_null(False) & pred


def text_op(col, op: str, v, *, normalise: bool = True):
    key = norm if normalise else (lambda s: s)
    if op == "is not empty":
        return TRUE
    if op == "in":
        return col.in_(sorted({key(i.value) for i in v.values}))
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
