"""`/segment …` text → a Command. Pure: no Slack, no database.

Slack sends the text escaped (the command is registered with
`should_escape: true`): `&`, `<`, `>` arrive as entities, a channel as
`<#C123|name>`, a person as `<@U123>`, an email as
`<mailto:a@b.c|a@b.c>`, a domain as `<http://b.c|b.c>`. `plain()` turns all
that back into what the person typed; channel mentions keep their id for
`subscribe`.

Names may be quoted ("Kyiv women", 'Kyiv women', or with the curly quotes
that phones and Macs type) or not (`show Kyiv women`); keywords are read
in any case; extra spaces do not matter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import BadInput

# ---- what the person typed --------------------------------------------------

_QUOTES = {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
           "\u2018": "'", "\u2019": "'", "\u201a": "'"}
_ENTITY = re.compile(r"<([^<>]*)>")


def _entity_text(inner: str) -> str:
    """What a person sees for one `<…>` entity."""
    target, _, label = inner.partition("|")
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("@"):
        return "@" + (label or target[1:])
    if target.startswith("!"):
        word = target[1:]
        if word.startswith(("subteam^", "date^")):
            return label or "@" + word.split("^", 1)[1]
        return label or "@" + word
    if label:
        return label
    return target[7:] if target.startswith("mailto:") else target


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain(text: str) -> str:
    """Slack's escaped text as the person typed it."""
    return _unescape(_ENTITY.sub(lambda m: _entity_text(m.group(1)), text or ""))


def normalise(text: str) -> str:
    """Straight quotes and plain spaces: what phones type is what we read."""
    text = (text or "").replace("\u00a0", " ").replace("\u202f", " ")
    return "".join(_QUOTES.get(ch, ch) for ch in text)


@dataclass(frozen=True)
class Token:
    value: str  # as the person typed it (entities decoded, quotes removed)
    quoted: bool
    start: int  # in the raw text
    end: int
    channel: str | None = None  # a channel mention's id

    def word(self) -> str | None:
        """The token as a keyword (unquoted, any case)."""
        return None if self.quoted else self.value.casefold()


