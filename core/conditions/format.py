"""One canonical spelling for every tree: lower-case keywords, the fewest
parentheses that keep the tree's shape, quotes only where a bare word would
be read differently. The law `parse(format(t)) == t` holds for every tree the
parser can produce (tests/test_conditions_laws.py)."""
from __future__ import annotations

import re
import unicodedata

from .tree import Ago, And, Date, InSegment, Items, Month, Not, Number, Or, Range, Span, Test, Text, YesNo

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")
# Every keyword of grammar.lark. A text equal to one is quoted: where the
# grammar could take the keyword (`interests has any`), a bare word would be
# read as the keyword. IGNORECASE as lark matches them (so `K`, the Kelvin
# sign, counts as `k`).
KEYWORDS = re.compile(
    r"and|or|not|in|segment|contains|starts|ends|with|is|empty|today|before|after|between"
    r"|last|next|month|has|any|all|none|ago|days?|weeks?|months|years?",
    re.IGNORECASE,
)
WORD_PUNCT = "_-.@+/"


def is_word_char(ch: str) -> bool:
    """A character of a bare WORD: a letter or mark of any script, a digit, or _ - . @ + /."""
    return ch in WORD_PUNCT or unicodedata.category(ch)[0] in "LMN"


def is_word(s: str) -> bool:
    return bool(s) and all(is_word_char(ch) for ch in s)


def quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text(s: str) -> str:
    return s if is_word(s) and not KEYWORDS.fullmatch(s) else quote(s)


def format(tree) -> str:  # noqa: A001 - the public name of the spec
    if isinstance(tree, Or):
        return " or ".join(_paren(i) if isinstance(i, Or) else format(i) for i in tree.items)
    if isinstance(tree, And):
        return " and ".join(_paren(i) if isinstance(i, (And, Or)) else format(i) for i in tree.items)
    if isinstance(tree, Not):
        item = tree.item
        # `not in segment S` is read as one test, so the negation of a plain
        # `in segment S` keeps its parentheses.
        bare_segment = isinstance(item, InSegment) and not item.negated
        return "not " + (_paren(item) if bare_segment or isinstance(item, (And, Or)) else format(item))
    if isinstance(tree, InSegment):
        return ("not " if tree.negated else "") + "in segment " + segment_ref(tree.ref)
    if isinstance(tree, Test):
        return _test(tree)
    raise TypeError(f"not a condition: {tree!r}")


def _paren(node) -> str:
    return f"({format(node)})"


def segment_ref(ref) -> str:
    if isinstance(ref, int):
        return f"#{ref}"
    # Bare digits mean an id, so a name made of digits keeps its quotes.
    return quote(ref) if re.fullmatch(r"[0-9]+", ref) else text(ref)


def _test(t: Test) -> str:
    field = t.field
    if t.window is not None:
        field += f"(last {t.window.n} {t.window.unit})"
    if t.value is None:
        return f"{field} {t.op}"
    if isinstance(t.value, Span):
        return f"{field} {t.op} {t.value.n} {t.value.unit}"
    return f"{field} {t.op} {value(t.value)}"


def value(v) -> str:
    if isinstance(v, Text):
        return text(v.value)
    if isinstance(v, Number):
        return f"{v.value:f}"  # never an exponent: 1E+2 prints as 100
    if isinstance(v, Date):
        return v.value.isoformat()
    if isinstance(v, Ago):
        if v.unit == "days" and v.n in (0, 1):
            return ("today", "yesterday")[v.n]
        return f"{v.n} {v.unit} ago"
    if isinstance(v, YesNo):
        return "yes" if v.value else "no"
    if isinstance(v, Month):
        return MONTHS[v.value - 1]
    if isinstance(v, Items):
        return "(" + ", ".join(value(i) for i in v.values) + ")"
    if isinstance(v, Range):
        return f"{value(v.low)} and {value(v.high)}"
    raise TypeError(f"not a condition value: {v!r}")
