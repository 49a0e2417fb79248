"""Shared by the condition tests: contacts made straight with the models,
and a small Python evaluator of a condition tree, written independently of
core.conditions.compile, that the SQL must agree with. (No tests here.)"""
from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from fractions import Fraction

from core.conditions import compile_where, EvalContext
from core.conditions import tree as T
from core.conditions.tree import And, Ago, Date, InSegment, Items, Not, Or
from core.store.models import Contact, CustomValue, Interest, Membership, Order, OrderTotals, Segment
from core.text import norm

CUSTOM = {"tier": "text", "score": "number", "since": "date", "vip": "yesno"}
TEXT_FIELDS = ("email", "phone", "first_name", "last_name", "country", "region", "city", "language")
_orders = iter(range(1, 10**9))


def make_contact(email: str, *, created_at=dt.date(2024, 1, 1), interests=(), orders=(), custom=None, **fields):
    """A contact as the importer would store it: _norm twins, birth_md, its row of
    order aggregates in cents (if it has orders), interest rows, typed custom values."""
    data = {f: fields.get(f) for f in TEXT_FIELDS[1:]}
    row = dict(email=email, email_norm=norm(email), created_at=created_at,
               gender=fields.get("gender"), status=fields.get("status", "active"),
               birth_date=fields.get("birth_date"))
    for f, v in data.items():
        row[f], row[f + "_norm"] = v, norm(v)
    b = row["birth_date"]
    row["birth_md"] = b.month * 100 + b.day if b else None
    cents = [(int(Decimal(str(t)) * 100), d) for t, d in orders]
    row.update(interests=";".join(interests) or None)
    c = Contact.create(**row)
    for c_, d in cents:
        Order.create(order_id=f"o{next(_orders)}", contact=c, total=c_, created_at=d)
    if cents:
        OrderTotals.create(contact=c, orders_count=len(cents), orders_total=sum(c for c, _ in cents),
                           orders_max=max(c for c, _ in cents), orders_first_date=min(d for _, d in cents),
                           orders_last_date=max(d for _, d in cents))
    for i in {norm(i): i for i in interests}.items():
        Interest.create(contact=c, value=i[0], display=i[1])
    for key, v in (custom or {}).items():
        kind = CUSTOM.get(key, "text")
        CustomValue.create(
            contact=c, key=key, text=str(v),
            norm=norm(v) if kind == "text" else None,
            number=float(v) if kind == "number" else None,
            date=v if kind == "date" else None,
            yesno=v if kind == "yesno" else None)
    c.facts = dict(row, email=email, interests=[norm(i) for i in interests], orders=cents, custom=custom or {})
    return c


def make_segment(name: str, kind: str = "list", condition=None, members=()):
    from core.conditions import to_json

    seg = Segment.create(name=name, name_norm=norm(name), kind=kind,
                         condition=to_json(condition) if condition is not None else None)
    for c in members:
        Membership.create(segment=seg, contact=c)
    return seg


def selected(tree, today: dt.date, custom=CUSTOM) -> set[int]:
    """The ids the compiled SQL selects."""
    expr = compile_where(tree, EvalContext(today=today, custom_fields=custom))
    return {cid for (cid,) in Contact.select(Contact.id).where(expr).tuples()}


def emails(tree, today: dt.date, custom=CUSTOM) -> set[str]:
    ids = selected(tree, today, custom)
    return {e for (e,) in Contact.select(Contact.email).where(Contact.id.in_(list(ids) or [0])).tuples()}


# ---- the evaluator -----------------------------------------------------------

def months_back(today: dt.date, n: int) -> dt.date:
    y, m = divmod(today.year * 12 + today.month - 1 - n, 12)
    return dt.date(y, m + 1, min(today.day, calendar.monthrange(y, m + 1)[1]))


def day_of(v, today: dt.date) -> dt.date:
    if isinstance(v, Date):
        return v.value
    if v.unit == "days":
        return today - dt.timedelta(days=v.n)
    if v.unit == "weeks":
        return today - dt.timedelta(weeks=v.n)
    return months_back(today, v.n * (12 if v.unit == "years" else 1))


