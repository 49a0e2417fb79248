"""Contacts and a segment: add, remove, why; import a contacts CSV."""
from __future__ import annotations

import re
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from core import segments
from core.errors import BadInput

from ..format import plain, plural
from ..keys import DIALOG_KEYS
from ..work import Done
from .dialog import OperationDialog

_SEPARATORS = re.compile(r"[\s,;]+")


def emails_in(text: str) -> list[str]:
    emails = [e for e in _SEPARATORS.split(text) if e]
    if not emails:
        raise BadInput("type one or more emails, separated by spaces or commas")
    return emails


class EmailsDialog(OperationDialog):
    """Add contacts to a list, or remove them from it, by email."""

    def __init__(self, segment: dict, adding: bool):
        super().__init__(segment)
        self.adding = adding
        self.ok_label = "Add" if adding else "Remove"

    @property
    def title_text(self) -> str:
        verb = "Add contacts to" if self.adding else "Remove contacts from"
        return f'{verb} "{self.segment["name"]}"'

    def compose_form(self) -> ComposeResult:
        yield Label("Emails (separated by spaces or commas)")
        yield Input(placeholder="ann@example.com, bob@example.com", id="emails")

    def job(self):
        emails = emails_in(self.query_one("#emails", Input).value)
        seg_id, actor, adding = self.segment["id"], self.actor, self.adding

        def run():
            seg = segments.resolve(seg_id)
            found, missing = segments.contact_ids_for_emails(emails)
            if adding:
                n = segments.add_contacts(seg, found.values(), actor)
                text = f'Added {plural(n, "contact")} to "{seg.name}" (now {seg.member_count:,} members).'
            else:
                n = segments.remove_contacts(seg, found.values(), actor)
                text = f'Removed {plural(n, "contact")} from "{seg.name}" (now {seg.member_count:,} members).'
            warning = (f"No contact has these emails: {', '.join(missing[:10])}"
                       + (" …" if len(missing) > 10 else "") + (" (import them first)" if adding else "")
                       if missing else None)
            return Done(text, select=seg.id, warning=warning)
        return run


class WhyDialog(OperationDialog):
    """Each test of a dynamic segment's condition, true or false, for one contact."""

    ok_label = "Why?"

    @property
    def title_text(self) -> str:
        return f'Why is a contact in or out of "{self.segment["name"]}"?'

    def compose_form(self) -> ComposeResult:
        yield Label("Email")
        yield Input(placeholder="ann@example.com", id="email")
        yield Static("", id="why-result")

    def job(self):
        from core.why import why

        email = self.query_one("#email", Input).value.strip()
        if not email:
            raise BadInput("type the contact's email")
        seg_id, cfg = self.segment["id"], self.cfg
        return lambda: why(email, seg_id, cfg=cfg)

    def succeeded(self, d: dict) -> None:
        """Stays open: the answer is read here, and another email can be tried."""
        out = Text()
        out.append(f'{d["email"]} is ')
        out.append("IN" if d["member"] else "NOT in", style="bold green" if d["member"] else "bold red")
        out.append(f' "{d["segment"]}" (the condition is {"true" if d["matches"] else "false"} now)\n')
        for t in d["tests"]:
            out.append("  ✓ " if t["result"] else "  ✗ ", style="green" if t["result"] else "red")
            out.append(t["test"])
            out.append(f"    [{t['value']}]\n" if t["value"] not in (None, "") else "\n", style="dim")
        self.query_one("#why-result", Static).update(out)


class ImportDialog(OperationDialog):
    """Asks for the file; the main screen runs the import with a progress bar."""

    title_text = "Import a contacts CSV"
    ok_label = "Import"

    def compose_form(self) -> ComposeResult:
        yield Static(Text("Columns: email (required), the contact fields, custom fields. "
                          "Contacts are matched by email; bad rows are reported, good rows go in.", style="dim"))
        with Horizontal(classes="field-row"):
            yield Label("CSV path", classes="field-label")
            yield Input(placeholder=f"e.g. {Path.cwd() / 'contacts.csv'}", id="path")
        with Horizontal(classes="field-row"):
            yield Label("Into list", classes="field-label")
            yield Input(placeholder="none (a new list is created when the name is new)", id="list")

    def action_submit(self) -> None:
        path = self.query_one("#path", Input).value.strip()
        if not path:
            self.show_error("give the path of the CSV file to import")
            return
        self.dismiss((str(Path(path).expanduser()), self.query_one("#list", Input).value.strip() or None))


class ImportReportScreen(ModalScreen):
    """What an import did, and every bad row with its line and reason."""

    BINDINGS = DIALOG_KEYS

    def __init__(self, report):
        super().__init__()
        self.report = report

    def compose(self) -> ComposeResult:
        r = self.report
        with Vertical(classes="dialog wide"):
            yield Label(plain(f"Imported {Path(r.file).name}"), classes="dialog-title")
            summary = (f"{plural(r.rows, 'row')}: {r.created:,} created, {r.updated:,} updated, "
                       f"{r.skipped:,} bad")
            if r.list_name:
                summary += f"; {r.added_to_list:,} added to the list \"{r.list_name}\""
            if r.ignored_columns:
                summary += f"\nignored columns: {', '.join(r.ignored_columns)}"
            yield Static(plain(summary), id="import-summary")
            if r.bad_rows:
                more = f" (and {r.bad_rows_not_listed:,} more not listed)" if r.bad_rows_not_listed else ""
                yield Label(Text(f"Bad rows{more}", style="bold red"))
                yield DataTable(id="bad-rows", cursor_type="row")
            else:
                yield Label(Text("No bad rows.", style="green"))
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="ok")

    def on_mount(self) -> None:
        if self.report.bad_rows:
            table = self.query_one("#bad-rows", DataTable)
            table.add_columns("line", "reason")
            table.add_rows((b.line, plain(b.reason)) for b in self.report.bad_rows)

    @on(Button.Pressed, "#ok")
    def _close(self) -> None:
        self.dismiss(None)

    action_cancel = action_submit = _close
