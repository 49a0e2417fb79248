"""The members view: a segment's members, paged from the database as you scroll."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label
from textual.worker import get_current_worker

from ..format import number, plain
from ..keys import MEMBERS_KEYS, TABLE_KEYS
from ..sources import MemberPages
from ..work import CoreDone, call_core


class MembersTable(DataTable):
    BINDINGS = TABLE_KEYS


class MembersScreen(Screen):
    BINDINGS = MEMBERS_KEYS
    LOOKAHEAD = 50  # rows: the next page is read when the view comes this close to the end

    def __init__(self, segment: dict, page_size: int = 200):
        super().__init__()
        self.segment = segment
        self.source = MemberPages(segment["id"], page_size)
        self.loading = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label(plain(f'Members of "{self.segment["name"]}" — {number(self.segment["members"])}'),
                    id="members-title")
        yield MembersTable(id="members", cursor_type="row", zebra_stripes=True)
        yield Label("", id="members-status")
        yield Footer()

    @property
    def table(self) -> DataTable:
        return self.query_one("#members", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns(*(f.replace("_", " ") for f in self.source.fields))
        self.watch(self.table, "scroll_y", self._maybe_more, init=False)
        self.table.focus()
        self.load_more()

    def load_more(self) -> None:
        if self.loading or self.source.exhausted:
            return
        self.loading = True
        self.query_one("#members-status", Label).update("loading…")
        self._fetch()

    @work(thread=True, exclusive=True, group="members")
    def _fetch(self) -> None:
        outcome = call_core(self.source.next_page)
        if not get_current_worker().is_cancelled:
            self.post_message(CoreDone("members-page", outcome))

    def on_core_done(self, message: CoreDone) -> None:
        message.stop()
        self.loading = False
        if not message.outcome.ok:
            self.notify(message.outcome.error, title="Members", severity="error")
            return
        for cid, *values in message.outcome.value:
            self.table.add_row(*(plain(v) for v in values), key=str(cid))
        shown = self.table.row_count
        tail = "all shown" if self.source.exhausted else "more load as you scroll"
        self.query_one("#members-status", Label).update(
            f"{number(shown)} of {number(max(self.segment['members'], shown))} shown; {tail}")
        self._maybe_more()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._maybe_more()

    def _maybe_more(self, *_) -> None:
        table = self.table
        seen_to = max(int(table.scroll_y) + table.size.height, table.cursor_row + 1)
        if table.row_count - seen_to < self.LOOKAHEAD:
            self.load_more()

    def action_close(self) -> None:
        self.app.pop_screen()
