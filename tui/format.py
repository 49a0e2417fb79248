"""How values read on screen."""
from __future__ import annotations


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
