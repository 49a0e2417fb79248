"""The shape every operation dialog shares.

A dialog gathers what the operation needs, then runs ONE core call in a thread
worker. A refusal or a bad input comes back as core's message: it is shown in
the dialog, which stays open so the person can fix it, and as a notification.
Success dismisses the dialog with a `Done` for the main screen to report.
"""
from __future__ import annotations

from typing import Any, Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static
from textual.worker import get_current_worker

from core.errors import SegmentaError
from core.text import visible

from ..format import plain
from ..keys import DIALOG_KEYS
from ..work import CoreDone, Outcome, call_core


class OperationDialog(ModalScreen):
    BINDINGS = DIALOG_KEYS
    title_text = ""
    ok_label = "OK"
    ok_variant = "primary"

    def __init__(self, segment: dict | None = None):
        super().__init__()
        self.segment = segment  # the selected segment's row, as core.search gives it
        self.running = False

    # ---- for subclasses -------------------------------------------------------

    def compose_form(self) -> ComposeResult:
        yield from ()

    def job(self) -> Callable[[], Any]:
        """The core call to run, built from the form (raise SegmentaError for bad input)."""
        raise NotImplementedError

    def succeeded(self, value: Any) -> None:
        self.dismiss(value)

    # ---- the frame ------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(plain(self.title_text), classes="dialog-title")
            yield from self.compose_form()
            yield Static("", id="dialog-message")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.ok_label, variant=self.ok_variant, id="ok")
                yield Button("Cancel", id="cancel")

    @property
    def actor(self):
        return self.app.actor

    @property
    def cfg(self):
        return self.app.cfg

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        if self.running:
            self.notify("Still working; it cannot be stopped half-way.", severity="warning")
            return
        self.dismiss(None)

    def action_submit(self) -> None:
        if self.running:
            return
        try:
            job = self.job()
        except SegmentaError as e:
            self.show_error(str(e))
            return
        self.running = True
        self.query_one("#ok", Button).disabled = True
        self.say(Text("working…", style="dim"))
        self._run(job)

    @work(thread=True, exclusive=True, group="dialog")
    def _run(self, job: Callable[[], Any]) -> None:
        outcome = call_core(job)
        if not get_current_worker().is_cancelled:
            self.post_message(CoreDone("dialog", outcome))

    def on_core_done(self, message: CoreDone) -> None:
        if message.tag != "dialog":
            return
        message.stop()
        self.running = False
        self.query_one("#ok", Button).disabled = False
        out: Outcome = message.outcome
        if out.ok:
            self.say("")
            self.succeeded(out.value)
        else:
            self.show_error(out.error)

    def say(self, text: str | Text) -> None:
        self.query_one("#dialog-message", Static).update(plain(text))

    def show_error(self, text: str) -> None:
        # an error may quote what the user typed or a stored value: control
        # characters shown as escapes, as everywhere else (the line breaks of a
        # condition's caret message kept)
        self.say(Text(visible(text, keep="\n"), style="bold red"))
        self.notify(text, title=self.title_text, severity="error", timeout=8)
