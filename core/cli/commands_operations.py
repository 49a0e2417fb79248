"""Segment operations on the command line: search, show, copy, split, export,
empty, delete, add, remove, audit. Each calls core once; rules live there."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from .. import audit as audit_mod, segments
from ..errors import BadInput, Refused
from .main import emit
from .render import table


def _when(v) -> str:
    return "" if v is None else (v.isoformat(sep=" ", timespec="minutes") if hasattr(v, "hour") else str(v))


@click.command()
@click.argument("text", required=False)
@click.option("--kind", type=click.Choice(["list", "dynamic"]), help="Only lists or only dynamic segments.")
@click.option("--sort", type=click.Choice(["newest", "name", "size"]), default="newest", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def search(app, text, kind, sort, as_json):
    """Find segments by a part of the name, an id, or a word of their condition.

    \b
    Example:
      segmenta search kyiv
      segmenta search region --kind dynamic --sort size
    """
    from ..search import search as run

    app.open()
    rows = run(text, kind=kind, sort=sort)

    def human(rows):
        if not rows:
            return "No segments match." if text or kind else "No segments yet. Create one: segmenta create list NAME"
        shown = [{**r, "id": f"#{r['id']}", "members": f"{r['members']:,}", "last_refresh": _when(r["last_refresh"]),
                  "condition": (r["condition"] or "")[:60]} for r in rows]
        return table(shown, ["id", "name", "kind", "members", "last_refresh", "condition"],
                     {"last_refresh": "last refresh"})

    emit(rows, as_json, human)


@click.command()
@click.argument("segment")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def show(app, segment, as_json):
    """Everything about one segment: condition, counts, schedule, refreshes, origin, channels, history.

    \b
    Example:
      segmenta show "Kyiv women"
      segmenta show '#12' --json
    """
    from ..show import show as run

    cfg = app.open()
    data = run(segments.resolve(segment), cfg)

    def human(d):
        lines = [f'{d["name"]}  (#{d["id"]}, {d["kind"]})']
        if d["condition"]:
            lines.append(f'  condition    {d["condition"]}')
        lines.append(f'  members      {d["members"]:,} ({d["active"]:,} active)')
        if d["schedule"]:
            lines.append(f'  schedule     {d["schedule"]}')
        if d["last_refresh"]:
            r = d["last_refresh"]
            lines.append(f'  last refresh {_when(r["at"])} ({r["trigger"]}): {r["total"]:,} members, '
                         f'{r["joined"]:,} joined, {r["left"]:,} left')
        if d["last_error"]:
            lines.append(f'  last error   {_when(d["last_error"]["at"])}: {d["last_error"]["error"]}')
        if d["origin"]:
            lines.append(f'  origin       {d["origin"]["text"]}')
        if d["channels"]:
            lines.append("  channels     " + ", ".join(
                c["channel"] + (f' ({c["status"]})' if c.get("status") and c["status"] != "ok" else "")
                for c in d["channels"]))
        if d["history"]:
            lines.append("  size history " + " → ".join(f'{h["size"]:,}' for h in d["history"][-10:]))
        lines.append(f'  created      {_when(d["created_at"])} by {d["created_by"] or "?"}')
        return "\n".join(lines)

    emit(data, as_json, human)


@click.command()
@click.argument("segment")
@click.option("--name", default=None, help='Name of the copy (default "Copy of NAME").')
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def copy(app, segment, name, as_json):
    """Copy a dynamic segment: same condition and schedule.

    \b
    Example:
      segmenta copy "Kyiv women" --name "Kyiv women 2"
    """
    from ..copy import copy as run

    cfg = app.open()
    new, result = run(segments.resolve(segment), app.actor, name=name, cfg=cfg)
    emit({"id": new.id, "name": new.name, "members": result.total}, as_json,
         lambda d: f'Created "{d["name"]}" (#{d["id"]}): {d["members"]:,} members.')


@click.command()
@click.argument("segment")
@click.option("--parts", type=int, default=None, help="Distribute evenly into N parts.")
@click.option("--sizes", default=None, help="Percentages, like 50/30/20 (a sum under 100 leaves a hold-out).")
@click.option("--counts", default=None, help="Exact sizes, like 100,200.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Makes the split repeatable (recorded).")
@click.option("--by", "by", default=None, help="Stratify by a field (gender, status, country, region, city, language).")
@click.option("--names", default=None, help="Names of the parts, comma-separated (default NAME — A, NAME — B, …).")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def split(app, segment, parts, sizes, counts, seed, by, names, as_json):
    """Split a segment into new lists for an A/B test.

    \b
    Example:
      segmenta split "Kyiv women" --parts 2 --seed 42
      segmenta split "Kyiv women" --sizes 45/45 --by gender
    """
    from ..split import SplitPlan, parse_counts, parse_sizes, split as run

    if sum(x is not None for x in (parts, sizes, counts)) != 1:
        raise BadInput("choose one of --parts N, --sizes 50/30/20 or --counts 100,200")
    plan = SplitPlan(
        parts=parts,
        percents=parse_sizes(sizes) if sizes else None,
        counts=parse_counts(counts) if counts else None,
    )
    app.open()
    result = run(segments.resolve(segment), plan, app.actor, seed=seed, by=by,
                 names=names.split(",") if names else None)
    if result.warning:
        click.echo(f"Warning: {result.warning}", err=True)

    def human(d):
        lines = [f'Split "{d["source"]}" with seed {d["seed"]}:']
        lines += [f'  {p["name"]} (#{p["id"]}): {p["members"]:,}' for p in d["parts"]]
        if d["held_out"]:
            lines.append(f'  held out: {d["held_out"]:,}')
        return "\n".join(lines)

    emit(result.as_dict(), as_json, human)


@click.command()
@click.argument("segment")
@click.option("--to-list", "to_list", default=None, metavar="NAME", help="Into a new list NAME.")
@click.option("--csv", "csv_path", default=None, metavar="FILE", help="Into a CSV file (- for standard output).")
@click.option("--fields", default=None, help="CSV columns, comma-separated (default: every contact field).")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def export(app, segment, to_list, csv_path, fields, as_json):
    """Export a segment's members to a new list or to a CSV file.

    \b
    Example:
      segmenta export "Kyiv women" --to-list "Kyiv women, March"
      segmenta export "Kyiv women" --csv kyiv.csv --fields email,first_name,custom.tier
    """
    from .. import export as ex

    if (to_list is None) == (csv_path is None):
        raise BadInput("choose one of --to-list NAME or --csv FILE")
    if fields and to_list:
        raise BadInput("--fields goes with --csv")
    cfg = app.open()
    seg = segments.resolve(segment)
    field_list = [f for f in fields.split(",") if f.strip()] if fields else None
    if to_list:
        target, n = ex.to_list(seg, to_list, app.actor)
        emit({"list": target.name, "id": target.id, "members": n}, as_json,
             lambda d: f'Exported {d["members"]:,} members of "{seg.name}" to the list "{d["list"]}" (#{d["id"]}).')
    elif csv_path == "-":
        ex.write_csv(seg, sys.stdout, field_list, cfg)
    else:
        rows = ex.to_csv(seg, csv_path, app.actor, field_list, cfg)
        emit({"csv": str(Path(csv_path).resolve()), "rows": rows}, as_json,
             lambda d: f'Wrote {d["rows"]:,} members of "{seg.name}" to {d["csv"]}.')


@click.command()
@click.argument("segment")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def empty(app, segment, as_json):
    """Remove every member of a list (the contacts stay).

    \b
    Example:
      segmenta empty "Newsletter test"
    """
    from ..delete import empty as run

    app.open()
    seg = segments.resolve(segment)
    n = run(seg, app.actor)
    emit({"segment": seg.name, "removed": n}, as_json, lambda d: f'Emptied "{d["segment"]}": {d["removed"]:,} members removed; the contacts stay.')


@click.command()
@click.argument("segment")
@click.option("--with-contacts", is_flag=True, help="Also delete every member contact, with orders (irreversible).")
@click.option("--yes", is_flag=True, help="Do not ask; needed when there is no terminal.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def delete(app, segment, with_contacts, yes, as_json):
    """Delete a segment; the contacts stay unless --with-contacts.

    \b
    Example:
      segmenta delete "Old test"
      segmenta delete "Spam traps" --with-contacts --yes
    """
    from ..delete import delete as run, referring_segments

    app.open()
    seg = segments.resolve(segment)
    if not yes:
        if not sys.stdin.isatty():
            raise Refused("deleting needs a confirmation: run it on a terminal, or add --yes")
        users = referring_segments(seg)
        if not users:  # let core give the refusal with the names
            what = (f'This deletes "{seg.name}" AND its {seg.member_count:,} member contacts with their orders. '
                    "It cannot be undone." if with_contacts else f'This deletes "{seg.name}"; its contacts stay.')
            click.echo(what, err=True)
            typed = click.prompt("Type the segment's name to confirm", default="", show_default=False, err=True)
            if segments.norm(typed) != segments.norm(seg.name):
                raise Refused("the name did not match; nothing was deleted")
    result = run(seg, app.actor, with_contacts=with_contacts, confirmed=True)
    emit(result, as_json, lambda d: f'Deleted "{d["segment"]}" ({d["members"]:,} members)'
         + (f'; deleted {d["contacts_deleted"]:,} contacts.' if with_contacts else "; the contacts stay."))


def _emails(emails, file) -> list[str]:
    out = list(emails)
    if file:
        try:
            text = Path(file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"cannot read {file}: {e}") from None
        rows = list(csv.reader(text.splitlines()))
        if rows and any(h.strip().lower() == "email" for h in rows[0]):
            col = [h.strip().lower() for h in rows[0]].index("email")
            out += [r[col] for r in rows[1:] if len(r) > col and r[col].strip()]
        else:
            out += [r[0] for r in rows if r and r[0].strip()]
    if not out:
        raise BadInput("give one or more emails, or --file F")
    return out


def _add_or_remove(app, segment, emails, file, create, as_json, adding):
    app.open()
    seg = segments.resolve(segment)
    segments.require_list(seg, "added to by hand" if adding else "removed from by hand")
    found, missing = segments.contact_ids_for_emails(_emails(emails, file))
    created = 0
    if adding and create and missing:
        from ..contacts import create_minimal

        new = create_minimal(missing, app.actor)
        found.update(new)
        created, missing = len(new), []
    if adding:
        n = segments.add_contacts(seg, found.values(), app.actor)
    else:
        n = segments.remove_contacts(seg, found.values(), app.actor)
    verb = "added" if adding else "removed"
    data = {"segment": seg.name, verb: n, "unknown": missing, "created": created,
            "members": seg.member_count}

    def human(d):
        lines = [f'{verb.capitalize()} {n:,} contact{"s" if n != 1 else ""} '
                 f'{"to" if adding else "from"} "{seg.name}" (now {seg.member_count:,} members).']
        if created:
            lines.append(f"Created {created:,} new contacts.")
        if missing:
            lines.append(f"Unknown, not {verb}: {', '.join(missing[:20])}" + (" …" if len(missing) > 20 else "")
                         + (" (add --create to create them)" if adding else ""))
        return "\n".join(lines)

    emit(data, as_json, human)


@click.command()
@click.argument("segment")
@click.argument("emails", nargs=-1)
@click.option("--file", type=click.Path(dir_okay=False), default=None, help="Emails, one per line or a CSV with an email column.")
@click.option("--create", is_flag=True, help="Create contacts for unknown emails.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def add(app, segment, emails, file, create, as_json):
    """Add contacts to a list by email.

    \b
    Example:
      segmenta add VIP ann@example.com bob@example.com
      segmenta add VIP --file vip.csv --create
    """
    _add_or_remove(app, segment, emails, file, create, as_json, adding=True)


@click.command()
@click.argument("segment")
@click.argument("emails", nargs=-1)
@click.option("--file", type=click.Path(dir_okay=False), default=None, help="Emails, one per line or a CSV with an email column.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def remove(app, segment, emails, file, as_json):
    """Remove contacts from a list by email (the contacts stay).

    \b
    Example:
      segmenta remove VIP ann@example.com
    """
    _add_or_remove(app, segment, emails, file, False, as_json, adding=False)


@click.command()
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--segment", default=None, help="Only entries about this segment.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def audit(app, limit, segment, as_json):
    """Read the audit trail: who changed what, from where, when.

    \b
    Example:
      segmenta audit --limit 20
    """
    app.open()
    seg_id = segments.resolve(segment).id if segment else None
    rows = audit_mod.read(limit, seg_id)

    def human(rows):
        shown = [{**r, "details": ", ".join(f"{k}={v}" for k, v in r["details"].items())[:80]} for r in rows]
        return table(shown, ["at", "actor", "face", "operation", "segment", "details"]) if rows else "No entries."

    emit(rows, as_json, human)


def register(cli: click.Group) -> None:
    for cmd in (search, show, copy, split, export, empty, delete, add, remove, audit):
        cli.add_command(cmd)
