"""Export: a segment's members into a new list, or into a CSV file."""
from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, RadioButton, RadioSet

from core import segments
from core.errors import BadInput

from ..format import plural
from ..work import Done
from .dialog import OperationDialog


class ExportDialog(OperationDialog):
    ok_label = "Export"

    @property
    def title_text(self) -> str:
        return f'Export the members of "{self.segment["name"]}"'

    def compose_form(self) -> ComposeResult:
        with RadioSet(id="target"):
            yield RadioButton("To a new list", value=True, id="to-list")
            yield RadioButton("To a CSV file", id="to-csv")
        with Horizontal(classes="field-row"):
            yield Label("List name", classes="field-label", id="where-label")
            yield Input(placeholder=f'e.g. {self.segment["name"]}, frozen', id="where")
        with Horizontal(classes="field-row", id="fields-row"):
            yield Label("Columns", classes="field-label")
            yield Input(placeholder="every contact field (or e.g. email,first_name,custom.tier)", id="fields")

    def on_mount(self) -> None:
        self.query_one("#fields-row").display = False

    @property
    def to_csv(self) -> bool:
        return self.query_one("#to-csv", RadioButton).value

    @on(RadioSet.Changed, "#target")
    def _target(self) -> None:
        self.query_one("#where-label", Label).update("CSV path" if self.to_csv else "List name")
        self.query_one("#where", Input).placeholder = (
            f"e.g. {Path.cwd() / 'members.csv'}" if self.to_csv else f'e.g. {self.segment["name"]}, frozen')
        self.query_one("#fields-row").display = self.to_csv

    def job(self):
        from core import export

        where = self.query_one("#where", Input).value.strip()
        seg_id, actor, cfg = self.segment["id"], self.actor, self.cfg
        if not self.to_csv:
            def run_list():
                seg = segments.resolve(seg_id)
                target, n = export.to_list(seg, where, actor)
                return Done(f'Exported {plural(n, "member")} of "{seg.name}" to the list "{target.name}" (#{target.id}).',
                            select=target.id)
            return run_list
        if not where:
            raise BadInput("give the path of the CSV file to write, like members.csv")
        path = Path(where).expanduser()
        text = self.query_one("#fields", Input).value
        fields = [f for f in text.split(",") if f.strip()] or None

        def run_csv():
            seg = segments.resolve(seg_id)
            rows = export.to_csv(seg, path, actor, fields, cfg)
            return Done(f'Wrote {plural(rows, "member")} of "{seg.name}" to {path.resolve()}.', select=seg.id)
        return run_csv
