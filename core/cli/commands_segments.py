"""Dynamic segments on the command line: create, preview, refresh, members, why."""
from __future__ import annotations

import csv
import json
import sys

import click

from ..config import parse_duration
from ..errors import BadInput
from .main import emit
from .render import table

MEMBER_FIELDS = (
    "email", "phone", "first_name", "last_name", "gender", "birth_date", "country", "region",
    "city", "language", "status", "created_at", "interests",
)


def _duration(text):
    return None if text is None else parse_duration(text)


@click.group()
def create():
    """Create a list or a dynamic segment."""


@create.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def create_list_cmd(app, name, as_json):
    """Create an empty list NAME.

    \b
    Example:
      segmenta create list "Do not contact"
    """
    from .. import segments

    app.open()
    seg = segments.create_list(name, app.actor)
    emit({"id": seg.id, "name": seg.name, "kind": "list", "members": 0}, as_json,
         lambda d: f'Created list "{d["name"]}" (#{d["id"]}).')


@create.command("dynamic")
@click.argument("name")
@click.option("--where", "condition", required=True, help="The condition (see docs/conditions).")
@click.option("--every", default=None, metavar="EVERY", help="Refresh interval, like 30m or 2h (default: the config's).")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def create_dynamic_cmd(app, name, condition, every, as_json):
    """Create a dynamic segment NAME whose members match --where.

    \b
    Example:
      segmenta create dynamic "Kyiv women" --where "gender = female and region = Kyiv" --every 30m
    """
    from .. import segments

    cfg = app.open()
    seg, result = segments.create_dynamic(name, condition, app.actor, every=_duration(every), cfg=cfg)
    data = {"id": seg.id, "name": seg.name, "kind": "dynamic", "condition": seg.condition_text,
            "members": result.total}
    emit(data, as_json, lambda d: f'Created dynamic segment "{d["name"]}" (#{d["id"]}): {d["members"]:,} members.\n'
                                  f'  where {d["condition"]}')


@click.command()
@click.option("--where", "condition", required=True, help="The condition to try.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def preview(app, condition, as_json):
    """Count what a condition selects and show five members, saving nothing.

    \b
    Example:
      segmenta preview --where "birthday in next 7 days and status = active"
    """
    from ..preview import preview as run

    cfg = app.open()
    data = run(condition, cfg=cfg)

    def human(d):
        out = [f'{d["count"]:,} contacts ({d["active"]:,} active) match: {d["condition"]}']
        if d["samples"]:
            out += ["", table(d["samples"], list(d["samples"][0]))]
        return "\n".join(out)

    emit(data, as_json, human)


@click.command()
@click.argument("segment", required=False)
@click.option("--all", "all_", is_flag=True, help="Refresh every dynamic segment.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def refresh(app, segment, all_, as_json):
    """Recompute a dynamic segment's members now; reports total, joined, left.

    \b
    Example:
      segmenta refresh "Kyiv women"
      segmenta refresh --all --json
    """
    from .. import refresh as refresh_mod, segments

    cfg = app.open()
    if all_ == bool(segment):
        raise BadInput("name one segment, or use --all")
    if all_:
        results = refresh_mod.refresh_all(app.actor, cfg=cfg)
    else:
        results = [refresh_mod.refresh(segments.resolve(segment), app.actor, cfg=cfg)]
    data = [r.as_dict() for r in results]
    emit(data if all_ else data[0], as_json, lambda _: "\n".join(
        f'Refreshed "{r["segment"]}": {r["total"]:,} members, {r["joined"]:,} joined, {r["left"]:,} left.'
        for r in data) or "No dynamic segments to refresh.")


@click.command()
@click.argument("segment")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--fields", default=None, help="Comma-separated contact fields (default: email, names, city, status).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many members.")
@click.pass_obj
def members(app, segment, fmt, fields, limit):
    """Print a segment's members, streamed page by page (any size).

    \b
    Example:
      segmenta members "Kyiv women" --format csv --fields email,first_name > kyiv.csv
    """
    from .. import segments

    app.open()
    seg = segments.resolve(segment)
    cols = _fields(fields) if fields else ["email", "first_name", "last_name", "city", "status"]
    rows = ({c: _cell(v) for c, v in r.items()} for r in segments.iter_members(seg, cols, limit=limit))
    out = sys.stdout
    if fmt == "csv":
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow([r[c] for c in cols])
    elif fmt == "json":
        out.write("[")
        for i, r in enumerate(rows):
            out.write(("," if i else "") + "\n  " + json.dumps(r, ensure_ascii=False))
        out.write("\n]\n")
    else:
        batch = []
        for r in rows:
            batch.append(r)
            if len(batch) == 1000:
                out.write(table(batch, cols) + "\n")
                batch = []
        if batch or not seg.member_count:
            out.write(table(batch, cols) + "\n")


def _fields(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in cols if c not in MEMBER_FIELDS]
    if bad or not cols:
        raise BadInput(f"unknown field {', '.join(bad) or '(none)'}; choose from {', '.join(MEMBER_FIELDS)}")
    return cols


def _cell(v):
    return "" if v is None else (v.isoformat() if hasattr(v, "isoformat") else v)


@click.command()
@click.argument("email")
@click.argument("segment")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def why(app, email, segment, as_json):
    """Show each test of a dynamic segment's condition, true or false, for one contact.

    \b
    Example:
      segmenta why ann@example.com "Kyiv women"
    """
    from ..why import why as run

    cfg = app.open()
    data = run(email, segment, cfg=cfg)

    def human(d):
        head = f'{d["email"]} is {"IN" if d["member"] else "NOT in"} "{d["segment"]}" (condition: {"true" if d["matches"] else "false"})'
        lines = [head] + [
            f'  {"✓" if t["result"] else "✗"} {t["test"]}    [{t["value"]}]' for t in d["tests"]
        ]
        return "\n".join(lines)

    emit(data, as_json, human)


def register(cli: click.Group) -> None:
    for cmd in (create, preview, refresh, members, why):
        cli.add_command(cmd)
    from . import commands_operations, commands_scheduling

    commands_operations.register(cli)
    commands_scheduling.register(cli)
