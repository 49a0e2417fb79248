"""The strip above the footer that shows a long operation's progress."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar

from ..format import plain


class BusyBar(Horizontal):
    """Hidden until a refresh or an import runs; the rest of the screen stays usable."""

    def compose(self) -> ComposeResult:
        yield Label("", id="busy-label")
        yield ProgressBar(total=None, show_eta=False, id="busy-progress")

    task: str | None = None  # what runs now

    def on_mount(self) -> None:
        self.display = False

    def start(self, text: str, total: float | None = None) -> None:
        self.task = text
        self.query_one("#busy-label", Label).update(plain(text))
        bar = self.query_one("#busy-progress", ProgressBar)
        bar.update(total=total, progress=0)
        self.display = True

    def advance(self, done: float, total: float) -> None:
        self.query_one("#busy-progress", ProgressBar).update(total=total, progress=done)

    def stop(self) -> None:
        self.task = None
        self.display = False
