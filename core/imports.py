"""CSV import of contacts and orders (operations.md, "Contacts").

A file is streamed: checked first (UTF-8, no NUL, no quote left open, no
field too long: a bad file writes nothing), then read a batch at a time; each
batch is normalised, staged and upserted in set-based SQL (core.contacts)
together with the re-evaluation of the dynamic segments for exactly the
contacts it touched, and a transaction commits every COMMIT_EVERY rows with
the import's audit entry brought up to date ("incomplete" until the end).
Memory stays constant whatever the size of the file.

Bad rows are reported with their line (the header is line 1) and reason, and
the good rows still go in. With `strict`, the whole import is one
transaction that is rolled back if any row is bad.
"""
from __future__ import annotations

import codecs
import csv
import gc
import io
import os
import pickle
import subprocess
import sys
import time
from collections import deque
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from itertools import chain, islice
from typing import Callable, Iterator

from . import audit, clock, config as config_mod
from .audit import Actor
from .bulk import (DeferredIndexes, Statistics, begin_bulk, bulk_memory, commit_without_waiting,
                   keys_checked_by_the_load, loading, without_gc_pauses)
from .contacts import BadValue, ContactColumns, OrderColumns, OrdersBatch, rows_from_blob, upsert_contacts
from .errors import BadInput, NotFound, Refused
from .membership import contacts_changed_in
from .store import backend, database, write

BATCH = 10_000  # rows read, checked and upserted at a time: memory stays flat
# Rows per transaction. Each commit writes every index page the batch touched
# (an email index is touched all over), so fewer, larger commits write far
# less; a commit of 100,000 contacts holds the write lock for a few seconds.
COMMIT_EVERY = 100_000
# PostgreSQL takes orders (small rows) 50,000 at a time: each batch is a dozen
# statements planned, two scratch tables analysed and three emptied, and with
# 10,000 that was a tenth of importing 2.6M orders (58.9 s against 52.9 s; the
# peak memory 85 MB). Contacts gain nothing from it, nor does SQLite, whose
# statements cost little to start: both keep BATCH.
ORDERS_BATCH_POSTGRES = 50_000
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
    """Check PATH before anything is written; return its number of lines.

    It must be UTF-8 and hold no NUL (which no database keeps). A quote left
    open or a field longer than the CSV reader takes would otherwise be found
    only when the rows before it were in: an odd number of quotes, or a line
    longer than that, has the file read as CSV once first, to the line at fault.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, offset, last = 0, 0, b"\n"
    quotes, longest, carry = 0, 0, 0
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
            nul = chunk.find(b"\x00")
            if nul >= 0:
                line = lines + chunk.count(b"\n", 0, nul) + 1
                raise BadInput(f"{path}, line {line}: holds a NUL character (U+0000), which cannot be stored; "
                               "remove it and import again")
            quotes += chunk.count(b'"')
            parts = chunk.split(b"\n")
            longest = max(longest, carry + len(parts[0]), *map(len, parts[1:]))
            carry = carry + len(parts[0]) if len(parts) == 1 else len(parts[-1])
            lines += len(parts) - 1
            offset += len(chunk)
            last = chunk[-1:]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise BadInput(f"{path} is not UTF-8 (it ends inside a character); save it as CSV UTF-8") from None
    if offset == 0:
        raise BadInput(f"{path} is empty; a CSV file starts with a header row")
    if quotes % 2 or longest > csv.field_size_limit():
        _read_through(path)
    return lines + (last != b"\n")


def _read_through(path: str) -> None:
    """Read PATH as CSV once, to the end: BadInput at the line at fault (a field
    too long). A quote left open takes the rest of the file into the last row,
    which the reader accepts; read alone and strictly, that row says so."""
    start = 1
    for _, start, _, _ in _read_checked(path, _nothing, BATCH):
        pass
    with open(path, encoding="utf-8-sig", newline="") as f:
        delimiter = _delimiter(f.readline())
        f.seek(0)
        tail = "".join(islice(f, start - 1, None))
    try:
        for _ in csv.reader(io.StringIO(tail), delimiter=delimiter, strict=True):
            pass
    except csv.Error as e:
        if "unexpected end of data" in str(e):
            raise BadInput(f'{path}, line {start}: a quoted value is never closed (a " is missing); '
                           "close it and import again") from None


def _nothing(values, line) -> None:
    return None


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
def open_csv(path: str) -> Iterator[tuple[list[str], Iterator[list[str]]]]:
    """(header, the csv reader of the rows after it); `_read_checked` reads them."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        delimiter = _delimiter(f.readline())
        f.seek(0)  # utf-8-sig skips the BOM again
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise BadInput(f"{path} is empty; a CSV file starts with a header row") from None
        yield header, reader


