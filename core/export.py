"""Contacts export: a segment's members into a new list, or into a CSV file."""
from __future__ import annotations

import csv
import io
import os
import tempfile
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

from . import audit, config as config_mod, segments
from .audit import Actor
from .bulk import wrote_many
from .errors import BadInput
from .store import backend, database, write
from .store.models import utcnow
from .bulk import without_gc_pauses
from .text import norm

CONTACT_FIELDS = (
    "email", "phone", "first_name", "last_name", "gender", "birth_date", "country", "region",
    "city", "language", "status", "created_at", "interests",
)


def to_list(seg, name: str, actor: Actor):
    """A new list holding SEG's current members; it keeps them when SEG changes."""
    db = database.obj
    p = db.param
    with write():
        target = segments.create_list(
            name, actor, origin={"type": "export", "source_id": seg.id, "source_name": seg.name}
        )
        now = utcnow()
        db.execute_sql(
            f"INSERT INTO membership (segment_id, contact_id, added_at) "
            f"SELECT {p}, contact_id, {p} FROM membership WHERE segment_id = {p}",
            (target.id, now, seg.id),
        )
        n = segments.set_member_count(target)
        segments.born_with(target, n)
        wrote_many("membership", n)
        audit.record(actor, "export", seg, to_list=target.name, to_list_id=target.id, members=n)
    return target, n


def columns_for(seg, fields: list[str] | None, cfg=None) -> list[str]:
    """The CSV's columns: the fields asked for, else every contact field and
    every custom field (declared, or present among the members)."""
    cfg = cfg or config_mod.current()
    if fields:
        out = []
        for f in fields:
            f = f.strip()
            key = f[7:] if f.lower().startswith("custom.") else f
            if f in CONTACT_FIELDS:
                out.append(f)
            elif f.lower().startswith("custom.") or key.lower() in cfg.custom_fields:
                out.append(f"custom.{key.lower()}")
            else:
                raise BadInput(
                    f'"{f}" is not a contact field; choose from {", ".join(CONTACT_FIELDS)} or custom.KEY'
                )
        return out
    return list(CONTACT_FIELDS) + [f"custom.{k}" for k in sorted(_keys_present(seg) | set(cfg.custom_fields))]


def _keys_present(seg) -> set[str]:
    """The custom keys that some member has: each key of the store (its index gives
    them), kept if one of its values belongs to a member."""
    db = database.obj
    p = db.param
    keys = [k for (k,) in db.execute_sql("SELECT DISTINCT key FROM custom_value").fetchall()]
    member = (f"SELECT 1 FROM custom_value cv JOIN membership m ON m.contact_id = cv.contact_id "
              f"WHERE cv.key = {p} AND m.segment_id = {p}")
    return {k for k in keys if db.execute_sql(member + " LIMIT 1", (k, seg.id)).fetchone()}


MAX_JOINED = 16  # custom columns fetched by joins; more are merged from one ordered query


def write_csv(seg, out: io.TextIOBase, fields: list[str] | None = None, cfg=None) -> int:
    """Stream SEG's members as CSV into OUT, in contact id order; returns the number of rows.

    One query reads the members with their fields (and a few custom fields by
    joins) in the order of the membership's primary key. The database writes
    the CSV itself wherever it can — PostgreSQL by COPY, SQLite a line per
    member in SQL — so that a member costs Python one string, not a value per
    field; the quoting is the csv module's (a field holding a comma, a quote
    or a line break is quoted, quotes doubled; nothing is written for none).
    """
    cols = columns_for(seg, fields, cfg)
    csv.writer(out, lineterminator="\n").writerow(cols)
    db = database.obj
    p = db.param
    keys = [c[7:] for c in cols if c.startswith("custom.")]
    joined = keys if len(keys) <= MAX_JOINED else []
    values, joins, params = [], [], []
    for c in cols:
        if c.startswith("custom."):
            if joined:
                n = joined.index(c[7:])
                values.append(f"cv{n}.text")
                joins.append(f"LEFT JOIN custom_value cv{n} ON cv{n}.contact_id = c.id AND cv{n}.key = {p}")
                params.append(c[7:])
            else:
                values.append("NULL")
        else:
            values.append(f"c.{c}")
    members = (f"FROM membership m JOIN contact c ON c.id = m.contact_id {' '.join(joins)} "
               f"WHERE m.segment_id = {p} ORDER BY m.contact_id")
    params.append(seg.id)
    with without_gc_pauses():
        if keys and not joined or len(cols) == 1:  # the general way: row by row through the csv module
            return _through_python(seg, out, cols, values, members, params, merged=bool(keys) and not joined)
        if backend() == "sqlite":
            return _lines_from_sqlite(out, cols, values, members, params)
        return _copy_from_postgres(out, cols, values, members, params, many=_many(seg))


