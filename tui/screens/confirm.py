"""Empty a list; delete a segment (and, if asked, its contacts)."""
from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import Checkbox, Input, Label, Static

from core import segments
from core.text import norm

from ..format import number, plural
from ..work import Done
from .dialog import OperationDialog


class EmptyDialog(OperationDialog):
    ok_label = "Empty"
    ok_variant = "warning"

    @property
    def title_text(self) -> str:
        return f'Empty "{self.segment["name"]}"?'

    def compose_form(self) -> ComposeResult:
        yield Static(f"Every one of its {number(self.segment['members'])} members is removed from it; "
                     "the contacts stay in the database.")

    def job(self):
        from core.delete import empty

        seg_id, actor = self.segment["id"], self.actor

        def run():
            seg = segments.resolve(seg_id)
            n = empty(seg, actor)
            return Done(f'Emptied "{seg.name}": {plural(n, "member")} removed; the contacts stay.', select=seg.id)
        return run


class DeleteDialog(OperationDialog):
    ok_label = "Delete"
    ok_variant = "error"

    @property
    def title_text(self) -> str:
        return f'Delete "{self.segment["name"]}"?'

    def compose_form(self) -> ComposeResult:
        yield Static("The segment goes; its contacts stay in the database.", id="delete-what")
        yield Checkbox("Delete contacts also", id="with-contacts")
        yield Label("Type the segment's name to confirm", id="confirm-label")
        yield Input(placeholder=self.segment["name"], id="confirm-name")

    def on_mount(self) -> None:
        self._show_confirm(False)

    @property
    def with_contacts(self) -> bool:
        return self.query_one("#with-contacts", Checkbox).value

    @on(Checkbox.Changed, "#with-contacts")
    def _toggled(self, event: Checkbox.Changed) -> None:
        self._show_confirm(event.value)

    def _show_confirm(self, on: bool) -> None:
        self.query_one("#confirm-label").display = on
        self.query_one("#confirm-name").display = on
        self.query_one("#delete-what", Static).update(
            Text(f"This also deletes its {number(self.segment['members'])} member contacts from the database, "
                 "with their orders and memberships in every segment. It cannot be undone.", style="bold red")
            if on else "The segment goes; its contacts stay in the database.")

    def job(self):
        from core.delete import delete

        with_contacts = self.with_contacts
        typed = self.query_one("#confirm-name", Input).value
        # The typed name is the explicit confirmation core asks for.
        confirmed = with_contacts and norm(typed) == norm(self.segment["name"])
        seg_id, actor = self.segment["id"], self.actor

        def run():
            result = delete(segments.resolve(seg_id), actor, with_contacts=with_contacts, confirmed=confirmed)
            tail = (f'; deleted {plural(result["contacts_deleted"], "contact")}.' if with_contacts
                    else "; the contacts stay.")
            return Done(f'Deleted "{result["segment"]}" ({plural(result["members"], "member")}){tail}')
        return run
