"""Contacts straight into the store, for tests that are not about import."""
from __future__ import annotations

import datetime as dt

from core.contacts import recompute_order_totals
from core.store.models import Contact
from core.text import norm

TEXT = ("phone", "first_name", "last_name", "country", "region", "city", "language")


def contact_row(email: str, **fields) -> dict:
    row = {"email": email, "email_norm": norm(email), "created_at": fields.pop("created_at", dt.date(2024, 1, 1))}
    for f in TEXT:
        if f in fields:
            row[f] = fields[f]
            row[f + "_norm"] = norm(fields.pop(f))
    bd = fields.pop("birth_date", None)
    if bd:
        row["birth_date"] = bd
        row["birth_md"] = bd.month * 100 + bd.day
    row.update(fields)
    return row


def make_contacts(n: int, start: int = 0, **fields) -> list[int]:
    """N contacts c<i>@example.com; FIELDS may be values or functions of i."""
    rows = []
    for i in range(start, start + n):
        values = {k: (v(i) if callable(v) else v) for k, v in fields.items()}
        rows.append(contact_row(f"c{i}@example.com", **values))
    for i in range(0, len(rows), 500):
        Contact.insert_many(rows[i : i + 500]).execute()
    emails = [r["email_norm"] for r in rows]
    by_email = dict(Contact.select(Contact.email_norm, Contact.id).where(Contact.email_norm.in_(emails)).tuples()) if len(emails) < 30000 else None
    if by_email is None:
        return [cid for (cid,) in Contact.select(Contact.id).order_by(Contact.id).tuples()][-n:]
    return [by_email[e] for e in emails]


def totals_from_orders() -> None:
    """Every contact's row of order totals, from its orders (for orders inserted straight)."""
    recompute_order_totals('SELECT DISTINCT contact_id FROM "order"')
