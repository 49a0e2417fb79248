"""CSV import of contacts and orders (operations.md, "Contacts").

A file is streamed: checked to be UTF-8 first (so a bad file writes nothing),
then read a batch at a time; each batch is normalised, upserted in set-based
SQL and committed in its own transaction, together with the re-evaluation of
the dynamic segments for exactly the contacts it touched. Memory stays
constant whatever the size of the file.

Bad rows are reported with their line (the header is line 1) and reason, and
the good rows still go in. With `strict`, the whole import is one
transaction that is rolled back if any row is bad.
"""
from __future__ import annotations

import codecs
import csv
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator

from . import audit, clock, config as config_mod
from .audit import Actor
from .contacts import BadValue, ContactColumns, OrderColumns, ids_by_email, recompute_order_totals, upsert_contacts, upsert_orders
from .errors import BadInput, NotFound, Refused
from .membership import contacts_changed
from .store import write

BATCH = 5000  # rows per transaction
MAX_LISTED = 10_000  # bad rows kept for the report; beyond that they are only counted


@dataclass
class BadRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    kind: str  # contacts | orders
    file: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_rows_not_listed: int = 0
    list_name: str | None = None
    added_to_list: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    strict: bool = False
    written: bool = True
    seconds: float = 0.0

    def bad(self, line: int, reason: str) -> None:
        self.skipped += 1
        if len(self.bad_rows) < MAX_LISTED:
            self.bad_rows.append(BadRow(line, reason))
        else:
            self.bad_rows_not_listed += 1

    def as_dict(self) -> dict:
        d = asdict(self)
        d["seconds"] = round(self.seconds, 2)
        return d


class _Rollback(Exception):
    """Undo a strict import that met a bad row."""


# ---- reading the file ---------------------------------------------------------

def scan(path: str) -> int:
    """Check that PATH is UTF-8 before anything is written; return its number of lines."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, offset, last = 0, 0, b"\n"
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path} is a directory; give a CSV file") from None
    except OSError as e:
        raise BadInput(f"{path}: cannot be read ({e.strerror})") from None
    with f:
        while chunk := f.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                line = lines + chunk.count(b"\n", 0, max(e.start, 0)) + 1
                raise BadInput(
                    f"{path} is not UTF-8 (line {line}, byte {offset + e.start + 1}); "
                    "save it as CSV UTF-8 and import again"
                ) from None
            lines += chunk.count(b"\n")
            offset += len(chunk)
            last = chunk[-1:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise BadInput(f"{path} is not UTF-8 (it ends inside a character); save it as CSV UTF-8") from None
    if offset == 0:
        raise BadInput(f"{path} is empty; a CSV file starts with a header row")
    return lines + (last != b"\n")


def _delimiter(header_line: str) -> str:
    """`,` or `;`, whichever the header uses (outside quotes)."""
    counts = {",": 0, ";": 0}
    quoted = False
    for ch in header_line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    return ";" if counts[";"] > counts[","] else ","


@contextmanager
def open_csv(path: str) -> Iterator[tuple[list[str], Iterator[tuple[int, list[str]]]]]:
    """(header, rows as (line, values)); blank lines are passed over."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        delimiter = _delimiter(f.readline())
        f.seek(0)  # utf-8-sig skips the BOM again
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise BadInput(f"{path} is empty; a CSV file starts with a header row") from None

        def rows():
            line = reader.line_num + 1
            try:
                for values in reader:
                    if any(v.strip() for v in values):
                        yield line, values
                    line = reader.line_num + 1
            except csv.Error as e:
                raise BadInput(f"{path}, line {line}: not valid CSV ({e})") from None

        yield header, rows()


def _batches(rows, size):
    batch = []
    for item in rows:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---- the two kinds of file -------------------------------------------------------

class _ContactsFile:
    def __init__(self, header, cfg, actor, list_name):
        self.columns = ContactColumns(header, cfg.custom_fields)
        self.actor = actor
        self.today = clock.today(cfg.tz)
        self.list_name = list_name
        self.segment = _existing_list(list_name) if list_name else None

    def prepare(self, good, report):
        return [row for _, row in good]

    def write(self, rows, report):
        from . import segments

        done = upsert_contacts(rows, self.columns, self.today)
        report.created += done.created
        report.updated += done.updated
        ids = list(done.ids.values())
        contacts_changed(ids, self.actor, reason="import")
        if self.list_name:
            if self.segment is None:
                self.segment = segments.create_list(self.list_name, self.actor)
            report.added_to_list += segments.add_contacts(self.segment, ids, self.actor, "import", audit_it=False)