def _through_python(seg, out, cols, values, members, params, *, merged: bool) -> int:
    db = database.obj
    writer = csv.writer(out, lineterminator="\n")
    rows = 0
    # the contact id rides along, for merging many custom columns
    with _reading(db, "segmenta_export") as cursor:
        cursor.execute(f"SELECT {', '.join(values)}{', c.id' if merged else ''} {members}", params)
        stream = iter(cursor)
        if "interests" in cols:
            stream = _sorted_interests(stream, cols.index("interests"))
        if merged:
            stream = _merged_custom(stream, seg, cols)
        for chunk in iter(lambda: list(islice(stream, 5000)), []):
            writer.writerows(chunk)
            rows += len(chunk)
    return rows


def _csv_field(text: str) -> str:
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if ("," in text or '"' in text or "\n" in text) else text


def _lines_from_sqlite(out, cols, values, members, params) -> int:
    """Each member's line made by SQLite's printf, the fields as they are; a line
    whose fields need quoting (a comma, a quote or a line break in one of them:
    more commas than columns, or any quote or line break) is made again through
    the csv module. The interests (kept as given) are put in order here: the
    SELECT gives the line before them, them, and the line after them."""
    at = cols.index("interests") if "interests" in cols else None
    pieces = [values] if at is None else [values[:at], values[at + 1:]]
    lines = [f"printf('{','.join(['%s'] * len(vs))}', {', '.join(vs)})" if vs else "''" for vs in pieces]
    select = lines[0] if at is None else f"{lines[0]}, c.interests, {lines[1]}"
    commas = [max(len(vs) - 1, 0) for vs in pieces]
    db = database.obj
    rows = 0
    memo: dict = {None: "", "": ""}  # the interests as given → their field, in order
    with _reading(db, "segmenta_export") as cursor:
        cursor.execute(f"SELECT {select}, c.id {members}", params)
        for chunk in iter(lambda: cursor.fetchmany(5000), []):
            parts = []
            for row in chunk:
                if at is None:
                    line = row[0]
                    plain = line.count(",") == commas[0] and '"' not in line and "\n" not in line
                else:
                    first, shown, rest = row[0], row[1], row[2]
                    field = memo.get(shown)
                    if field is None:
                        field = memo[shown] = _csv_field(";".join(sorted(shown.split(";"), key=norm)))
                    line = (first + "," if at else "") + field + ("," + rest if pieces[1] else "")
                    plain = (first.count(",") == commas[0] and rest.count(",") == commas[1]
                             and '"' not in first and '"' not in rest and "\n" not in first and "\n" not in rest)
                parts.append(line if plain else _quoted_line(cols, values, members, params, row[-1]))
            parts.append("")
            out.write("\n".join(parts))
            rows += len(chunk)
    return rows


def _quoted_line(cols, values, members, params, contact_id) -> str:
    """One member's line through the csv module (a field of theirs needs quoting)."""
    db = database.obj
    joins = members[members.index(" JOIN contact c"):members.index(" WHERE ")]
    row = db.execute_sql(f"SELECT {', '.join(values)} FROM membership m{joins} WHERE c.id = {db.param} LIMIT 1",
                         (*params[:-1], contact_id)).fetchone()
    if "interests" in cols:
        row = next(_sorted_interests([row], cols.index("interests")))
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(row)  # "\n" is what makes a line break quoted
    return text.getvalue()[:-1]


def _many(seg) -> bool:
    """Are SEG's members a quarter of the contacts or more? The contacts as
    last analysed, or, never analysed, as many as the largest id says."""
    from .bulk import _table_size

    contacts = _table_size("contact") or database.obj.execute_sql(
        "SELECT COALESCE(max(id), 0) FROM contact").fetchone()[0]
    return seg.member_count * 4 >= contacts


