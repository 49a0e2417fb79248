"""The tables of schema version 2: refresh leases, channel subscriptions, the
notices outbox.

They live apart from models.py because they belong to the processes that
run in the background (schedulers, senders) and share the database with
each other: every row here is claimed and released by atomic conditional
UPDATEs, never by reading then writing.
"""
from __future__ import annotations

import peewee as pw

from .models import Base, Segment, utcnow


class RefreshLease(Base):
    """Which scheduler process may refresh a segment, and when it is due next.

    A process takes the lease with one UPDATE … WHERE expires_at < now AND
    next_due_at <= now; the one that changes the row refreshes, the others
    skip. A holder that dies simply stops renewing, so its lease expires.
    """

    segment = pw.ForeignKeyField(Segment, primary_key=True, on_delete="CASCADE", backref="+")
    holder = pw.TextField(null=True)
    expires_at = pw.DateTimeField(null=True)
    next_due_at = pw.DateTimeField()


class Subscription(Base):
    """A Slack channel told of a segment's refreshes."""

    segment = pw.ForeignKeyField(Segment, on_delete="CASCADE", backref="subscriptions")
    channel = pw.TextField()  # a channel id (C0123ABC) or #name, as Slack accepts it
    channel_key = pw.TextField()  # lower case: one subscription per channel and segment
    created_at = pw.DateTimeField(default=utcnow)
    created_by = pw.TextField(null=True)
    failure = pw.TextField(null=True)  # Slack's error code of the last permanent failure; None = ok
    failed_at = pw.DateTimeField(null=True)
    last_notice_at = pw.DateTimeField(null=True)  # when a notice last reached the channel

    class Meta:
        indexes = ((("segment", "channel_key"), True),)


class NoticeBaseline(Base):
    """The members as the subscription's last notice told them (or as they
    were when it was subscribed): the next notice reports the difference.
    Contact ids carry no foreign key, so a deleted contact counts as left."""

    subscription = pw.ForeignKeyField(Subscription, on_delete="CASCADE", backref="+")
    contact_id = pw.IntegerField()

    class Meta:
        primary_key = pw.CompositeKey("subscription", "contact_id")


class Notice(Base):
    """One message owed to a channel: written in the refresh's transaction,
    sent later by whichever sender claims it first.

    Segment and subscription are kept as plain ids with their names copied,
    so that an owed notice survives the segment's deletion.
    """

    segment_id = pw.IntegerField()
    segment_name = pw.TextField()
    subscription_id = pw.IntegerField(null=True)
    channel = pw.TextField()
    refresh_run_id = pw.IntegerField(null=True)
    size = pw.IntegerField()
    joined = pw.IntegerField()
    left = pw.IntegerField()
    samples = pw.TextField(null=True)  # JSON {"joined": [emails], "left": [emails]}
    created_at = pw.DateTimeField(default=utcnow)
    state = pw.TextField(default="pending")  # pending | sent | failed
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(null=True)  # after a 429 or 5xx: not before
    claimed_by = pw.TextField(null=True)
    claimed_until = pw.DateTimeField(null=True)
    sent_at = pw.DateTimeField(null=True)
    slack_ts = pw.TextField(null=True)
    error = pw.TextField(null=True)

    class Meta:
        indexes = ((("state", "id"), False), (("segment_id", "id"), False))


ALL_MODELS = [RefreshLease, Subscription, NoticeBaseline, Notice]
