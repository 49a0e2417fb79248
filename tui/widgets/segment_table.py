"""The segment table: name, kind, members, active, last refresh, schedule."""
from __future__ import annotations

from textual.widgets import DataTable

from ..format import number, plain, when
from ..keys import TABLE_KEYS

COLUMNS = (("id", "#"), ("name", "name"), ("kind", "kind"), ("members", "members"),
           ("active", "active"), ("last_refresh", "last refresh"), ("schedule", "schedule"))


class SegmentTable(DataTable):
    """One row per segment, keyed by its id; the rows come from core.search."""

    BINDINGS = TABLE_KEYS

    def __init__(self, **kwargs):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_by_id: dict[int, dict] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show_rows(self, rows: list[dict], select: int | None = None) -> None:
        """Replace the rows, keeping the cursor on the same segment when it is still there."""
        keep = select if select is not None else self.selected_id
        self.clear()
        self.rows_by_id = {r["id"]: r for r in rows}
        for r in rows:
            self.add_row(
                f"#{r['id']}", plain(r["name"]), r["kind"], number(r["members"]), number(r.get("active")),
                when(r["last_refresh"]) if r["last_refresh"] else "", r.get("schedule") or "",
                key=str(r["id"]),
            )
        if keep in self.rows_by_id:
            self.move_cursor(row=self.get_row_index(str(keep)))

    def show_active(self, counts: dict[int, int]) -> None:
        for seg_id, n in counts.items():
            if seg_id in self.rows_by_id:
                self.rows_by_id[seg_id]["active"] = n
                self.update_cell(str(seg_id), "active", number(n), update_width=True)

    @property
    def selected(self) -> dict | None:
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return self.rows_by_id.get(int(key))

    @property
    def selected_id(self) -> int | None:
        row = self.selected
        return row["id"] if row else None
