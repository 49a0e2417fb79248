"""The detail pane: everything core.show tells about the selected segment."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Sparkline, Static

from ..format import number, plain, plural, when
from core.text import visible

FIELDS = (  # key, label
    ("condition", "condition"),
    ("members", "members"),
    ("schedule", "schedule"),
    ("last_refresh", "last refresh"),
    ("change", ""),
    ("last_error", "last error"),
    ("origin", "origin"),
    ("subscriptions", "subscriptions"),
    ("created", "created"),
)


def values(d: dict) -> dict[str, str | Text | None]:
    """The pane's rows for one `core.show.show` result (None hides a row)."""
    last = d["last_refresh"]
    channels = ", ".join(
        c["channel"] + (f" ({c['status']})" if c.get("status") and c["status"] != "ok" else "")
        for c in d["channels"]
    )
    return {
        "condition": d["condition"],
        "members": f"{number(d['members'])} ({number(d['active'])} active)",
        "schedule": d["schedule"],
        "last_refresh": (f"{when(last['at'])} ({last['trigger']})" if last
                         else "never" if d["kind"] == "dynamic" else None),
        "change": (f"{plural(last['total'], 'member')}: +{last['joined']:,} joined, −{last['left']:,} left"
                   if last else None),
        "last_error": (Text(f"{when(d['last_error']['at'])}: {d['last_error']['error']}", style="red")
                       if d["last_error"] else None),
        "origin": d["origin"]["text"] if d["origin"] else "created here",
        "subscriptions": channels or "none",
        "created": f"{when(d['created_at'])} by {d['created_by'] or '?'}",
    }


class DetailPane(VerticalScroll):
    """Shows one segment; a hint until a segment is selected."""

    def compose(self) -> ComposeResult:
        yield Static("Select a segment.", id="detail-title")
        for key, label in FIELDS:
            with Horizontal(classes="detail-row", id=f"row-{key}"):
                yield Label(label, classes="detail-label")
                yield Static("", classes="detail-value", id=f"value-{key}")
        yield Label("", id="history-label")
        yield Sparkline([], id="history")

    def on_mount(self) -> None:
        self.show_nothing()

    def show(self, d: dict) -> None:
        title = Text(visible(d["name"]), style="bold")
        title.append(f"  #{d['id']} · {d['kind']}", style="dim")
        self.query_one("#detail-title", Static).update(title)
        for key, value in values(d).items():
            self.query_one(f"#row-{key}").display = value is not None
            self.query_one(f"#value-{key}", Static).update(plain(value))
        sizes = [h["size"] for h in d["history"]]
        label = self.query_one("#history-label", Label)
        spark = self.query_one("#history", Sparkline)
        label.update(f"size over time ({plural(len(sizes), 'point')}): {sizes[0]:,} → {sizes[-1]:,}"
                     if sizes else "size over time: no history yet")
        spark.data = sizes if len(sizes) > 1 else sizes * 2
        spark.display = bool(sizes)

    def show_nothing(self, text: str = "Select a segment.") -> None:
        self.query_one("#detail-title", Static).update(text)
        for key, _ in FIELDS:
            self.query_one(f"#row-{key}").display = False
        self.query_one("#history-label", Label).update("")
        self.query_one("#history", Sparkline).display = False

    @property
    def text(self) -> str:
        """What the pane says, as plain lines (label, value)."""
        lines = [str(self.query_one("#detail-title", Static).render())]
        for key, label in FIELDS:
            if self.query_one(f"#row-{key}").display:
                lines.append(f"{label:<14}{self.query_one(f'#value-{key}', Static).render()}")
        return "\n".join(lines)
