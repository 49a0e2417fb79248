"""Data sources behind the tables: they page from the database, never all rows."""
from __future__ import annotations

import threading

from core import segments

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
            rows = segments.member_page(seg, self.after, self.page_size, self.fields)
            self.pages_fetched += 1
            self.rows_fetched += len(rows)
            if rows:
                self.after = rows[-1][0]
            self.exhausted = len(rows) < self.page_size
            return rows


# ---- the segment table ----------------------------------------------------------

def segment_rows(text: str, cfg) -> list[dict]:
    """core.search's rows for TEXT (a kind word also matches every segment of that kind)."""
    from core.search import search

    return search(text)
