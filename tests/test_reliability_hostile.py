"""Hostile input (docs/reliability.md, "Hostile input").

The corpus is checked in under tests/hostile/: condition texts, `/segment`
texts and CSV files. The big ones (10,000-character conditions, 4,000-character
commands, a 1 MB field, 10,000 columns, errors after the first committed batch)
are made here. Every input gives a clear error or a correct result — never a
traceback, a hang, an internal error, or part of an import.
"""
from __future__ import annotations

import json
import random
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import commands as slack_commands
from core import imports, segments
from core.audit import Actor
from core.cli.main import cli
from core.conditions import parse
from core.errors import BadInput, ConditionError, SegmentaError
from core.preview import preview
from core.store.models import AuditEntry, Contact, CustomValue, Membership, Segment
from tests.factories import make_contacts
from tests.test_bot_slack import bot, people  # noqa: F401 (fixtures: the bot over signed HTTP)
from tests.slack_standin import slack_standin  # noqa: F401 (fixture)

CORPUS = Path(__file__).parent / "hostile"
ME = Actor("tester", "cli")
SEGMENTA = str(Path(sys.executable).with_name("segmenta"))
QUICK = 2.0  # seconds: an answer this slow to a bad input is a hang in the making
NOT_ALLOWED = ("Traceback", "Internal error", "went wrong on our side")


def conditions_corpus() -> dict:
    return json.loads((CORPUS / "conditions.json").read_text(encoding="utf-8"))


def long_conditions() -> list[tuple[str, str]]:
    """10,000 characters each (and a few past the limits), made here rather than checked in."""
    rnd = random.Random(10_000)
    words = conditions_corpus()["keywords"] + ["region", "Kyiv", "=", "5", '"x"']
    every_char = "".join(chr(c) for c in range(1, 0x3000) if not 0xD800 <= c < 0xE000)
    return [
        ("10,000 characters of and", "region = Kyiv and " * 555 + "region = Kyiv"),
        ("10,000 characters of or inside not", "not (" + " or ".join(["city = Lviv"] * 664) + ")"),
        ("a 10,000-character word", "region = " + "k" * 9_991),
        ("a 10,000-character quoted value", 'region = "' + "x" * 9_989 + '"'),
        ("10,000 opening parentheses", "(" * 10_000),
        ("10,000 closing parentheses", ")" * 10_000),
        ("10,000 quotes", '"' * 10_000),
        ("10,000 keywords", " ".join(rnd.choice(words) for _ in range(2_500))[:10_000]),
        ("10,000 printable characters", "".join(rnd.choice(string.printable) for _ in range(10_000))),
        ("10,000 characters of any script", "".join(rnd.choice(every_char) for _ in range(10_000))),
        ("a list of 2,400 values", "region in (" + ",".join(f"r{i % 97}" for i in range(2_400)) + ")"),
        ("a list spelled longer than the limit", "region in (" + ",".join(["a"] * 20_000) + ")"),
        ("past the limit", "region = Kyiv and " * 2_800 + "region = Kyiv"),
    ]


def misplaced_keywords() -> list[tuple[str, str]]:
    """Every keyword of the language in every place of a sentence where it does not belong."""
    corpus = conditions_corpus()
    tokens = corpus["template"].split()
    out = []
    for keyword in corpus["keywords"]:
        for i in range(len(tokens) + 1):
            out.append((f"{keyword!r} at word {i}", " ".join(tokens[:i] + [keyword] + tokens[i:])))
    return out


def every_condition() -> list[tuple[str, str]]:
    return [(c["name"], c["text"]) for c in conditions_corpus()["conditions"]] + long_conditions()


def check_condition_error(e: ConditionError, text: str) -> None:
    """The language's own error: one message, a caret within the text when it has a place."""
    assert e.what and "Traceback" not in str(e)
    if e.column is not None:
        assert 1 <= e.column <= len(text) + 1
        lines = str(e).split("\n")
        assert len(lines) == 3 and lines[1].strip() == "^"


# ---- conditions ---------------------------------------------------------------------------