def tokenize(raw: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(raw)
    while i < n:
        if raw[i].isspace():
            i += 1
            continue
        start = i
        if raw[i] in "\"'":
            quote = raw[i]
            j = i + 1
            chars = []
            while j < n and raw[j] != quote:
                if raw[j] == "\\" and j + 1 < n and raw[j + 1] in (quote, "\\"):
                    j += 1
                chars.append(raw[j])
                j += 1
            if j >= n:
                raise BadInput(f"a quote is not closed: {plain(raw[start:])[:60]}")
            out.append(Token(plain("".join(chars)), True, start, j + 1))
            i = j + 1
            continue
        j = i
        while j < n and not raw[j].isspace():
            if raw[j] == "<":
                close = raw.find(">", j)
                j = close + 1 if close != -1 else n
            else:
                j += 1
        piece = raw[start:j]
        m = re.fullmatch(r"<#([CG][A-Z0-9]+)(?:\|[^<>]*)?>", piece)
        out.append(Token(plain(piece), False, start, j, m.group(1) if m else None))
        i = j
    return out


# ---- commands -----------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    op: str
    segment: str | None = None  # a name or #id, as typed
    name: str | None = None  # a new segment's name
    condition: str | None = None
    emails: tuple[str, ...] = ()
    channel: str | None = None  # a channel id or #name; None = where the command was typed
    parts: int | None = None
    percents: str | None = None  # "50/30/20"
    seed: int | None = None
    by: str | None = None
    fields: tuple[str, ...] | None = None
    names: tuple[str, ...] | None = None  # split: the parts' names
    with_contacts: bool = False
    text: str | None = None  # list: the search text; help: the topic or the unknown word
    kind: str | None = None  # create: the kind asked for in the form
    unknown: str | None = None  # help: the subcommand that was not understood


# (op, usage, what it does, example) — the help and the usage errors both read this.
USAGE = [
    ("list", "list [TEXT]", "find segments by a part of the name, an id or a word of the condition", "list kyiv"),
    ("show", "show SEGMENT", "everything about a segment", 'show "Kyiv women"'),
    ("create", "create", "open a form to create a segment", "create"),
    ("create_list", "create list NAME", "create an empty list", 'create list "Do not contact"'),
    ("create_dynamic", "create dynamic NAME where CONDITION", "create a dynamic segment",
     'create dynamic "Kyiv women" where gender = female and region = Kyiv'),
    ("preview", "preview CONDITION", "count what a condition selects, saving nothing",
     "preview birthday in next 7 days and status = active"),
    ("refresh", "refresh SEGMENT", "recompute a dynamic segment now", 'refresh "Kyiv women"'),
    ("copy", "copy SEGMENT [as NAME]", "copy a dynamic segment", 'copy "Kyiv women" as "Kyiv women 2"'),
    ("split", "split SEGMENT into N | split SEGMENT 50/30/20 [seed N] [by FIELD] [names A, B, …]",
     "split into new lists for an A/B test", 'split "Kyiv women" 50/50 seed 42 by gender'),
    ("export_csv", "export SEGMENT csv [FIELDS]", "upload the members as a CSV file here",
     'export "Kyiv women" csv email,first_name'),
    ("export_list", "export SEGMENT to list NAME", "copy the members into a new list",
     'export "Kyiv women" to list "Kyiv women, March"'),
    ("empty", "empty LIST", "remove every member of a list (asks first)", "empty Newsletter test"),
    ("delete", "delete SEGMENT [with contacts]", "delete a segment (asks first; with contacts: admins only)",
     "delete Old test"),
    ("add", "add LIST EMAILS", "add contacts to a list by email", "add VIP ann@example.com bob@example.com"),
    ("remove", "remove LIST EMAILS", "remove contacts from a list", "remove VIP ann@example.com"),
    ("why", "why EMAIL SEGMENT", "why a contact is in a dynamic segment or not", 'why ann@example.com "Kyiv women"'),
    ("subscribe", "subscribe SEGMENT [#channel]", "tell a channel after each refresh that changed the segment",
     'subscribe "Kyiv women" #marketing'),
    ("unsubscribe", "unsubscribe SEGMENT [#channel]", "stop telling a channel", 'unsubscribe "Kyiv women"'),
    ("help", "help", "this help", "help"),
]
_USAGE = {op: usage for op, usage, _, _ in USAGE}
ALIASES = {"search": "list", "ls": "list", "find": "list", "info": "show", "new": "create", "rm": "delete",
           "unsub": "unsubscribe", "sub": "subscribe", "clear": "empty"}
SPLIT_SIZES = re.compile(r"^\d+(?:\.\d+)?%?(?:/\d+(?:\.\d+)?%?)+$|^\d+(?:\.\d+)?%$")


def usage(op: str, prog: str = "/segment") -> str:
    return f"{prog} {_USAGE[op]}"


def _need(op: str, what: str, prog: str) -> BadInput:
    return BadInput(f"{what}: `{usage(op, prog)}`")


def _name(tokens: list[Token]) -> str | None:
    """A name from tokens: one quoted token as it is, else the words joined by one space."""
    if not tokens:
        return None
    if len(tokens) == 1:
        return tokens[0].value
    return " ".join(t.value for t in tokens)


def _find(tokens: list[Token], *words: str, last: bool = False) -> int | None:
    """Index of the first (or last) unquoted run of WORDS, any case."""
    k = len(words)
    indexes = range(len(tokens) - k, -1, -1) if last else range(len(tokens) - k + 1)
    for i in indexes:
        if all(tokens[i + j].word() == w for j, w in enumerate(words)):
            return i
    return None


def _rest(raw: str, tokens: list[Token], i: int) -> str:
    """The raw text from token I on, as the person typed it (for conditions)."""
    return plain(raw[tokens[i].start:]).strip() if i < len(tokens) else ""


def _emails(tokens: list[Token]) -> list[str]:
    out = []
    for t in tokens:
        out += [e for e in re.split(r"[,;\s]+", t.value) if e]
    return out


def _is_email(t: Token) -> bool:
    return "@" in t.value and not t.value.startswith("@")


def parse(text: str, prog: str = "/segment") -> Command:
    """Read `/segment TEXT`. Raises core.errors.BadInput with the usage line."""
    raw = normalise(text).strip()
    tokens = tokenize(raw)
    if not tokens:
        return Command("help")
    head = tokens[0].word() or ""
    op = ALIASES.get(head, head)
    args = tokens[1:]
    if op == "help":
        return Command("help", text=_name(args))
    if op == "list":
        return Command("list", text=_name(args))
    if op in ("show", "refresh", "empty"):
        seg = _name(args)
        if not seg:
            raise _need(op, "name a segment", prog)
        return Command(op, segment=seg)
    if op == "create":
        return _create(raw, args, prog)
    if op == "preview":
        start = 1 + (1 if args and args[0].word() == "where" else 0)
        condition = _rest(raw, tokens, start)
        if not condition:
            raise _need("preview", "give a condition", prog)
        return Command("preview", condition=condition)
    if op == "copy":
        at = _find(args, "as", last=True)
        seg = _name(args[:at] if at is not None else args)
        name = _name(args[at + 1:]) if at is not None else None
        if not seg or (at is not None and not name):
            raise _need("copy", "name the segment to copy (and the copy after `as`)", prog)
        return Command("copy", segment=seg, name=name)
    if op == "split":
        return _split(args, prog)
    if op == "export":
        return _export(args, prog)
    if op == "delete":
        with_contacts = len(args) > 2 and _find(args[-2:], "with", "contacts") == 0
        seg = _name(args[:-2] if with_contacts else args)
        if not seg:
            raise _need("delete", "name a segment", prog)
        return Command("delete", segment=seg, with_contacts=with_contacts)
    if op in ("add", "remove"):
        first = next((i for i, t in enumerate(args) if _is_email(t) and not t.quoted), None)
        seg = _name(args[:first]) if first is not None else None
        if not seg or first is None:
            raise _need(op, "name a list, then one or more emails", prog)
        return Command(op, segment=seg, emails=tuple(_emails(args[first:])))
    if op == "why":
        if len(args) >= 2 and not _is_email(args[0]) and _is_email(args[-1]):
            args = [args[-1]] + args[:-1]  # `why SEGMENT EMAIL` reads as well
        if len(args) < 2 or not _is_email(args[0]):
            raise _need("why", "give an email, then a dynamic segment", prog)
        return Command("why", emails=(args[0].value,), segment=_name(args[1:]))
    if op in ("subscribe", "unsubscribe"):
        channel = None
        if len(args) >= 2 and not args[-1].quoted:
            last = args[-1]
            if last.channel:
                channel = last.channel
            elif re.fullmatch(r"#[CG][A-Z0-9]{6,}", last.value):  # a channel id
                channel = last.value[1:]
            elif re.fullmatch(r"#[^\s#]*[^\d\s#][^\s#]*", last.value):  # `#marketing`, not `#12`
                channel = last.value
            if channel:
                args = args[:-1]
        seg = _name(args)
        if not seg:
            raise _need(op, "name a segment", prog)
        return Command(op, segment=seg, channel=channel)
    return Command("help", unknown=tokens[0].value)


def _create(raw: str, args: list[Token], prog: str) -> Command:
    kind = args[0].word() if args else None
    if kind in ("list", "dynamic"):
        args = args[1:]
    else:
        kind = None
    if not args:
        return Command("create", kind=kind)  # the form
    at = _find(args, "where")
    if kind == "list":
        if at is not None:
            raise BadInput(f"a list has no condition; for one with a condition: `{usage('create_dynamic', prog)}`")
        return Command("create_list", name=_name(args))
    if at is None:
        if kind is None:
            raise BadInput(f"say which kind: `{usage('create_list', prog)}` or `{usage('create_dynamic', prog)}`")
        raise _need("create_dynamic", "add the condition after `where`", prog)
    name = _name(args[:at])
    condition = plain(raw[args[at].end:]).strip()
    if not name:
        raise _need("create_dynamic", "name the segment before `where`", prog)
    if not condition:
        raise _need("create_dynamic", "add the condition after `where`", prog)
    return Command("create_dynamic", name=name, condition=condition)


def _split(args: list[Token], prog: str) -> Command:
    plan_at = None
    for i, t in enumerate(args):
        if t.word() == "into" and i + 1 < len(args) and args[i + 1].value.isdigit() and i > 0:
            plan_at = i
            break
        if not t.quoted and SPLIT_SIZES.match(t.value) and i > 0:
            plan_at = i
            break
    if plan_at is None:
        raise _need("split", "say how: `into N` or sizes like 50/30/20", prog)
    seg = _name(args[:plan_at])
    parts = percents = None
    rest = args[plan_at:]
    if rest[0].word() == "into":
        parts = int(rest[1].value)
        rest = rest[2:]
    else:
        percents = rest[0].value
        rest = rest[1:]
    seed = by = names = None
    while rest:
        word = rest[0].word()
        if word == "names" and len(rest) > 1:
            names = tuple(n for n in _list_of(rest[1:]) if n)
            break
        if word == "seed" and len(rest) > 1 and re.fullmatch(r"\d{1,18}", rest[1].value):
            seed = int(rest[1].value)
        elif word == "by" and len(rest) > 1:
            by = rest[1].value
        else:
            raise _need("split", f'"{rest[0].value}" is not understood here', prog)
        rest = rest[2:]
    return Command("split", segment=seg, parts=parts, percents=percents, seed=seed, by=by, names=names)


def _list_of(tokens: list[Token]) -> list[str]:
    """Names separated by commas: `"Test A", "Test B"` or `Test A, Test B`."""
    out, words = [], []
    for t in tokens:
        if t.quoted:
            words.append(t.value)
            continue
        pieces = t.value.split(",")
        for k, piece in enumerate(pieces):
            if piece:
                words.append(piece)
            if k < len(pieces) - 1:
                out.append(" ".join(words))
                words = []
    out.append(" ".join(words))
    return [n.strip() for n in out]


def _export(args: list[Token], prog: str) -> Command:
    to = _find(args, "to", "list", last=True)
    if to is not None and to > 0:
        name = _name(args[to + 2:])
        if not name:
            raise _need("export_list", "name the new list", prog)
        return Command("export_list", segment=_name(args[:to]), name=name)
    at = _find(args, "csv", last=True)
    if at is None or at == 0:
        raise BadInput(f"say where to: `{usage('export_csv', prog)}` or `{usage('export_list', prog)}`")
    fields = tuple(f for t in args[at + 1:] for f in re.split(r"[,\s]+", t.value) if f)
    return Command("export_csv", segment=_name(args[:at]), fields=fields or None)
