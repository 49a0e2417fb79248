"""The split dialog: evenly into N, percentages or counts; seed; stratify field."""
from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, RadioButton, RadioSet, Select

from core import segments
from core.errors import BadInput
from core.split import STRATIFY_FIELDS, SplitPlan, parse_counts, parse_sizes, split

from ..format import number
from ..work import Done
from .dialog import OperationDialog

MODES = {  # radio id: (choice, label of the amount, example)
    "mode-parts": ("Evenly into N parts", "Parts", "2"),
    "mode-percents": ("Percentages (a sum under 100 leaves a hold-out)", "Percentages", "50/30/20"),
    "mode-counts": ("Counts", "Counts", "100,200"),
}


def whole_number(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadInput(f'{what} is a whole number, not "{text}"') from None


class SplitDialog(OperationDialog):
    ok_label = "Split"

    @property
    def title_text(self) -> str:
        return f'Split "{self.segment["name"]}" for an A/B test'

    def compose_form(self) -> ComposeResult:
        yield Label(Text(f"{number(self.segment['members'])} members; the parts become new lists.", style="dim"))
        with RadioSet(id="mode"):
            for i, (key, (label, _, _)) in enumerate(MODES.items()):
                yield RadioButton(label, value=i == 0, id=key)
        with Horizontal(classes="field-row"):
            yield Label("Parts", classes="field-label", id="amount-label")
            yield Input(value="2", id="amount")
        with Horizontal(classes="field-row"):
            yield Label("Seed", classes="field-label")
            yield Input(placeholder="random (recorded); give one to repeat a split", id="seed")
        with Horizontal(classes="field-row"):
            yield Label("Stratify by", classes="field-label")
            yield Select([(f, f) for f in STRATIFY_FIELDS], prompt="no field", id="by")
        with Horizontal(classes="field-row"):
            yield Label("Names", classes="field-label")
            yield Input(placeholder=f"{self.segment['name']} — A, {self.segment['name']} — B, …", id="names")

    @property
    def mode(self) -> str:
        pressed = self.query_one("#mode", RadioSet).pressed_button
        return pressed.id if pressed else "mode-parts"

    @on(RadioSet.Changed, "#mode")
    def _mode(self) -> None:
        _, label, example = MODES[self.mode]
        self.query_one("#amount-label", Label).update(label)
        amount = self.query_one("#amount", Input)
        amount.value = ""
        amount.placeholder = example

    def plan(self) -> SplitPlan:
        text = self.query_one("#amount", Input).value
        if self.mode == "mode-parts":
            parts = whole_number(text, "the number of parts")
            if parts is None:
                raise BadInput("give the number of parts, like 2")
            return SplitPlan(parts=parts)
        if not text.strip():
            raise BadInput(f"give the sizes, like {MODES[self.mode][2]}")
        if self.mode == "mode-percents":
            return SplitPlan(percents=parse_sizes(text))
        return SplitPlan(counts=parse_counts(text))

    def job(self):
        plan = self.plan()
        seed = whole_number(self.query_one("#seed", Input).value, "the seed")
        by = self.query_one("#by", Select).value
        by = None if by is Select.NULL else by
        names_text = self.query_one("#names", Input).value
        names = [n for n in names_text.split(",")] if names_text.strip() else None
        seg_id, actor = self.segment["id"], self.actor

        def run():
            result = split(segments.resolve(seg_id), plan, actor, seed=seed, by=by, names=names)
            parts = ", ".join(f'"{p["name"]}" ({p["members"]:,})' for p in result.parts)
            held = f"; held out {result.held_out:,}" if result.held_out else ""
            return Done(f'Split "{result.source}" with seed {result.seed}: {parts}{held}.',
                        select=result.parts[0]["id"], warning=result.warning)
        return run