def _read_checked(path: str, normalise, batch_size: int):
    """(rows, last line, good rows, bad rows as (line, reason)) for each batch
    of PATH's rows, checked by NORMALISE(values, line), BATCH_SIZE at a time.
    Blank lines are passed over; lines count from the header's, 1.

    One loop, not a pipeline of generators (rows → batches → checked): each
    layer cost a resumption and a tuple per row, a quarter of the reading.
    """
    with open_csv(path) as (_, reader):
        good, bad, count, last = [], [], 0, 0
        line = reader.line_num + 1
        try:
            for values in reader:
                # blank: no value but spaces (the first value decides most rows alone)
                if values and (values[0].strip() or any(v.strip() for v in values)):
                    try:
                        good.append(normalise(values, line))
                    except BadValue as e:
                        bad.append((line, str(e)))
                    count += 1
                    last = line
                    if count == batch_size:
                        yield count, last, good, bad
                        good, bad, count = [], [], 0
                line = reader.line_num + 1
        except csv.Error as e:
            raise BadInput(f"{path}, line {line}: not valid CSV ({e})") from None
        if count:
            yield count, last, good, bad


# A file this long is read and checked in a process of its own while this one
# writes: the csv module and the normalising are a third of an import's time,
# and they no longer wait for the database (nor it for them), on a second core.
READ_AHEAD_LINES = 50_000


@contextmanager
def _read_ahead(path: str, target, batch_size: int, total_lines: int):
    """`_read_checked` of PATH, made by a reader process for a long file.

    The reader is a `python -c` of its own (not multiprocessing, whose spawn
    runs the caller's main script again: a script without a __main__ guard
    would import twice), started with this interpreter and environment. It
    sends one checked batch at a time through a pipe and waits while the pipe
    is full: at most a batch in the pipe and one being read. If this process
    dies (killed mid-import), the reader's next send fails and it ends.
    """
    if total_lines < READ_AHEAD_LINES:
        yield _prepared(_read_checked(path, target.columns.normalise, batch_size), target.columns, target.prepare)
        return
    receive, reader = _start_reader(path, target.recipe, batch_size, target.prepare)
    pending: deque = deque()  # batches that came while the rows of an earlier one were awaited

    def received():
        try:
            return receive.recv()
        except EOFError:
            raise RuntimeError("the import's reader process ended without a word; "
                               "run again with SEGMENTA_DEBUG=1 to see its error") from None

    def tell(line: bytes) -> None:
        try:
            reader.stdin.write(line)
            reader.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError("the import's reader process ended before the writer was done") from None

    def fetch(number: int) -> list:
        """The rows of batch NUMBER, which came without them, asked of the reader."""
        tell(b"r%d\n" % number)
        while True:  # the reader may be sending a batch first: keep it for later
            item = received()
            if isinstance(item, tuple) and len(item) == 3 and item[0] == _ROWS:
                if item[1] != number:
                    raise RuntimeError(f"the import's reader sent the rows of batch {item[1]}, not {number}")
                return rows_from_blob(item[2])
            pending.append(item)

    def batches():
        while True:
            item = pending.popleft() if pending else received()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            good = item[2]
            if getattr(good, "_rows", ()) is None:
                good._fetch = partial(fetch, good.number)
                yield item
                tell(b"d%d\n" % good.number)  # written: the reader may forget its rows
            else:
                yield item

    try:
        yield batches()
    finally:
        receive.close()
        try:
            reader.stdin.close()  # the reader, done, waits for this
        except OSError:
            pass
        try:
            reader.wait(5)
        except subprocess.TimeoutExpired:
            reader.kill()
            reader.wait()


