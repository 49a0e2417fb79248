"""Data sources behind the tables: they page from the database, never all rows."""
from __future__ import annotations

import threading

from core import segments
from core.store.models import Contact

MEMBER_FIELDS = ("email", "first_name", "last_name", "city", "region", "status")


class MemberPages:
    """A segment's members a page at a time, by keyset on the contact id.

    `rows_fetched` counts the rows read from the database, so that a test can
    tell that a million-member segment was not read whole.
    """

    def __init__(self, segment_id: int, page_size: int = 200, fields=MEMBER_FIELDS):
        self.segment_id = segment_id
        self.page_size = page_size
        self.fields = fields
        self.after = 0  # the last contact id read
        self.rows_fetched = 0
        self.pages_fetched = 0
        self.exhausted = False
        self._lock = threading.Lock()

    def next_page(self) -> list[tuple]:
        """The next page of (id, *fields); empty once every member was read."""
        with self._lock:
            if self.exhausted:
                return []
            seg = segments.resolve(self.segment_id)
            query = (
                segments.member_query(seg)
                .select(Contact.id, *[getattr(Contact, f) for f in self.fields])
                .where(Contact.id > self.after)
                .limit(self.page_size)
                .tuples()
            )
            rows = list(query)
            self.pages_fetched += 1
            self.rows_fetched += len(rows)
            if rows:
                self.after = rows[-1][0]
            self.exhausted = len(rows) < self.page_size
            return rows


# ---- the segment table ----------------------------------------------------------

KIND_WORDS = {"list": "list", "lists": "list", "dynamic": "dynamic"}


def segment_rows(text: str, cfg) -> list[dict]:
    """core.search's rows for TEXT, with each segment's schedule.

    A word that names a kind (list, dynamic) also matches every segment of that
    kind, so "dynamic region" finds the dynamic segments that test region, and
    "list" still finds a dynamic segment called "Mailing list".
    """
    from core.search import search
    from core.show import schedule_of
    from core.store.models import Segment

    rows = {r["id"]: r for r in search(text)}
    words = (text or "").split()
    kinds = {KIND_WORDS[w.casefold()] for w in words if w.casefold() in KIND_WORDS}
    if len(kinds) == 1:
        rest = " ".join(w for w in words if w.casefold() not in KIND_WORDS)
        for r in search(rest, kind=kinds.pop()):
            rows.setdefault(r["id"], r)
    ordered = sorted(rows.values(), key=lambda r: (r["created_at"], r["id"]), reverse=True)
    by_id = {s.id: s for s in Segment.select().where(Segment.id.in_(list(rows)))}
    for r in ordered:
        r["schedule"] = schedule_of(by_id[r["id"]], cfg)
    return ordered