def test_every_hostile_condition_parses_or_says_where_it_is_wrong():
    cases = every_condition() + misplaced_keywords()
    assert len(cases) > 800
    for name, text in cases:
        started = time.monotonic()
        try:
            parse(text)
        except ConditionError as e:
            check_condition_error(e, text)
        assert time.monotonic() - started < QUICK, name


@pytest.fixture
def town(db):
    """Contacts whose values the corpus aims at: a percent and an underscore in emails,
    an emoji region, an Arabic city, and a list other segments may name."""
    make_contacts(20, region=lambda i: "Kyiv" if i % 2 else "Lviv", gender=lambda i: "female" if i % 3 else "male")
    make_contacts(1, start=100, region="\U0001F389")  # 🎉
    make_contacts(1, start=200, city="\u0627\u0644\u0642\u0627\u0647\u0631\u0629")  # القاهرة
    for email in ("100%off@example.com", "first_last@example.com", "back\\slash@example.com"):
        Contact.insert(email=email, email_norm=email, created_at="2024-01-01").execute()
    segments.create_list("VIP", ME)
    return db


def what_is_stored() -> tuple:
    return (Contact.select().count(), Segment.select().count(), Membership.select().count(),
            AuditEntry.select().count())


EXACT = {  # hostile, and still a condition with a correct answer
    "LIKE percent": 1,
    "LIKE underscore": 1,
    "LIKE backslash": 1,
    "SQL comment and drop": 0,
    "placeholders": 0,
    "emoji quoted": 1,
    "Arabic value": 1,
    "carriage return and line feed": 7,
    "a tab between the words": 10,
    "right-to-left override": 0,
    "10,000 characters of and": 10,
    "10,000 characters of or inside not": 25,
    "a 10,000-character word": 0,
    "a 10,000-character quoted value": 0,
    "a list of 2,400 values": 0,
}


def test_hostile_conditions_against_the_database(town):
    """preview counts or refuses; create dynamic creates or refuses, then nothing is stored."""
    sample = random.Random(7).sample(misplaced_keywords(), 60)
    for n, (name, text) in enumerate(every_condition() + sample):
        stored = what_is_stored()
        started = time.monotonic()
        try:
            count = preview(text)["count"]
        except SegmentaError as e:
            assert name not in EXACT, f"{name}: refused ({e})"
            if isinstance(e, ConditionError):
                check_condition_error(e, e.text)
            count = None
        else:
            if name in EXACT:
                assert count == EXACT[name], name
        assert time.monotonic() - started < QUICK * 2, name
        try:
            seg, result = segments.create_dynamic(f"Hostile {n}", text, ME)
        except SegmentaError:
            assert count is None, f"{name}: previewed, but could not be saved"
            assert what_is_stored() == stored, f"{name}: a refused create left something behind"
        else:
            assert result.total == count, name
            assert segments.resolve(seg.id).member_count == count
            segments.resolve(seg.id).delete_instance()
        assert Contact.select().count() == stored[0]  # whatever the text, no row went away


def test_hostile_conditions_on_the_command_line(db_url, tmp_path):
    runner = CliRunner()
    for name, text in every_condition():
        for args in (["preview", "--where", text], ["create", "dynamic", "From the shell", "--where", text]):
            r = runner.invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
            assert r.exit_code in (0, 2), f"{name}: exit {r.exit_code}\n{r.output[-2000:]}"
            assert not any(bad in r.output for bad in NOT_ALLOWED), f"{name}:\n{r.output[-2000:]}"
            if r.exit_code == 2:
                assert r.stderr.startswith("Error: "), name
        runner.invoke(cli, ["--db", db_url, "delete", "From the shell", "--yes"])


def test_bytes_that_are_not_utf8_on_the_command_line(tmp_path):
    """A terminal in another encoding sends bytes that are not UTF-8: refused plainly."""
    url = f"sqlite:///{tmp_path / 'shell.db'}"
    lines = ([b"create", b"list", b"Z\xfcrich"], [b"show", b"Z\xfcrich"], [b"add", b"VIP", b"ann\xff@example.com"],
             [b"preview", b"--where", b"city = Z\xfcrich"], [b"create", b"dynamic", b"Z\xfcrich", b"--where",
                                                               b"region = Kyiv"])
    subprocess.run([SEGMENTA, "--db", url, "create", "list", "VIP"], check=True, capture_output=True)
    for argv in lines:
        r = subprocess.run([SEGMENTA.encode(), b"--db", url.encode(), *argv], capture_output=True, timeout=60)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        assert r.returncode == 2, f"{argv}: exit {r.returncode}\n{out}"
        assert out.startswith("Error: ") and not any(bad in out for bad in NOT_ALLOWED), f"{argv}:\n{out}"