def _prepared(batches, columns, prepare):
    """BATCHES with their good rows made ready to go straight in where they are read
    (PostgreSQL: `columns.prepare(rows, PREPARE)`, PreparedContacts or PreparedOrders);
    or as they are, with PREPARE None."""
    if prepare is None:
        yield from batches
        return
    for number, (count, last, good, bad) in enumerate(batches):
        if good:
            good = columns.prepare(good, prepare)
            good.number = number
        yield count, last, good, bad


def _start_reader(path: str, recipe, batch_size: int, prepare=None):
    """Start the reader process; (the receiving end of its pipe, the process)."""
    from multiprocessing.connection import Connection

    fd_read, fd_write = os.pipe()
    code = "import sys; from core.imports import _reader_main; _reader_main(int(sys.argv[1]))"
    try:
        reader = subprocess.Popen([sys.executable, "-c", code, str(fd_write)], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, pass_fds=(fd_write,),
                                  env=os.environ | {"PYTHONPATH": _package_root()})
    finally:
        os.close(fd_write)
    # stdin stays open: the writer asks for the rows of a prepared batch through it
    pickle.dump((path, recipe, batch_size, prepare), reader.stdin)
    reader.stdin.flush()
    return Connection(fd_read, writable=False), reader


def _package_root() -> str:
    """Where the `core` package is, first on the reader's path (it may run from anywhere)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rest = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + rest if rest else "")


def _reader_main(fd: int) -> None:
    """The reader process's entry: its orders on stdin, its batches into FD."""
    from multiprocessing.connection import Connection

    path, recipe, batch_size, prepare = pickle.load(sys.stdin.buffer)
    send = Connection(fd, readable=False)
    try:
        _reader(send, path, recipe, batch_size, prepare, _Asked(sys.stdin.fileno()))
    finally:
        try:
            send.close()
        except OSError:
            pass


_ROWS = "rows"  # the reader's answer to the writer's asking for a batch's rows: (_ROWS, number, blob)


class _Asked:
    """What the writer says of the prepared batches, a line each on FD: `r<number>`,
    send its rows; `d<number>`, written (its rows will not be asked for)."""

    def __init__(self, fd: int):
        self.fd, self.text, self.closed = fd, b"", False

    def read(self, *, wait: bool) -> list[tuple[str, int]]:
        """What was said since, as (r or d, number); WAIT: until something is, or the writer is done."""
        import select

        while not self.closed and (wait or select.select([self.fd], [], [], 0)[0]):
            chunk = os.read(self.fd, 4096)
            self.closed = not chunk
            self.text += chunk
            if b"\n" in self.text:
                break
        *lines, self.text = self.text.split(b"\n")
        return [(line[:1].decode(), int(line[1:])) for line in lines]


