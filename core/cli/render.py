"""Plain-text tables and values for the command line."""
from __future__ import annotations

import unicodedata

from ..text import visible


def width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def table(rows: list[dict], columns: list[str], headers: dict[str, str] | None = None) -> str:
    headers = headers or {}
    cells = [[("" if r.get(c) is None else visible(str(r.get(c)))) for c in columns] for r in rows]
    heads = [headers.get(c, c) for c in columns]
    widths = [max([width(h)] + [width(row[i]) for row in cells]) for i, h in enumerate(heads)]

    def line(values):
        return "  ".join(v + " " * (w - width(v)) for v, w in zip(values, widths)).rstrip()

    out = [line(heads), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def money(cents) -> str:
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{cents // 100}.{cents % 100:02d}"