class _OrdersFile:
    segment = None

    def __init__(self, header, cfg, actor):
        self.columns = OrderColumns(header)
        self.actor = actor

    def prepare(self, good, report):
        """Orders whose email is a contact, as (order_id, contact id, cents, currency, date)."""
        ids = ids_by_email(list({row.email_norm for _, row in good}))
        out = []
        for line, row in good:
            cid = ids.get(row.email_norm)
            if cid is None:
                report.bad(line, f'no contact has the email "{row.email_norm}"; import the contacts first')
            else:
                out.append((row.order_id, cid, row.total, row.currency, row.created_at))
        return out

    def write(self, orders, report):
        created, touched = upsert_orders(orders)
        report.created += created
        report.updated += len(orders) - created
        recompute_order_totals(touched)
        contacts_changed(touched, self.actor, reason="import")


def _existing_list(name: str):
    """The list to import into, or None when it is to be created; refuses a dynamic segment."""
    from . import segments

    try:
        seg = segments.resolve(name)
    except NotFound:
        return None
    if seg.kind != "list":
        raise Refused(
            f'"{seg.name}" is a dynamic segment: its members follow its condition. '
            "Import into a list instead (--list NAME creates it)."
        )
    return seg


# ---- the import -------------------------------------------------------------------------

Progress = Callable[[int, int], None]  # (lines done, lines in the file)


def import_contacts(path: str, actor: Actor, *, list_name: str | None = None, strict: bool = False,
                    cfg=None, progress: Progress | None = None, batch_size: int = BATCH) -> ImportReport:
    """Upsert the contacts of a CSV file by email; optionally add them to the list LIST_NAME."""
    cfg = cfg or config_mod.current()
    report = ImportReport("contacts", str(path), list_name=list_name, strict=strict)
    return _run(path, lambda header: _ContactsFile(header, cfg, actor, list_name), report, actor,
                progress, batch_size)


def import_orders(path: str, actor: Actor, *, strict: bool = False, cfg=None,
                  progress: Progress | None = None, batch_size: int = BATCH) -> ImportReport:
    """Upsert the orders of a CSV file by order_id, and the order totals of their contacts."""
    cfg = cfg or config_mod.current()
    report = ImportReport("orders", str(path), strict=strict)
    return _run(path, lambda header: _OrdersFile(header, cfg, actor), report, actor, progress, batch_size)


def _run(path, kind, report: ImportReport, actor: Actor, progress, batch_size) -> ImportReport:
    started = time.monotonic()
    total_lines = scan(path)
    with open_csv(path) as (header, rows):
        target = kind(header)
        report.ignored_columns = getattr(target.columns, "ignored", [])
        try:
            # strict: one transaction, undone at the end if any row was bad
            with write() if report.strict else nullcontext():
                for batch in _batches(rows, batch_size):
                    good = []
                    for line, values in batch:
                        try:
                            good.append((line, target.columns.normalise(values)))
                        except BadValue as e:
                            report.bad(line, str(e))
                    report.rows += len(batch)
                    prepared = target.prepare(good, report)
                    # once a strict import has a bad row, the rest is only checked
                    if prepared and not (report.strict and report.skipped):
                        with write():
                            target.write(prepared, report)
                    if progress:
                        progress(batch[-1][0], total_lines)
                if progress:
                    progress(total_lines, total_lines)
                if report.strict and report.skipped:
                    raise _Rollback
                with write():
                    audit.record(actor, "import", target.segment, **_audit_details(report))
        except _Rollback:
            report.written = False
            report.created = report.updated = report.added_to_list = 0
    report.bad_rows.sort(key=lambda b: b.line)
    report.seconds = time.monotonic() - started
    return report


def _audit_details(report: ImportReport) -> dict:
    details = {
        "kind": report.kind,
        "file": os.path.basename(report.file),
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "skipped": report.skipped,
    }
    if report.list_name:
        details["list"] = report.list_name
        details["added_to_list"] = report.added_to_list
    return details
