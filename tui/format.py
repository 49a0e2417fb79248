"""How values read on screen."""
from __future__ import annotations

from rich.text import Text

from core.text import visible


def when(value) -> str:
    if value is None:
        return "never"
    if hasattr(value, "hour"):
        return value.isoformat(sep=" ", timespec="minutes")
    return str(value)


def number(value) -> str:
    return "…" if value is None else f"{value:,}"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def plain(value) -> Text:
    """A value of the user's as it is: never read as markup (a name like
    "[/promo]" would be an error, "[b]VIP" bold), control characters shown."""
    if isinstance(value, Text):
        return value
    return Text("" if value is None else visible(str(value)), end="")