def _copy_from_postgres(out, cols, values, members, params, *, many: bool = False) -> int:
    """COPY … TO STDOUT: PostgreSQL writes the CSV. Empty text is written as nothing
    (NULLIF), as the csv module does; the interests come from the interest rows in
    their order, as ever: looked up for each member, or, for MANY members, every
    contact's joined in one pass over the interest table in contact order (a
    merge join with the members: 2.4 s against 3.3 s for 880,000 of them; for
    a few it would read the whole table)."""
    import codecs

    from psycopg import sql as pgsql

    db = database.obj
    conn = db.connection()
    exprs = []
    shown = "(SELECT string_agg(i.display, ';' ORDER BY i.value) FROM interest i WHERE i.contact_id = c.id)"
    for c, v in zip(cols, values):
        if c == "interests":
            exprs.append("ia.shown" if many else shown)
        elif c in ("birth_date", "created_at"):
            exprs.append(v)
        else:
            exprs.append(f"NULLIF({v}, '')")
    if many and "interests" in cols:
        at = members.index(" WHERE ")
        members = (members[:at] + " LEFT JOIN (SELECT contact_id, string_agg(display, ';' ORDER BY value) AS shown "
                   "FROM interest GROUP BY contact_id) ia ON ia.contact_id = c.id" + members[at:])
    query = f"SELECT {', '.join(exprs)} {members}".replace("%s", "{}")
    query = pgsql.SQL(query).format(*[pgsql.Literal(x) for x in params]).as_string(conn)
    decoder = codecs.getincrementaldecoder("utf-8")()
    with db.atomic():
        cursor = conn.cursor()
        with cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv)") as copy:
            for data in copy:
                out.write(decoder.decode(bytes(data)))
        out.write(decoder.decode(b"", final=True))
        return cursor.rowcount


@contextmanager
def _reading(db, name: str):
    """A cursor that streams: SQLite steps as rows are read; PostgreSQL needs a
    server-side cursor (inside a transaction), else psycopg reads every row first."""
    if backend() == "sqlite":
        cursor = db.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
        return
    with db.atomic():
        with db.connection().cursor(name=name) as cursor:
            cursor.itersize = 5000
            yield cursor


def _sorted_interests(rows, at: int):
    """The interests by their comparison key, as the interest table orders them
    (the contact keeps them as given, joined with ";")."""
    memo: dict = {}  # as given → in order, or "" when it is in order already
    for row in rows:
        shown = row[at]
        if shown:
            ordered = memo.get(shown)
            if ordered is None:
                ordered = ";".join(sorted(shown.split(";"), key=norm))
                ordered = memo[shown] = "" if ordered == shown else ordered
            if ordered:
                row = (*row[:at], ordered, *row[at + 1:])
        yield row


def _merged_custom(rows, seg, cols: list[str]):
    """Many custom columns: the members' custom values come from one more query in
    the same contact order and are merged in. ROWS end with the contact id."""
    db = database.obj
    at = {c[7:]: i for i, c in enumerate(cols) if c.startswith("custom.")}
    with _reading(db, "segmenta_export_custom") as values:
        values.execute("SELECT cv.contact_id, cv.key, cv.text FROM membership m JOIN custom_value cv "
                       f"ON cv.contact_id = m.contact_id WHERE m.segment_id = {db.param} ORDER BY m.contact_id",
                       (seg.id,))
        pending = next(values, None)
        for row in rows:
            cid, row = row[-1], list(row[:-1])
            while pending is not None and pending[0] <= cid:
                if pending[0] == cid and pending[1] in at:
                    row[at[pending[1]]] = pending[2]
                pending = next(values, None)
            yield row


def to_csv(seg, path: str | os.PathLike, actor: Actor, fields: list[str] | None = None, cfg=None) -> int:
    """Write the CSV next to PATH and move it into place, so a crash leaves no half file."""
    target = Path(path)
    if target.is_dir():
        raise BadInput(f"{target} is a folder; give a file name like {target / 'members.csv'}")
    if not target.parent.exists():
        raise BadInput(f"the folder {target.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".segmenta-", suffix=".csv", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            rows = write_csv(seg, fh, fields, cfg)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with write():
        audit.record(actor, "export", seg, csv=str(target), rows=rows)
    return rows