def _reader(send, path: str, recipe, batch_size: int, prepare=None, asked: _Asked | None = None) -> None:
    """Each checked batch of PATH into SEND (prepared, with PREPARE: see `_prepared`), then None.
    RECIPE: the columns' class and its arguments (their readers do not pickle).

    A prepared batch goes without its rows, kept here until the writer says it
    wrote the batch (how many batches are under way depends on their size and
    the pipe's), until the writer first asks for the rows of one: then those, and
    from then on every batch with its rows (a file that has begun to upsert
    reads them every batch). Done, it answers what the writer asks until the
    writer is done (ASKED closed)."""
    from .contacts import rows_blob

    gc.disable()  # as in the writer: rows make no cycles
    make, *args = recipe
    columns = make(*args)
    kept: dict[int, list] = {}
    with_rows = asked is None

    def answer(said) -> None:
        nonlocal with_rows
        for what, number in said:
            if what == "d":
                kept.pop(number, None)
                continue
            with_rows = True
            send.send((_ROWS, number, rows_blob(kept.pop(number))))

    try:
        for item in _prepared(_read_checked(path, columns.normalise, batch_size), columns, prepare):
            if asked is not None:
                answer(asked.read(wait=False))
            good = item[2]
            if not with_rows and hasattr(good, "number"):
                kept[good.number] = good.rows()
                good._rows = None
            send.send(item)
        send.send(None)
        while asked is not None and not asked.closed:
            answer(asked.read(wait=True))
    except (BrokenPipeError, EOFError, KeyboardInterrupt):  # the writer is gone or stopping
        return
    except BadInput as e:
        send.send(BadInput(str(e)))
    except Exception as e:  # a bug: the writer raises it
        if os.environ.get("SEGMENTA_DEBUG"):
            import traceback

            traceback.print_exc()
        send.send(RuntimeError(f"the import's reader failed: {type(e).__name__}: {e}"))


# ---- the two kinds of file -------------------------------------------------------

class _ContactsFile:
    def __init__(self, header, cfg, actor, list_name):
        self.columns = ContactColumns(header, cfg.custom_fields)
        self.recipe = (ContactColumns, header, dict(cfg.custom_fields))  # the reader process makes its own
        self.statistics = Statistics("contact", "interest", "custom_value")
        self.actor = actor
        self.today = clock.today(cfg.tz)
        # PostgreSQL: each batch made ready to go straight in where it is read (PreparedContacts)
        self.prepare = self.today if backend() == "postgres" else None
        self.list_name = list_name
        self.segment = _existing_list(list_name) if list_name else None

    def write(self, rows, report, *, check_only: bool) -> None:
        from . import segments

        if check_only:  # a contact row is checked by reading it alone
            return
        done = upsert_contacts(rows, self.columns, self.today, want_ids=False)
        self.statistics.wrote(len(rows))
        report.created += done.created
        report.updated += done.updated
        contacts_changed_in(done.touched, self.actor, reason="import")
        if self.list_name:
            if self.segment is None:
                self.segment = segments.create_list(self.list_name, self.actor)
            ids = [i for (i,) in database.obj.execute_sql(done.touched()).fetchall()]
            report.added_to_list += segments.add_contacts(self.segment, ids, self.actor, "import", audit_it=False)


class _OrdersFile:
    segment = None
    indexes = None  # the load's DeferredIndexes, given by _run

    def __init__(self, header, cfg, actor):
        self.columns = OrderColumns(header)
        # PostgreSQL: each batch made ready to go straight in where it is read (PreparedOrders)
        self.prepare = True if backend() == "postgres" else None
        self.recipe = (OrderColumns, header)
        self.statistics = Statistics("order", "order_totals")
        self.actor = actor

    def write(self, rows, report, *, check_only: bool) -> None:
        """Orders whose email is a contact go in; the others are bad rows. Once a
        strict import has a bad row, the rest is only checked."""
        batch = OrdersBatch(rows, self.columns)
        for line, email in batch.unknown:
            report.bad(line, f'no contact has the email "{email}"; import the contacts first')
        if check_only or (report.strict and report.skipped):
            return
        done = batch.write()
        if not self.columns.all_new and self.indexes is not None:
            # an order existed: from now on the batches recompute their contacts'
            # totals from the orders, by contact, through the index dropped for the load
            self.indexes.build()
        self.statistics.wrote(len(rows))
        report.created += done.created
        report.updated += done.updated
        contacts_changed_in(done.touched, self.actor, reason="import", only_orders=True)


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
                    cfg=None, progress: Progress | None = None, batch_size: int = BATCH,
                    commit_every: int = COMMIT_EVERY) -> ImportReport:
    """Upsert the contacts of a CSV file by email; optionally add them to the list LIST_NAME."""
    cfg = cfg or config_mod.current()
    report = ImportReport("contacts", str(path), list_name=list_name, strict=strict)
    return _run(path, lambda header: _ContactsFile(header, cfg, actor, list_name), report, actor,
                progress, batch_size, commit_every)


