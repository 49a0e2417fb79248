"""Why a contact is in or out: each test of a condition, true or false for
that contact as the database computes it, beside the contact's value."""
from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import peewee as pw

from ..errors import NotFound
from ..store.models import Contact, CustomValue, Interest, Membership, Order
from . import dates
from . import fields as F
from .compile import Compiler
from .leaves import DATE_COLUMNS, TOTALS
from .context import EvalContext
from .format import format as format_tree
from .segment_refs import lookup
from .tree import InSegment, Test, leaves

EMPTY = "(empty)"


@dataclass(frozen=True)
class Line:
    test: str  # the test in canonical spelling
    result: bool
    value: str  # the contact's value(s) for the test's field

    def __str__(self) -> str:
        return f"{'✓' if self.result else '✗'} {self.test}    [{self.value}]"


def explain(tree, contact_id: int, ctx: EvalContext) -> list[Line]:
    contact = Contact.get_or_none(Contact.id == contact_id)
    if contact is None:
        raise NotFound(f"no contact has id {contact_id}")
    compiler = Compiler(replace(ctx, few=True))  # one contact
    lines = []
    for leaf in leaves(tree):
        expr = compiler.sql(leaf)
        result = Contact.select(Contact.id).where((Contact.id == contact_id) & expr).exists()
        lines.append(Line(format_tree(leaf), bool(result), _value(leaf, contact, ctx)))
    return lines


def _value(leaf, c: Contact, ctx: EvalContext) -> str:
    if isinstance(leaf, InSegment):
        seg = lookup(leaf.ref)
        if seg is None:
            return "no such segment"
        if seg.kind == "list":
            member = Membership.select().where((Membership.segment == seg.id) & (Membership.contact == c.id)).exists()
            return f'{"a member" if member else "not a member"} of the list "{seg.name}"'
        return f'dynamic segment "{seg.name}"'
    return _field_value(leaf, c, ctx)


def _field_value(t: Test, c: Contact, ctx: EvalContext) -> str:
    f = t.field
    key = F.custom_key(f)
    if key is not None:
        v = CustomValue.select(CustomValue.text).where(
            (CustomValue.contact == c.id) & (CustomValue.key == key)).scalar()
        return _shown(v)
    if f == "interests":
        rows = Interest.select(Interest.display).where(Interest.contact == c.id).order_by(Interest.value)
        return ", ".join(r.display for r in rows) or EMPTY
    if f in ("age", "birthday"):
        if c.birth_date is None:
            return EMPTY
        age = dates.age_on(c.birth_date, ctx.today)
        return f"{age} (born {c.birth_date.isoformat()})" if f == "age" else c.birth_date.isoformat()
    if t.window is not None:
        start = dates.ago(ctx.today, t.window.n, t.window.unit)
        inside = (Order.contact == c.id) & (Order.created_at >= start) & (Order.created_at <= ctx.today)
        if f == "orders.count":
            return str(Order.select().where(inside).count())
        return _money(Order.select(pw.fn.COALESCE(pw.fn.SUM(Order.total), 0)).where(inside).scalar())
    if f == "orders.count":
        return str(c.orders_count)
    if f in ("orders.total", "orders.max"):
        return _money(c.orders_total if f == "orders.total" else c.orders_max)
    if f == "orders.avg":
        if not c.orders_count:
            return EMPTY
        return _money((Decimal(c.orders_total) / c.orders_count).quantize(Decimal("0.01")))
    if f in DATE_COLUMNS or f in TOTALS:
        v = getattr(c, (DATE_COLUMNS.get(f) or TOTALS[f][0]).name)
        return v.isoformat() if v is not None else EMPTY
    return _shown(getattr(c, f))


def _money(cents) -> str:
    if cents is None:
        return EMPTY
    return f"{Decimal(cents) / 100:.2f}"


def _shown(v) -> str:
    return EMPTY if v is None or str(v).strip() == "" else str(v)
