"""The detail pane: everything core.show tells about the selected segment."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Label, Sparkline, Static

from ..format import number, plural, when


def describe(d: dict) -> Text:
    """The pane's text for one `core.show.show` result."""
    out = Text()
    out.append(d["name"], style="bold")
    out.append(f"  #{d['id']} · {d['kind']}\n\n", style="dim")

    def row(label: str, value: str | Text) -> None:
        out.append(f"{label:<14}", style="bold")
        out.append(value)
        out.append("\n")

    if d["condition"]:
        row("condition", d["condition"])
    row("members", f"{number(d['members'])} ({number(d['active'])} active)")
    if d["schedule"]:
        row("schedule", d["schedule"])
    last = d["last_refresh"]
    if last:
        row("last refresh", f"{when(last['at'])} ({last['trigger']})")
        row("", f"{plural(last['total'], 'member')}: +{last['joined']:,} joined, −{last['left']:,} left")
    elif d["kind"] == "dynamic":
        row("last refresh", "never")
    if d["last_error"]:
        row("last error", Text(f"{when(d['last_error']['at'])}: {d['last_error']['error']}", style="red"))
    row("origin", d["origin"]["text"] if d["origin"] else "created here")
    channels = ", ".join(
        c["channel"] + (f" ({c['status']})" if c.get("status") and c["status"] != "ok" else "")
        for c in d["channels"]
    )
    row("subscriptions", channels or "none")
    row("created", f"{when(d['created_at'])} by {d['created_by'] or '?'}")
    return out


class DetailPane(VerticalScroll):
    """Shows one segment; empty until a segment is selected."""

    def compose(self) -> ComposeResult:
        yield Static("Select a segment.", id="detail-body")
        yield Label("", id="history-label")
        yield Sparkline([], id="history")

    def show(self, d: dict) -> None:
        self.query_one("#detail-body", Static).update(describe(d))
        sizes = [h["size"] for h in d["history"]]
        label = self.query_one("#history-label", Label)
        spark = self.query_one("#history", Sparkline)
        if sizes:
            label.update(f"size over time ({len(sizes)} points): {sizes[0]:,} → {sizes[-1]:,}")
            spark.data = sizes if len(sizes) > 1 else sizes * 2
        else:
            label.update("size over time: no history yet")
            spark.data = []
        spark.display = bool(sizes)

    def show_nothing(self, text: str = "Select a segment.") -> None:
        self.query_one("#detail-body", Static).update(text)
        self.query_one("#history-label", Label).update("")
        self.query_one("#history", Sparkline).display = False