BAD_URLS = ["postgresql://u:pw@host:port/x", "postgresql://[::1/x", "postgresql://u:pw@127.0.0.1:99999/x",
            "postgresql://u:pw@127.0.0.1:5432/x?connect_timeout=abc", "sqlite://", "sqlite:///",
            "sqlite:////no/such/folder/x.db", "mysql://u:pw@127.0.0.1/x", "not a url at all"]


def test_a_database_url_that_cannot_be_used_is_one_line_of_error():
    runner = CliRunner()
    for url in BAD_URLS:
        r = runner.invoke(cli, ["--db", url, "search"], catch_exceptions=False)
        assert r.exit_code == 2, f"{url}: exit {r.exit_code}\n{r.output}"
        assert r.stderr.startswith("Error: ") and len(r.stderr.strip().splitlines()) <= 2, f"{url}:\n{r.stderr}"
        assert not any(bad in r.output for bad in NOT_ALLOWED) and ":pw@" not in r.output, f"{url}:\n{r.output}"


# ---- Slack ---------------------------------------------------------------------------------

def slack_corpus() -> list[tuple[str, str]]:
    cases = [(c["name"], c["text"]) for c in
             json.loads((CORPUS / "slack_commands.json").read_text(encoding="utf-8"))["commands"]]
    rnd = random.Random(4_000)
    emails = " ".join(f"c{i}@example.com" for i in range(400))[:3_989]
    cases += [
        ("a 4,000-character name", "create list " + "N" * 3_988),
        ("a 4,000-character condition", "preview " + ("region = Kyiv and " * 300)[:3_970] + " gender = female"),
        ("4,000 characters of emails", "add Shared " + emails[: emails.rfind(" ")]),
        ("4,000 characters of mentions", "add Shared " + " ".join(f"<@U{i:08d}>" for i in range(330))),
        ("4,000 characters of emoji", "show " + "\U0001F525" * 3_995),
        ("4,000 characters of right-to-left text", "create list " + "\u05d0\u05d1\u05d2 " * 997),
        ("4,000 characters of names", "split Shared into 2 names " + ", ".join(["Part"] * 790)),
        ("4,000 random characters", "".join(rnd.choice(string.printable) for _ in range(4_000))),
    ]
    return cases


def test_every_hostile_slack_text_is_read_or_refused():
    """The command reader alone, on the corpus and on random texts: a Command or BadInput."""
    rnd = random.Random(1)
    alphabet = string.printable + "<>|@#!&;\"'\u201c\u201d\u202e\u200b\U0001F389\u05d0"
    texts = [t for _, t in slack_corpus()] + ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 300)))
                                              for _ in range(2_000)]
    for text in texts:
        started = time.monotonic()
        try:
            slack_commands.parse(text, "/segment")
        except SegmentaError:
            pass
        assert time.monotonic() - started < QUICK, text[:80]


def test_hostile_slack_commands_over_signed_requests(bot, people):  # noqa: F811
    """Every text acked within 3 s (the fixture checks it, and every message's Block Kit),
    answered with a message, never with an internal error; a refused change stores nothing."""
    shared = segments.create_list("Shared", ME)
    segments.add_contacts(shared, people[:12], ME)
    for name, text in slack_corpus():
        stored = what_is_stored()
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # bytes that are not UTF-8 go over the wire as they are
            text = text.encode("utf-8", "surrogateescape")
        acked = bot.slack.command(text, escape=False)
        assert acked.status == 200, name
        body = acked.json() if acked.body.startswith("{") else None
        answered_in_the_ack = body and "text" in body and not body["text"].startswith("⏳")
        reply = body if answered_in_the_ack else bot.slack.reply(acked, timeout=30)
        said = json.dumps(reply, ensure_ascii=False)
        assert ":boom:" not in said and "Traceback" not in said, f"{name}: {said[:500]}"
        if reply.get("response_type") == "ephemeral" and "⏳" not in reply.get("text", ""):
            assert what_is_stored() == stored, f"{name}: refused, yet something was stored"
    assert Contact.select().count() == 30


