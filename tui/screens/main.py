"""The main screen: the search field, the segment table, the detail pane, and
every operation on the selected segment from a key."""
from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header
from textual.worker import get_current_worker

from core import segments
from core.store.models import Segment

from ..format import plural
from ..keys import SEGMENT_KEYS
from ..sources import segment_rows
from ..widgets.busy_bar import BusyBar
from ..widgets.detail_pane import DetailPane
from ..widgets.search_bar import SearchBar
from ..widgets.segment_table import SegmentTable
from ..work import CoreDone, Done, call_core
from .confirm import DeleteDialog, EmptyDialog
from .contacts import EmailsDialog, ImportDialog, ImportReportScreen, WhyDialog
from .export import ExportDialog
from .members import MembersScreen
from .segment_form import CopyDialog, EditConditionDialog, NewSegmentDialog
from .split import SplitDialog


class ImportProgress(Message):
    def __init__(self, done: int, total: int):
        super().__init__()
        self.done = done
        self.total = total


class MainScreen(Screen):
    BINDINGS = SEGMENT_KEYS

    def __init__(self):
        super().__init__()
        self._active_cache: dict[int, tuple[int, int]] = {}  # id -> (member count, active)
        self._detail_of: int | None = None  # the segment the detail pane shows or is loading

    def compose(self) -> ComposeResult:
        yield Header()
        yield SearchBar(id="search")
        with Horizontal(id="body"):
            yield SegmentTable(id="segments")
            yield DetailPane(id="detail")
        yield BusyBar(id="busy")
        yield Footer()

    @property
    def table(self) -> SegmentTable:
        return self.query_one(SegmentTable)

    @property
    def detail(self) -> DetailPane:
        return self.query_one(DetailPane)

    @property
    def busy(self) -> BusyBar:
        return self.query_one(BusyBar)

    def on_mount(self) -> None:
        self.table.focus()
        self.reload()

    # ---- the table, as the search asks -----------------------------------------------

    def reload(self, select: int | None = None, *, fresh: bool = True) -> None:
        """Read the segments again (after a change, every count may have moved)."""
        if fresh:
            self._active_cache.clear()
        self._load(self.query_one(SearchBar).value, select)

    @on(SearchBar.Changed)
    def _search_changed(self, event: SearchBar.Changed) -> None:
        self.reload(fresh=False)

    @on(SearchBar.Leave)
    def _search_left(self) -> None:
        self.set_focus(self.table)

    @work(thread=True, exclusive=True, group="segments")
    def _load(self, text: str, select: int | None) -> None:
        cfg = self.app.cfg
        outcome = call_core(lambda: segment_rows(text, cfg))
        if not get_current_worker().is_cancelled:
            self.post_message(CoreDone("segments", outcome, context=(text, select)))

    def _segments_loaded(self, message: CoreDone) -> None:
        text, select = message.context
        if text != self.query_one(SearchBar).value:
            return  # typed on since
        rows = message.outcome.value
        for r in rows:
            known = self._active_cache.get(r["id"])
            r["active"] = known[1] if known and known[0] == r["members"] else None
        self.table.show_rows(rows, select)
        self._detail_of = None  # the counts may have moved: show the selected one afresh
        if not rows:
            self.detail.show_nothing("No segments match." if text else "No segments yet: press n to create one.")
        else:
            self._show_detail()
        missing = [(r["id"], r["members"]) for r in rows if r["active"] is None]
        if missing:
            self._count_active(missing)

    @work(thread=True, exclusive=True, group="active")
    def _count_active(self, wanted: list[tuple[int, int]]) -> None:
        """The active column: one count per segment, after the table is shown."""
        worker = get_current_worker()

        def count():
            out = {}
            for seg_id, members in wanted:
                if worker.is_cancelled:
                    break
                seg = Segment.get_or_none(Segment.id == seg_id)
                if seg is not None:
                    out[seg_id] = (members, segments.count_active(seg))
            return out
        outcome = call_core(count)
        if not worker.is_cancelled:
            self.post_message(CoreDone("active", outcome))

    def _active_counted(self, message: CoreDone) -> None:
        self._active_cache.update(message.outcome.value)
        self.table.show_active({k: v[1] for k, v in message.outcome.value.items()})

    # ---- the detail pane ----------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#segments")
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        seg_id = self.table.selected_id
        if seg_id is not None and seg_id != self._detail_of:
            self._detail_of = seg_id
            self._load_detail(seg_id)

    @work(thread=True, exclusive=True, group="detail")
    def _load_detail(self, seg_id: int) -> None:
        from core.show import show

        cfg = self.app.cfg
        outcome = call_core(lambda: show(segments.resolve(seg_id), cfg))
        if not get_current_worker().is_cancelled:
            self.post_message(CoreDone("detail", outcome, context=seg_id))

    def _detail_loaded(self, message: CoreDone) -> None:
        if message.context != self.table.selected_id:
            return
        if message.outcome.ok:
            self.detail.show(message.outcome.value)
        else:
            self.detail.show_nothing(message.outcome.error)

    # ---- results of the workers ---------------------------------------------------------

    def on_core_done(self, message: CoreDone) -> None:
        message.stop()
        if not message.outcome.ok:
            if message.tag in ("refresh", "import"):
                self.busy.stop()
            self.notify(message.outcome.error, title=message.tag.capitalize(), severity="error", timeout=8)
            return
        handler = {
            "segments": self._segments_loaded,
            "active": self._active_counted,
            "detail": self._detail_loaded,
            "refresh": self._refreshed,
            "import": self._imported,
        }[message.tag]
        handler(message)

    def finished(self, done: Done | None) -> None:
        """What a dialog's operation did: say it, warn if core warned, show the change."""
        if done is None:
            return
        self.notify(done.text, title="Done")
        if done.warning:
            self.notify(done.warning, title="Warning", severity="warning", timeout=10)
        self.reload(select=done.select)

    # ---- the operations ---------------------------------------------------------------

    def selected(self) -> dict | None:
        row = self.table.selected
        if row is None:
            self.notify("Select a segment first (n creates one).", severity="warning")
        return row

    def _open(self, dialog_class, *args) -> None:
        row = self.selected()
        if row is not None:
            self.app.push_screen(dialog_class(row, *args), self.finished)

    def action_focus_search(self) -> None:
        # At once, not on the next turn (as .focus() does): the keys typed right
        # after "/" are already on their way and belong to the search.
        self.set_focus(self.query_one(SearchBar))

    def action_members(self) -> None:
        row = self.selected()
        if row is not None:
            self.app.push_screen(MembersScreen(row))

    @on(DataTable.RowSelected, "#segments")
    def _row_selected(self) -> None:
        self.action_members()

    def action_new(self) -> None:
        self.app.push_screen(NewSegmentDialog(), self.finished)

    def action_edit(self) -> None:
        self._open(EditConditionDialog)

    def action_copy(self) -> None:
        self._open(CopyDialog)

    def action_split(self) -> None:
        self._open(SplitDialog)

    def action_export(self) -> None:
        self._open(ExportDialog)

    def action_empty(self) -> None:
        self._open(EmptyDialog)

    def action_delete(self) -> None:
        self._open(DeleteDialog)

    def action_add(self) -> None:
        self._open(EmailsDialog, True)

    def action_remove(self) -> None:
        self._open(EmailsDialog, False)

    def action_why(self) -> None:
        self._open(WhyDialog)

    def action_import(self) -> None:
        self.app.push_screen(ImportDialog(), self._start_import)

    def action_refresh(self) -> None:
        row = self.selected()
        if row is None or not self._may_start(f'Refreshing "{row["name"]}"…'):
            return
        self._refresh(row["id"])

    # ---- the long ones: a progress bar, and the screen stays usable -------------------------

    def _may_start(self, text: str, total: float | None = None) -> bool:
        if self.busy.task:
            self.notify(f"{self.busy.task} Wait for it to finish.", severity="warning")
            return False
        self.busy.start(text, total)
        return True

    @work(thread=True, exclusive=True, group="refresh")
    def _refresh(self, seg_id: int) -> None:
        from core.refresh import refresh

        actor, cfg = self.app.actor, self.app.cfg
        outcome = call_core(lambda: refresh(segments.resolve(seg_id), actor, cfg=cfg))
        self.post_message(CoreDone("refresh", outcome))

    def _refreshed(self, message: CoreDone) -> None:
        self.busy.stop()
        r = message.outcome.value
        self.finished(Done(f'Refreshed "{r.name}": {plural(r.total, "member")}, '
                           f"{r.joined:,} joined, {r.left:,} left.", select=r.segment_id))

    def _start_import(self, asked: tuple[str, str | None] | None) -> None:
        if asked is None:
            return
        path, list_name = asked
        if self._may_start(f"Importing {path}…"):
            self._import(path, list_name)

    @work(thread=True, exclusive=True, group="import")
    def _import(self, path: str, list_name: str | None) -> None:
        from core.imports import import_contacts

        actor, cfg = self.app.actor, self.app.cfg

        def progress(done: int, total: int) -> None:
            self.post_message(ImportProgress(done, total))

        outcome = call_core(lambda: import_contacts(path, actor, list_name=list_name, cfg=cfg, progress=progress))
        self.post_message(CoreDone("import", outcome))

    def on_import_progress(self, message: ImportProgress) -> None:
        self.busy.advance(message.done, message.total)

    def _imported(self, message: CoreDone) -> None:
        self.busy.stop()
        report = message.outcome.value
        self.notify(f"Imported {report.file}: {report.created:,} created, {report.updated:,} updated, "
                    f"{report.skipped:,} bad rows.", title="Import",
                    severity="warning" if report.skipped else "information")
        self.reload()
        self.app.push_screen(ImportReportScreen(report))