def birthday(b: dt.date, year: int) -> dt.date:
    if (b.month, b.day) == (2, 29) and not calendar.isleap(year):
        return dt.date(year, 2, 28)
    return b.replace(year=year)


def py_eval(tree, facts: dict, today: dt.date, segments=None) -> bool:
    """SEGMENTS maps a segment ref to the set of emails of a list, or to the tree of a dynamic segment."""
    if isinstance(tree, And):
        return all(py_eval(i, facts, today, segments) for i in tree.items)
    if isinstance(tree, Or):
        return any(py_eval(i, facts, today, segments) for i in tree.items)
    if isinstance(tree, Not):
        return not py_eval(tree.item, facts, today, segments)
    if isinstance(tree, InSegment):
        target = segments[tree.ref]
        inside = facts["email"] in target if isinstance(target, set) else py_eval(target, facts, today, segments)
        return inside != tree.negated
    negative = {"!=": "=", "not contains": "contains", "not in": "in", "has none": "has any",
                "is empty": "is not empty"}
    if tree.op in negative:
        return not py_eval(T.Test(tree.field, negative[tree.op], tree.value, tree.window), facts, today, segments)
    return _positive(tree, _value_of(tree, facts, today), today)


def _value_of(t: T.Test, f: dict, today: dt.date):
    name = t.field
    if name.startswith("custom."):
        key = name[7:]
        v = f["custom"].get(key)
        kind = CUSTOM.get(key, "text")
        return norm(v) if kind == "text" and v is not None else v
    if name in TEXT_FIELDS:
        return norm(f[name])
    if name in ("gender", "status", "birth_date", "created_at"):
        return f[name]
    if name == "interests":
        return set(f["interests"])
    if name in ("age", "birthday"):
        b = f["birth_date"]
        if b is None or name == "birthday":
            return b
        return today.year - b.year - (today < birthday(b, today.year))
    orders = f["orders"]
    if t.window is not None:
        start = day_of(Ago(t.window.n, t.window.unit), today)
        orders = [(c, d) for c, d in orders if start <= d <= today]
    cents = [c for c, _ in orders]
    return {
        "orders.count": len(cents),
        "orders.total": Fraction(sum(cents), 100),
        "orders.avg": Fraction(sum(cents), 100 * len(cents)) if cents else None,
        "orders.max": Fraction(max(cents), 100) if cents else None,
        "orders.first_date": min((d for _, d in orders), default=None),
        "orders.last_date": max((d for _, d in orders), default=None),
    }[name]


def _literal(v, today):
    if isinstance(v, (Date, Ago)):
        return day_of(v, today)
    if hasattr(v, "value") and isinstance(v.value, Decimal):
        return Fraction(v.value)
    if hasattr(v, "value") and isinstance(v.value, str):
        return norm(v.value)
    return v.value


def _positive(t: T.Test, x, today: dt.date) -> bool:
    op, v = t.op, t.value
    if op == "is not empty":
        return bool(x) if isinstance(x, set) else x is not None
    if x is None or x == set():
        return False
    if t.field == "birthday":
        if op == "in month":
            return x.month == v.value
        n = 1 if op == "is today" else v.n
        end = today + dt.timedelta(days=n)
        return any(today <= birthday(x, y) < end for y in (today.year, today.year + 1))
    if isinstance(x, float):  # custom numbers are stored as floats
        def lit(val):
            return float(val.value)
    else:
        def lit(val):
            return _literal(val, today)
    if isinstance(x, set):
        want = {norm(i.value) for i in v.values} if isinstance(v, Items) else {norm(v.value)}
        return want <= x if op == "has all" else bool(want & x)
    if op == "in":
        return x in {lit(i) for i in v.values}
    if op in ("between",):
        return lit(v.low) <= x <= lit(v.high)
    if op == "in last":
        return day_of(Ago(v.n, v.unit), today) <= x <= today
    if op == "contains":
        return lit(v) in x
    if op == "starts with":
        return x.startswith(lit(v))
    if op == "ends with":
        return x.endswith(lit(v))
    y = lit(v)
    return {"=": x == y, ">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y,
            "before": x < y, "after": x > y}[op]


