"""The condition editor: live checking with the language's caret message, and a
live member count computed in a worker, debounced."""
from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from core.errors import ConditionError

from ..format import number
from ..work import Outcome, call_core

EXAMPLE = "gender = female and region in (Kyiv, Lviv) and orders.total > 300"


def caret_window(err: ConditionError, width: int) -> str:
    """The language's three-line message, cropped around the caret when the
    condition is wider than the editor (so the caret stays under its place)."""
    message = str(err)
    if err.column is None or width <= 10:
        return message
    line = err.text.replace("\n", " ").replace("\r", " ")
    if len(line) <= width:
        return message
    start = max(0, min(err.column - 1 - width // 2, len(line) - width))
    shown = ("…" if start else "") + line[start + (1 if start else 0): start + width]
    return f"{shown}\n{' ' * (err.column - 1 - start)}^\n{err.what}"


class ConditionEditor(Vertical):
    """An input for a condition, its check, and how many contacts it selects."""

    DEBOUNCE = 0.3  # seconds of quiet typing before the check runs

    class Checked(Message):
        def __init__(self, text: str, outcome: Outcome):
            super().__init__()
            self.text = text
            self.outcome = outcome

    def __init__(self, text: str = "", **kwargs):
        super().__init__(**kwargs)
        self.initial = text
        self._timer: Timer | None = None
        self.valid: bool | None = None  # of the text last checked
        self.count: int | None = None

    def compose(self) -> ComposeResult:
        yield Input(value=self.initial, placeholder=f"e.g. {EXAMPLE}", id="condition-input")
        yield Static("", id="condition-message")
        yield Static("", id="condition-count")

    def on_mount(self) -> None:
        self._show_waiting()
        if self.initial:
            self.schedule_check()

    @property
    def value(self) -> str:
        return self.query_one("#condition-input", Input).value

    @on(Input.Changed, "#condition-input")
    def _changed(self, event: Input.Changed) -> None:
        self.valid = self.count = None
        self.schedule_check()

    def schedule_check(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.DEBOUNCE > 0:
            self._timer = self.set_timer(self.DEBOUNCE, self.check_now)
        else:  # no debounce: check on the next turn of the event loop
            self.call_later(self.check_now)

    def check_now(self) -> None:
        text = self.value
        if not text.strip():
            self._show_waiting()
            return
        self.query_one("#condition-count", Static).update(Text("counting…", style="dim"))
        self._check(text)

    @work(thread=True, exclusive=True, group="condition-check")
    def _check(self, text: str) -> None:
        from core.preview import preview

        cfg = self.app.cfg
        outcome = call_core(lambda: preview(text, samples=0, cfg=cfg))
        if not get_current_worker().is_cancelled:
            self.post_message(self.Checked(text, outcome))

    def on_condition_editor_checked(self, message: Checked) -> None:
        message.stop()
        if message.text != self.value:
            return  # typed on since: a newer check is on its way
        out = message.outcome
        note = self.query_one("#condition-message", Static)
        count = self.query_one("#condition-count", Static)
        self.valid = out.ok
        if out.ok:
            self.count = out.value["count"]
            note.update(Text(f"✓ {out.value['condition']}", style="green"))
            count.update(Text(f"{number(out.value['count'])} contacts match "
                              f"({number(out.value['active'])} active)", style="bold"))
        else:
            self.count = None
            text = (caret_window(out.exception, max(note.size.width, 20))
                    if isinstance(out.exception, ConditionError) else out.error)
            note.update(Text(text, style="red", no_wrap=False))
            count.update(Text("no count until the condition is right", style="dim"))

    def _show_waiting(self) -> None:
        self.query_one("#condition-message", Static).update(
            Text("Type a condition; it is checked as you type.", style="dim"))
        self.query_one("#condition-count", Static).update("")