# ---- CSV files ------------------------------------------------------------------------------

# Transactions of 1,000 rows, so that a small file is several of them (the import's own size may be larger).
SMALL = {k: 1_000 for k in ("batch_size", "commit_every") if k in imports.import_contacts.__kwdefaults__}


def import_file(path: Path, **kw):
    """The import's answer: its report, or the error it refused the file with."""
    started = time.monotonic()
    try:
        return imports.import_contacts(str(path), ME, **SMALL, **kw)
    except SegmentaError as e:
        return e
    finally:
        assert time.monotonic() - started < 30, path.name


def refused(path: Path, *words: str) -> SegmentaError:
    """The file is refused with a clear error naming WORDS, and nothing of it was written."""
    stored = what_is_stored()
    out = import_file(path, list_name="Imported")
    assert isinstance(out, BadInput), f"{path.name}: not refused, {out}"
    text = str(out)
    assert all(w in text for w in words), f"{path.name}: {text}"
    assert len(text) < 400 and "\n" not in text.strip(), text
    assert what_is_stored() == stored, f"{path.name}: refused, yet something was written"
    return out


def contacts_now() -> dict[str, tuple]:
    return {c.email: (c.first_name, c.city) for c in Contact.select()}


def test_a_file_with_nul_bytes_is_refused_before_anything_is_written(db):
    refused(CORPUS / "nul_bytes.csv", "line 2", "NUL")


def test_a_latin1_file_is_refused_with_what_to_do(db):
    refused(CORPUS / "latin1.csv", "not UTF-8", "line 2")


def test_a_utf16_file_is_refused(db):
    refused(CORPUS / "utf16.csv", "not UTF-8")


def test_a_file_without_an_email_column_is_refused(db):
    refused(CORPUS / "no_email_column.csv", "no email column")


def test_an_unclosed_quote_is_refused_with_its_line(db):
    refused(CORPUS / "unclosed_quote.csv", "line 2")


def test_cr_only_line_ends_are_read(db):
    report = import_file(CORPUS / "cr_only.csv")
    assert (report.created, report.skipped) == (2, 0)
    assert contacts_now() == {"ann@example.com": ("Ann", "Kyiv"), "bob@example.com": ("Bob", "Lviv")}


def test_a_header_alone_imports_nothing_and_says_so(db):
    report = import_file(CORPUS / "header_only.csv", list_name="Imported")
    assert (report.rows, report.created, report.updated, report.skipped) == (0, 0, 0, 0)
    assert Contact.select().count() == 0


def test_duplicate_emails_in_one_file_make_one_contact_and_the_last_row_wins(db):
    report = import_file(CORPUS / "duplicate_emails.csv", list_name="Imported")
    assert report.skipped == 0
    assert contacts_now() == {"ann@example.com": ("Annie", "Lviv"), "bob@example.com": ("Bob", "Lviv")}
    assert segments.resolve("Imported").member_count == 2


def test_rows_of_the_wrong_width_are_bad_rows_and_the_others_go_in(db):
    report = import_file(CORPUS / "ragged_rows.csv")
    assert [b.line for b in report.bad_rows] == [2, 3] and all("values" in b.reason for b in report.bad_rows)
    assert contacts_now() == {"cat@example.com": ("Cat", "Odesa")}


def test_a_1_mb_field_is_refused_with_its_line(db, tmp_path):
    path = tmp_path / "big_field.csv"
    path.write_text("email,first_name\nann@example.com," + "x" * (1 << 20) + "\nbob@example.com,Bob\n")
    refused(path, "line 2")


def good_rows(n: int) -> str:
    return "".join(f"p{i}@example.com,P{i}\n" for i in range(n))


