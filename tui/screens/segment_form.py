"""New segment (a list, or a dynamic segment with the condition editor), edit a
condition, copy."""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, RadioButton, RadioSet

from core import segments
from core.config import parse_duration

from ..format import plural
from ..widgets.condition_editor import ConditionEditor
from ..work import Done
from .dialog import OperationDialog


def every_seconds(text: str) -> int | None:
    """The refresh interval typed, like 30m; empty means the config's default."""
    if not text.strip():
        return None
    return parse_duration(text)


class NewSegmentDialog(OperationDialog):
    title_text = "New segment"
    ok_label = "Create"

    def compose_form(self) -> ComposeResult:
        yield Label("Name")
        yield Input(placeholder="e.g. Kyiv women", id="name")
        with RadioSet(id="kind"):
            yield RadioButton("Dynamic segment (a condition)", value=True, id="kind-dynamic")
            yield RadioButton("List (members added by hand)", id="kind-list")
        with Vertical(id="dynamic-part"):
            yield Label("Condition")
            yield ConditionEditor(id="editor")
            with Horizontal(classes="field-row"):
                yield Label("Refresh every", classes="field-label")
                yield Input(placeholder="the config's default (e.g. 30m, 2h)", id="every")

    @property
    def dynamic(self) -> bool:
        return self.query_one("#kind-dynamic", RadioButton).value

    @on(RadioSet.Changed, "#kind")
    def _kind(self) -> None:
        self.query_one("#dynamic-part").display = self.dynamic

    def job(self):
        name = self.query_one("#name", Input).value
        actor = self.actor
        if not self.dynamic:
            def create_list():
                seg = segments.create_list(name, actor)
                return Done(f'Created the list "{seg.name}" (#{seg.id}).', select=seg.id)
            return create_list
        condition = self.query_one("#editor", ConditionEditor).value
        every = every_seconds(self.query_one("#every", Input).value)
        cfg = self.cfg

        def create_dynamic():
            seg, result = segments.create_dynamic(name, condition, actor, every=every, cfg=cfg)
            return Done(f'Created "{seg.name}" (#{seg.id}): {plural(result.total, "member")}.', select=seg.id)
        return create_dynamic


class EditConditionDialog(OperationDialog):
    ok_label = "Save"

    @property
    def title_text(self) -> str:
        return f'Edit the condition of "{self.segment["name"]}"'

    def compose_form(self) -> ComposeResult:
        yield Label("Condition")
        yield ConditionEditor(self.segment.get("condition") or "", id="editor")

    def job(self):
        condition = self.query_one("#editor", ConditionEditor).value
        seg_id, actor, cfg = self.segment["id"], self.actor, self.cfg

        def change():
            seg = segments.resolve(seg_id)
            result = segments.change_condition(seg, condition, actor, cfg=cfg)
            return Done(f'"{seg.name}" now selects {plural(result.total, "member")} '
                        f"(+{result.joined:,} joined, −{result.left:,} left).", select=seg.id)
        return change


class CopyDialog(OperationDialog):
    ok_label = "Copy"

    @property
    def title_text(self) -> str:
        return f'Copy "{self.segment["name"]}"'

    def compose_form(self) -> ComposeResult:
        yield Label("Name of the copy")
        yield Input(placeholder=f'Copy of {self.segment["name"]}', id="name")

    def job(self):
        from core.copy import copy

        name = self.query_one("#name", Input).value.strip() or None
        seg_id, actor, cfg = self.segment["id"], self.actor, self.cfg

        def run():
            new, result = copy(segments.resolve(seg_id), actor, name=name, cfg=cfg)
            return Done(f'Created "{new.name}" (#{new.id}): {plural(result.total, "member")}.', select=new.id)
        return run
