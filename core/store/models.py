"""The tables. Every text field a condition can test has a `_norm` twin:
NFC, case-folded and trimmed (core.text.norm), so that comparisons without
case behave the same in every script on SQLite and PostgreSQL.

Order aggregates are kept per contact (in cents, exact) in a narrow table of
their own, OrderTotals, so that the common conditions (`orders.total > 300`)
test one stored row per contact, and an orders file writes those small rows
instead of rewriting every contact's wide one.
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from .db import database

# The contact's text fields, in the order of operations.md.
TEXT_FIELDS = ("email", "phone", "first_name", "last_name", "country", "region", "city", "language")
CHOICES = {
    "gender": ("female", "male", "other"),
    "status": ("active", "unsubscribed", "bounced"),
}


def utcnow() -> dt.datetime:
    from ..clock import utcnow_naive

    return utcnow_naive()


class Base(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(Base):
    version = pw.IntegerField()
    applied_at = pw.DateTimeField(default=utcnow)


class Contact(Base):
    email = pw.TextField()
    email_norm = pw.TextField(unique=True)
    phone = pw.TextField(null=True)
    phone_norm = pw.TextField(null=True)
    first_name = pw.TextField(null=True)
    first_name_norm = pw.TextField(null=True)
    last_name = pw.TextField(null=True)
    last_name_norm = pw.TextField(null=True)
    country = pw.TextField(null=True)
    country_norm = pw.TextField(null=True)
    region = pw.TextField(null=True)
    region_norm = pw.TextField(null=True, index=True)
    city = pw.TextField(null=True)
    city_norm = pw.TextField(null=True)
    language = pw.TextField(null=True)
    language_norm = pw.TextField(null=True)
    gender = pw.TextField(null=True)
    status = pw.TextField(default="active", index=True)
    birth_date = pw.DateField(null=True, index=True)
    birth_md = pw.IntegerField(null=True, index=True)  # month*100 + day, for birthday windows
    created_at = pw.DateField(index=True)
    interests = pw.TextField(null=True)  # as given, joined with ";" (display and export)
    updated_at = pw.DateTimeField(default=utcnow)

    # The order aggregates, read from the contact's OrderTotals row (none: no orders).
    @property
    def order_totals(self) -> "OrderTotals":
        if "_order_totals" not in self.__dict__:
            self.__dict__["_order_totals"] = OrderTotals.get_or_none(OrderTotals.contact == self.id) or OrderTotals(
                contact=self.id, orders_count=0, orders_total=0)
        return self.__dict__["_order_totals"]

    orders_count = property(lambda self: self.order_totals.orders_count)
    orders_total = property(lambda self: self.order_totals.orders_total)
    orders_max = property(lambda self: self.order_totals.orders_max)
    orders_first_date = property(lambda self: self.order_totals.orders_first_date)
    orders_last_date = property(lambda self: self.order_totals.orders_last_date)


# A foreign key whose column leads the primary key or another index gets no
# index of its own (index=False): the other serves every look-up it would, and
# each index costs every insert (schema version 3 drops the old ones).
class Interest(Base):
    contact = pw.ForeignKeyField(Contact, on_delete="CASCADE", backref="interest_rows", index=False)
    value = pw.TextField()  # normalised
    display = pw.TextField()

    class Meta:
        primary_key = pw.CompositeKey("contact", "value")
        indexes = ((("value", "contact"), False),)


class CustomValue(Base):
    """A custom field's value, typed by the config (undeclared keys are text)."""

    contact = pw.ForeignKeyField(Contact, on_delete="CASCADE", backref="custom_rows", index=False)
    key = pw.TextField()  # lower case
    text = pw.TextField()  # as given
    norm = pw.TextField(null=True)  # for text
    number = pw.DoubleField(null=True)
    date = pw.DateField(null=True)
    yesno = pw.BooleanField(null=True)

    class Meta:
        primary_key = pw.CompositeKey("contact", "key")
        indexes = ((("key", "norm"), False), (("key", "number"), False), (("key", "date"), False))


class Order(Base):
    order_id = pw.TextField(unique=True)
    contact = pw.ForeignKeyField(Contact, on_delete="CASCADE", backref="orders", index=False)
    total = pw.BigIntegerField()  # cents
    currency = pw.TextField(null=True)
    created_at = pw.DateField()

    class Meta:
        indexes = ((("contact", "created_at"), False),)