@pytest.mark.parametrize("late", ["a 1 MB field", "an unclosed quote", "a NUL byte"])
def test_a_broken_file_is_refused_whole_even_after_the_first_batch(db, tmp_path, late):
    """The first 1,500 rows are good, more than a transaction; the file breaks after them:
    still nothing is written."""
    tail = {"a 1 MB field": "late@example.com," + "x" * (1 << 20) + "\n",
            "an unclosed quote": 'late@example.com,"Unclosed\n' + good_rows(50).replace("p", "q"),
            "a NUL byte": "late@example.com,La\x00te\n"}[late]
    path = tmp_path / "late.csv"
    path.write_text("email,first_name\n" + good_rows(1_500) + tail, encoding="utf-8")
    refused(path, f"line {1_500 + 2}")


def test_10000_columns_are_10000_fields(db, tmp_path):
    """The email in the middle of 10,000 columns; every other column a custom field."""
    names = [f"col{i}" for i in range(10_000)]
    names[5_000] = "email"
    rows = [[f"v{r}.{i}" for i in range(10_000)] for r in range(3)]
    for r, row in enumerate(rows):
        row[5_000] = f"wide{r}@example.com"
    rows[2].append("one too many")
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(",".join(r) for r in [names, *rows]) + "\n", encoding="utf-8")
    report = import_file(path)
    assert (report.created, [b.line for b in report.bad_rows]) == (2, [4])
    wide1 = Contact.get(Contact.email == "wide1@example.com")
    values = dict(CustomValue.select(CustomValue.key, CustomValue.text).where(CustomValue.contact == wide1).tuples())
    assert len(values) == 9_999 and values["col9999"] == "v1.9999" and values["col0"] == "v1.0"


def test_every_hostile_file_on_the_command_line(db_url, tmp_path):
    """The same files through `segmenta import contacts`: a report or one line of error, exit 0 or 2."""
    runner = CliRunner()
    for path in sorted(CORPUS.glob("*.csv")):
        r = runner.invoke(cli, ["--db", db_url, "import", "contacts", str(path), "--list", "Imported"],
                          catch_exceptions=False)
        assert r.exit_code in (0, 2), f"{path.name}: exit {r.exit_code}\n{r.output}"
        assert not any(bad in r.output for bad in NOT_ALLOWED), f"{path.name}:\n{r.output}"
        if r.exit_code == 2:
            assert len(r.stderr.strip().splitlines()) == 1, f"{path.name}:\n{r.stderr}"


# ---- the terminal UI --------------------------------------------------------------------

async def test_hostile_conditions_in_the_terminal_ui_editor(sqlite_db, monkeypatch):
    """Typed (or pasted) into the condition editor: checked in a worker, shown as the
    language's message or a count; saving a bad one is refused and creates nothing."""
    from tests.test_tui import fill, make_app, notes, settle, submit
    from tui.screens.segment_form import NewSegmentDialog
    from tui.widgets.condition_editor import ConditionEditor

    monkeypatch.setattr(ConditionEditor, "DEBOUNCE", 0.0)
    make_contacts(10, region="Kyiv")
    chosen = ("terminal escape", "NUL in a value", "right-to-left override", "carriage return and line feed",
              "lone surrogate in a word", "10,000 characters of any script", "10,000 characters of and",
              "10,000 opening parentheses", "SQL comment and drop")
    cases = [(n, t) for n, t in every_condition() if n in chosen]
    assert len(cases) == len(chosen)
    app = make_app()
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await fill(pilot, "#name", "From the terminal")
        for name, text in cases:
            await fill(pilot, "#condition-input", text)
            editor = app.screen.query_one(ConditionEditor)
            assert editor.valid is not None, name  # checked, one way or the other
            await submit(pilot)
            created = Segment.get_or_none(Segment.name == "From the terminal")
            if editor.valid:
                assert created is not None and created.member_count == editor.count, name
                created.delete_instance()
                await pilot.press("n")
                await fill(pilot, "#name", "From the terminal")
            else:
                assert isinstance(app.screen, NewSegmentDialog) and created is None, name
        assert not [m for m in notes(app) if any(bad in m for bad in NOT_ALLOWED)]
