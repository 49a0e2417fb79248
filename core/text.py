"""Text as people compare it: without case, in every script."""
import unicodedata


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
    return unicodedata.normalize("NFC", s).casefold()
