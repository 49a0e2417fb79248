"""The keys screen (`?`): every key and what it does, from tui.keys."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Label

from ..keys import APP_KEYS, DIALOG_KEYS, SEGMENT_KEYS, key_label


class KeysScreen(ModalScreen):
    BINDINGS = DIALOG_KEYS + [("question_mark", "cancel", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Keys", classes="dialog-title")
            yield DataTable(id="keys", cursor_type="row", show_cursor=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="ok")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "what it does")
        for b in SEGMENT_KEYS:
            table.add_row(key_label(b), b.tooltip or b.description)
        table.add_row("Enter", "Open the selected segment's members")
        table.add_row("Ctrl+P", "The command palette: every operation by name")
        for b in APP_KEYS:
            table.add_row(key_label(b), b.tooltip or b.description)
        table.add_row("Esc / Ctrl+S", "In a dialog: cancel / do it")

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    action_submit = action_cancel
