"""Text as people compare it: without case, in every script."""
import re
import unicodedata

from .errors import BadInput

# Neither backend can keep these: PostgreSQL refuses NUL in text, and a lone
# surrogate (what Python makes of bytes that are not UTF-8, say a name typed in
# a Latin-1 terminal) cannot even be encoded for the driver.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def clean(value) -> str | None:
    """Trim a value; empty becomes None (an empty value is empty)."""
    if value is None:
        return None
    s = str(value).strip()
    return s or None


def norm(value) -> str | None:
    """The comparison key of a text: NFC, case-folded, trimmed.

    Stored beside each text field, so that both SQLite (whose lower() folds
    only ASCII) and PostgreSQL compare `Київ` and `київ` as equal.
    """
    s = clean(value)
    if s is None:
        return None
    if "\x00" in s or (not s.isascii() and _UNSTORABLE.search(s)):
        raise BadInput(unstorable(s))
    return unicodedata.normalize("NFC", s).casefold()


def unstorable(s: str) -> str:
    """Why S cannot be a name, an email or a value: what to do instead."""
    bad = _UNSTORABLE.search(s).group(0)
    shown = _UNSTORABLE.sub("\ufffd", s)
    shown = shown if len(shown) <= 60 else shown[:60] + "…"
    what = ("a NUL character (U+0000)" if bad == "\x00"
            else "bytes that are not UTF-8 text" if "\udc80" <= bad <= "\udcff"
            else f"a lone surrogate (U+{ord(bad):04X})")
    return f'"{shown}" holds {what}, which cannot be stored or looked up; type it again without it'


def visible(text: str, keep: str = "") -> str:
    """TEXT safe to print on a terminal: control characters (an escape sequence
    in a first name could move the cursor, recolour or retitle the terminal)
    are shown as escapes, `\\x1b`, except those in KEEP."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() or ch in keep or unicodedata.category(ch) not in ("Cc", "Cf")
                   or ch in _FORMAT_OK else _escape(ch) for ch in text)


# Format characters that belong in text: joiners in emoji and Indic scripts, marks in Arabic.
_FORMAT_OK = {"\u200c", "\u200d", "\u061c", "\u200e", "\u200f", "\u00ad"}


def _escape(ch: str) -> str:
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
