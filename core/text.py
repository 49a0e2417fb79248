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

