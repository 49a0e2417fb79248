"""Text → tree. Every way a condition can be wrong ends here as one
ConditionError that points at the column and, when there is a close one,
suggests the fix. Nothing else leaves `parse`, whatever the input.
"""
from __future__ import annotations

from pathlib import Path

from lark import Lark, Token, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.exceptions import LarkError, VisitError

from ..errors import ConditionError
from . import fields as F
from .build import Build
from .tree import MAX_DEPTH

MAX_LENGTH = 50_000

_GRAMMAR = Lark(
    (Path(__file__).parent / "grammar.lark").read_text(encoding="utf-8"),
    parser="lalr",
    lexer="contextual",
    propagate_positions=True,
    maybe_placeholders=False,
)


def parse(text: str, *, custom_fields: dict[str, str] | None = None, segments=None):
    """Parse TEXT into a tree, checking every value against its field's type.

    CUSTOM_FIELDS types `custom.KEY` ({key: "text"|"number"|"date"|"yesno"};
    undeclared keys are text). SEGMENTS, if given, is called with each
    `in segment` reference and raises when there is no such segment.
    """
    text = "" if text is None else str(text)
    _precheck(text)
    try:
        tree = _GRAMMAR.parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(text, e, custom_fields) from None
    except LarkError as e:  # pragma: no cover - lark's other errors are grammar bugs
        raise ConditionError(text, None, f"the condition cannot be read ({e})") from None
    try:
        node = Build(text, custom_fields or {}, segments).transform(tree).node
    except VisitError as e:
        if isinstance(e.orig_exc, ConditionError):
            raise e.orig_exc from None
        raise e.orig_exc
    _fits(text, node)
    return node


def _fits(text: str, node) -> None:
    """The canonical spelling is what is stored and read again (every refresh
    checks a stored test by parsing it): it must be readable too, and it may
    be longer than what was typed (`a,b` is spelled `a, b`)."""
    from .format import format as spelled

    length = len(spelled(node))
    if length > MAX_LENGTH:
        raise ConditionError(
            text[:200] + "…", None,
            f"written out in full (a space after each comma, quotes where needed), the condition is "
            f"{length:,} characters long; at most {MAX_LENGTH:,} are read")


def _precheck(text: str) -> None:
    """Quotes and parentheses, found before the grammar so that the message
    can point at the quote or the parenthesis that is at fault."""
    if not text.strip():
        raise ConditionError(text, None, "the condition is empty; write a test like: region = Kyiv")
    if len(text) > MAX_LENGTH:
        raise ConditionError(
            text[:200] + "…", None,
            f"the condition is {len(text):,} characters long; at most {MAX_LENGTH:,} are read")
    opened: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            end = _closing(text, i)
            if end is None:
                raise ConditionError(
                    text, i + 1, f"unterminated quote at column {i + 1}; add the closing {ch} "
                    f"(inside quotes, write \\{ch} for a {ch})")
            i = end
        elif ch == "(":
            opened.append(i)
            if len(opened) > MAX_DEPTH:
                raise ConditionError(
                    text, i + 1, f"too many nested parentheses at column {i + 1}; at most {MAX_DEPTH} levels")
        elif ch == ")":
            if not opened:
                raise ConditionError(
                    text, i + 1, f'unbalanced parenthesis at column {i + 1}: this ")" has no "(" before it')
            opened.pop()
        i += 1
    if opened:
        col = opened[-1] + 1
        raise ConditionError(text, col, f'unbalanced parenthesis at column {col}: this "(" is never closed')


def _closing(text: str, start: int) -> int | None:
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i
        i += 1
    return None


# ---- syntax errors --------------------------------------------------------

_SHOWN = {"WORD": "a word", "STRING": "a quoted text", "CMP": "an operator", "LPAR": '"("',
          "RPAR": '")"', "COMMA": '","', "HASHID": "an id like #12", "UNIT": "days, weeks, months or years",
          "$END": "the end of the condition"}


def _shown(name: str) -> str:
    return _SHOWN.get(name, f'"{name.lstrip("_").lower()}"')


def _syntax_error(text: str, e: UnexpectedInput, custom_fields) -> ConditionError:
    try:
        expected = set(e.interactive_parser.accepts())
        stack = e.interactive_parser.parser_state.value_stack
    except Exception:  # pragma: no cover - accepts() replays the parser; be safe
        expected, stack = set(getattr(e, "expected", None) or getattr(e, "allowed", None) or ()), []
    if isinstance(e, UnexpectedToken) and e.token.type != "$END":
        token, pos = str(e.token), e.token.start_pos
    elif isinstance(e, UnexpectedCharacters):
        token, pos = text[e.pos_in_stream], e.pos_in_stream
    else:
        token, pos = None, len(text.rstrip())
    col = pos + 1
    if "CMP" in expected:
        return _operator_error(text, col, token, stack, custom_fields)
    if token is None:
        wants = _wants(expected - {"$END"}) if expected - {"$END"} else "more"
        return ConditionError(text, col, f"the condition ends too early at column {col}; expected {wants}")
    shown = repr(token)[1:-1] if not token.isprintable() else token
    wants = _wants(expected)
    msg = f'unexpected "{shown}" at column {col}; expected {wants}'
    if expected & {"_AND", "_OR"} and not expected & {"WORD", "STRING"}:
        msg += " (put a value that has spaces in quotes)"
    return ConditionError(text, col, msg)


def _wants(expected: set[str]) -> str:
    if {"_NOT", "LPAR", "WORD", "_IN"} <= expected:
        return 'a field, "not", "(" or "in segment"'
    rest, names = set(expected), []
    if {"WORD", "STRING"} <= rest:
        rest -= {"WORD", "STRING"}
        names.append("a value")
    if rest & {"_AND", "_OR", "$END"}:
        rest.discard("UNIT")  # `5 days ago` is possible here, but rarely what was meant
    order = ["_AND", "_OR", "COMMA", "RPAR", "$END"]
    names += [_shown(n) for n in sorted(rest, key=lambda n: (order.index(n) if n in order else -1, n))]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _operator_error(text, col, token, stack, custom_fields) -> ConditionError:
    """The parser stopped where an operator belongs: check the field first,
    then say which operators fit it."""
    field = _last_field(stack)
    name = field.lower() if field is not None else ""
    kind = F.field_type(name, custom_fields)
    if field is not None and kind is None:
        from .build import unknown_field

        return unknown_field(text, field, custom_fields)
    takes = f'the {kind} field "{name}" takes {F.spell_ops(kind)}' if kind else "write an operator like ="
    if token is None:
        return ConditionError(text, col, f"the condition ends at column {col} without an operator; {takes}")
    head = f'unknown operator "{token}" at column {col}'
    close = F.suggest(token, F.OPS[kind]) if kind else None
    if close:
        return ConditionError(text, col, f'{head} — did you mean "{close}"? {takes[0].upper()}{takes[1:]}')
    return ConditionError(text, col, f"{head}; {takes}")


def _last_field(stack) -> Token | None:
    """The field just before the operator position, reduced or not yet."""
    items = list(stack)
    if items and isinstance(items[-1], Token) and items[-1].type == "RPAR":
        while items and not (isinstance(items[-1], Token) and items[-1].type == "LPAR"):
            items.pop()  # an unreduced window: orders.count(last 30 days)
        items = items[:-1]
    if items and getattr(items[-1], "data", None) == "window":
        items = items[:-1]
    if not items:
        return None
    last = items[-1]
    if isinstance(last, Token) and last.type == "WORD":
        return last
    if getattr(last, "data", None) == "field":
        return last.children[0]
    return None
