"""The search field above the segment table."""
from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class SearchBar(Input):
    """Filters the table as you type; Escape or Enter goes back to the table."""

    BINDINGS = [Binding("escape", "leave", "Back to the table", id="search.leave")]

    class Leave(Message):
        """The person is done searching."""

    def __init__(self, **kwargs):
        super().__init__(placeholder="/ search: a part of the name, #id, list or dynamic, a condition word",
                         **kwargs)

    def action_leave(self) -> None:
        self.post_message(self.Leave())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Leave())