def import_orders(path: str, actor: Actor, *, strict: bool = False, cfg=None,
                  progress: Progress | None = None, batch_size: int | None = None,
                  commit_every: int = COMMIT_EVERY) -> ImportReport:
    """Upsert the orders of a CSV file by order_id, and the order totals of their contacts."""
    cfg = cfg or config_mod.current()
    if batch_size is None:
        batch_size = ORDERS_BATCH_POSTGRES if backend() == "postgres" else BATCH
    report = ImportReport("orders", str(path), strict=strict)
    return _run(path, lambda header: _OrdersFile(header, cfg, actor), report, actor, progress, batch_size,
                commit_every)


def _run(path, kind, report: ImportReport, actor: Actor, progress, batch_size, commit_every) -> ImportReport:
    started = time.monotonic()
    total_lines = scan(path)
    with open_csv(path) as (header, _), without_gc_pauses(), bulk_memory(), keys_checked_by_the_load(), \
            ExitStack() as stack:
        target = kind(header)
        report.ignored_columns = getattr(target.columns, "ignored", [])
        indexes = DeferredIndexes(total_lines - 1, "contacts" if isinstance(target, _ContactsFile) else "orders")
        target.indexes = indexes
        try:
            # strict: one transaction, undone at the end if any row was bad
            with write() if report.strict else nullcontext():
                if indexes.may_drop():
                    stack.enter_context(loading())  # until they are built again (opens leave them to us)
                with write():
                    indexes.drop_if_worth_it()
                batches = stack.enter_context(_read_ahead(path, target, batch_size, total_lines))
                per_commit = max(1, commit_every // batch_size)
                entry = None  # the import's audit entry, written with its first transaction
                for first in batches:
                    with write():  # a transaction of up to PER_COMMIT batches (a savepoint when strict)
                        begin_bulk()
                        if not report.strict:
                            commit_without_waiting()  # the last transaction, below, waits for all
                        for count, last_line, good, bad in chain([first], islice(batches, per_commit - 1)):
                            for line, reason in bad:
                                report.bad(line, reason)
                            report.rows += count
                            if good:
                                target.write(good, report, check_only=report.strict and report.skipped > 0)
                            if progress:
                                progress(last_line, total_lines)
                        if not report.strict:  # what is committed says who did it, and that more may come
                            entry = _audit(entry, actor, target, report, incomplete=True)
                if progress:
                    progress(total_lines, total_lines)
                if report.strict and report.skipped:
                    raise _Rollback
                with write():
                    indexes.build()
                    _audit(entry, actor, target, report)
            target.statistics.finish()
        except _Rollback:
            report.written = False
            report.created = report.updated = report.added_to_list = 0
        except BaseException:
            _build_after_failure(indexes, report)
            raise
    report.bad_rows.sort(key=lambda b: b.line)
    report.seconds = time.monotonic() - started
    return report


def _build_after_failure(indexes: DeferredIndexes, report: ImportReport) -> None:
    """An import that failed half-way (not strict: its committed rows stay) builds
    the indexes it dropped; if even that fails, the next open of the database does."""
    if indexes.dropped and not report.strict:
        try:
            with write():
                indexes.build()
        except Exception:  # the failure being raised says more than this one
            pass


def _audit(entry, actor: Actor, target, report: ImportReport, *, incomplete: bool = False):
    """Write the import's audit entry, or bring it up to date; the entry."""
    details = _audit_details(report) | ({"incomplete": True} if incomplete else {})
    if entry is None:
        return audit.record(actor, "import", target.segment, **details)
    return audit.amend(entry, target.segment, **details)


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