class OrderTotals(Base):
    """A contact's order aggregates, a row per contact with at least one order.

    Kept apart from the contact: PostgreSQL writes a whole new version of a
    row it updates, with an entry in each of its indexes, and an orders file
    changes the aggregates of nearly every contact. Measured on a million
    contacts: the aggregates of 820,000 written onto the contacts in 22.5 s,
    into this table in 2.8 s. A contact without orders has no row: its count
    and total are 0, the others empty (core.conditions.leaves reads it so).
    """

    contact = pw.ForeignKeyField(Contact, primary_key=True, on_delete="CASCADE", backref="order_totals_rows")
    orders_count = pw.IntegerField()
    orders_total = pw.BigIntegerField()  # cents
    orders_max = pw.BigIntegerField(null=True)  # cents
    orders_first_date = pw.DateField(null=True)
    orders_last_date = pw.DateField(null=True)

    class Meta:
        table_name = "order_totals"


class Segment(Base):
    name = pw.TextField()
    name_norm = pw.TextField(unique=True)
    kind = pw.TextField()  # "list" | "dynamic"
    condition = pw.TextField(null=True)  # versioned JSON of the parsed tree
    condition_text = pw.TextField(null=True)  # canonical spelling, for show
    condition_norm = pw.TextField(null=True)  # the same, normalised, for search by a word
    refresh_every = pw.IntegerField(null=True)  # seconds; None = the config's default
    schedule_off = pw.BooleanField(default=False)
    origin = pw.TextField(null=True)  # JSON: copy_of / split_of with part and seed / export_of
    member_count = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=utcnow)
    created_by = pw.TextField(null=True)
    updated_at = pw.DateTimeField(default=utcnow, index=True)  # schedulers watch this
    last_refresh_at = pw.DateTimeField(null=True)


class Membership(Base):
    segment = pw.ForeignKeyField(Segment, on_delete="CASCADE", backref="memberships", index=False)
    contact = pw.ForeignKeyField(Contact, on_delete="CASCADE", backref="memberships", index=False)
    added_at = pw.DateTimeField(default=utcnow)

    class Meta:
        primary_key = pw.CompositeKey("segment", "contact")
        indexes = ((("contact", "segment"), False),)


class RefreshRun(Base):
    segment = pw.ForeignKeyField(Segment, on_delete="CASCADE", backref="refresh_runs", index=False)
    started_at = pw.DateTimeField(default=utcnow)
    finished_at = pw.DateTimeField(null=True)
    trigger = pw.TextField(default="manual")  # manual | schedule | import | create
    total = pw.IntegerField(null=True)
    joined = pw.IntegerField(null=True)
    left = pw.IntegerField(null=True)
    error = pw.TextField(null=True)
    actor = pw.TextField(null=True)

    class Meta:
        indexes = ((("segment", "started_at"), False),)


class MembershipChange(Base):
    """Who joined or left a segment, when and why. The contact id is kept
    without a foreign key so that history outlives a deleted contact. A list
    made with members (a split's part, an export) starts its history after
    them: its origin says how many it was born with (segments.born_with);
    databases from before schema version 8 may hold a row each for those."""

    segment = pw.ForeignKeyField(Segment, on_delete="CASCADE", backref="changes", index=False)
    contact_id = pw.IntegerField()
    change = pw.TextField()  # joined | left
    at = pw.DateTimeField(default=utcnow)
    reason = pw.TextField()  # refresh | import | add | remove | empty | contact deleted (split | export before v8)
    refresh_run = pw.ForeignKeyField(RefreshRun, null=True, on_delete="SET NULL")

    class Meta:
        indexes = ((("segment", "at"), False),)


class AuditEntry(Base):
    at = pw.DateTimeField(default=utcnow, index=True)
    actor = pw.TextField()  # OS user, Slack user id, ...
    face = pw.TextField()  # cli | tui | slack | scheduler | api
    operation = pw.TextField()
    segment_id = pw.IntegerField(null=True)
    segment_name = pw.TextField(null=True)
    details = pw.TextField(null=True)  # JSON


ALL_MODELS = [
    SchemaVersion,
    Contact,
    Interest,
    CustomValue,
    Order,
    OrderTotals,
    Segment,
    Membership,
    RefreshRun,
    MembershipChange,
    AuditEntry,
]
