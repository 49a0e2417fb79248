"""Contacts on the command line: import, contact, demo."""
from __future__ import annotations

import sys
from contextlib import contextmanager

import click

from ..errors import BadInput
from .main import emit

SHOWN_BAD_ROWS = 20


@contextmanager
def _progress(label: str):
    """A progress bar on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
        yield None
        return
    state = {"bar": None, "done": 0}

    def update(done: int, total: int) -> None:
        if state["bar"] is None:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr).__enter__()
        state["bar"].update(max(done - state["done"], 0))
        state["done"] = done

    try:
        yield update
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)


def _report_text(d: dict) -> str:
    noun = "contacts" if d["kind"] == "contacts" else "orders"
    if not d["written"]:
        head = f'Nothing was imported from {d["file"]}: {d["skipped"]:,} bad rows of {d["rows"]:,} (--strict).'
    else:
        head = (f'Imported {noun} from {d["file"]}: {d["created"]:,} created, {d["updated"]:,} updated, '
                f'{d["skipped"]:,} skipped ({d["rows"]:,} rows, {d["seconds"]:.1f} s).')
    out = [head]
    if d["list_name"] and d["written"]:
        out.append(f'Added {d["added_to_list"]:,} contacts to the list "{d["list_name"]}".')
    if d["ignored_columns"]:
        out.append("Ignored columns: " + ", ".join(d["ignored_columns"]) + ".")
    if d["bad_rows"]:
        out.append("Bad rows:")
        out += [f'  line {b["line"]}: {b["reason"]}' for b in d["bad_rows"][:SHOWN_BAD_ROWS]]
        more = d["skipped"] - min(len(d["bad_rows"]), SHOWN_BAD_ROWS)
        if more:
            listed = "lists them" if not d["bad_rows_not_listed"] else f'lists the first {len(d["bad_rows"]):,}'
            out.append(f"  … and {more:,} more (--json {listed})")
    return "\n".join(out)


def _finish(report, as_json: bool) -> None:
    data = report.as_dict()
    emit(data, as_json, _report_text)
    if not report.written:
        raise BadInput(f"{report.skipped:,} bad rows in {report.file}; nothing was imported (--strict)")


@click.group("import")
def import_group():
    """Import contacts or orders from a CSV file (UTF-8, comma or semicolon)."""


@import_group.command("contacts")
@click.argument("file", type=click.Path())
@click.option("--list", "list_name", metavar="NAME", help="Also add the imported contacts to this list (created if missing).")
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad (exit status 2).")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def import_contacts_cmd(app, file, list_name, strict, as_json):
    """Create or update contacts from FILE, by email.

    The header names the columns: email (required), phone, first_name,
    last_name, gender, birth_date, country, region, city, language, status,
    created_at, interests (separated by ; or |); any other column is a
    custom field. Bad rows are reported by line; the good rows go in.

    \b
    Example:
      segmenta import contacts people.csv --list "Spring fair"
    """
    from ..imports import import_contacts

    cfg = app.open()
    with _progress("Importing contacts") as progress:
        report = import_contacts(file, app.actor, list_name=list_name, strict=strict, cfg=cfg, progress=progress)
    _finish(report, as_json)


@import_group.command("orders")
@click.argument("file", type=click.Path())
@click.option("--strict", is_flag=True, help="Import nothing if any row is bad (exit status 2).")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def import_orders_cmd(app, file, strict, as_json):
    """Create or update orders from FILE, by order_id.

    Columns: order_id, email (of an existing contact), total (like 299.70),
    currency, created_at (the order's date, YYYY-MM-DD).

    \b
    Example:
      segmenta import orders orders.csv
    """
    from ..imports import import_orders

    cfg = app.open()
    with _progress("Importing orders") as progress:
        report = import_orders(file, app.actor, strict=strict, cfg=cfg, progress=progress)
    _finish(report, as_json)


def _contact_text(d: dict) -> str:
    fields = ("email", "phone", "first_name", "last_name", "gender", "birth_date", "country", "region",
              "city", "language", "status", "created_at")
    rows = [(f, d[f]) for f in fields]
    rows.append(("interests", ", ".join(d["interests"])))
    rows += [(f"custom.{k}", v) for k, v in d["custom"].items()]
    o = d["orders_summary"]
    rows.append(("orders", f'{o["count"]:,}, total {o["total"]}'
                 + (f', max {o["max"]}, first {o["first_date"]}, last {o["last_date"]}' if o["count"] else "")))
    pad = max(len(k) for k, _ in rows)
    out = [f"{k.ljust(pad)}  {'' if v is None else v}".rstrip() for k, v in rows]
    if d["orders"]:
        shown = len(d["orders"])
        out += ["", "Orders:" if shown == o["count"] else f'Orders (the latest {shown} of {o["count"]:,}):']
        out += [f'  {x["date"]}  {x["order_id"]}  {x["total"]} {x["currency"] or ""}'.rstrip() for x in d["orders"]]
    out += ["", "Segments: " + (", ".join(f'{s["name"]} (#{s["id"]}, {s["kind"]})' for s in d["segments"]) or "none")]
    return "\n".join(out)


@click.command("contact")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def contact_cmd(app, email, as_json):
    """Show one contact: fields, custom fields, interests, orders, segments.

    \b
    Example:
      segmenta contact olena.koval@example.com
    """
    from ..contacts import describe, find

    cfg = app.open()
    emit(describe(find(email), cfg.custom_fields), as_json, _contact_text)


@click.command("demo")
@click.option("--contacts", "n", type=click.IntRange(min=1), default=10_000, show_default=True, help="How many contacts.")
@click.option("--seed", type=int, default=1, show_default=True, help="The same seed gives the same data.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database has contacts already.")
@click.option("--json", "as_json", is_flag=True, help="Report as JSON.")
@click.pass_obj
def demo_cmd(app, n, seed, if_empty, as_json):
    """Fill the database with demo contacts, orders and example segments.

    \b
    Example:
      segmenta --db sqlite:///demo.db demo --contacts 100000
    """
    from .. import demo

    cfg = app.open()
    with _progress("Generating demo data") as progress:
        report = demo.run(n, seed=seed, if_empty=if_empty, actor=app.actor, cfg=cfg, progress=progress)

    def human(d):
        if d["skipped"]:
            return "The database has contacts already; no demo data was added (--if-empty)."
        out = [f'Demo data: {d["contacts"]:,} contacts, {d["orders"]:,} orders (seed {d["seed"]}, {d["seconds"]:.1f} s).']
        if d["segments"]:
            out.append("Segments:")
            out += [f'  {s["name"]} ({s["kind"]}): {s["members"]:,} members'
                    + (f' — {s["condition"]}' if s["condition"] else "") for s in d["segments"]]
        return "\n".join(out)

    emit(report.as_dict(), as_json, human)


def register(cli: click.Group) -> None:
    cli.add_command(import_group)
    cli.add_command(contact_cmd)
    cli.add_command(demo_cmd)
