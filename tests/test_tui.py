"""The terminal UI (Textual), driven by Pilot against a temporary SQLite file.

Every key's operation is tried, with its refusal paths: the rules are core's,
the interface shows core's messages as notifications. Workers are waited for
deterministically (`settle`), never by sleeping.
"""
from __future__ import annotations

import csv
import datetime as dt

import pytest
from textual.widgets import Checkbox, DataTable, Input, Select

from core import config, segments
from core.audit import Actor
from core.clock import FixedClock, set_clock
from core.store.models import Contact, Membership, Segment
from tests.factories import make_contacts
from tui.app import SegmentaApp
from tui.pilot import settle
from tui.keys import APP_KEYS, SEGMENT_KEYS
from tui.screens.confirm import DeleteDialog, EmptyDialog
from tui.screens.contacts import EmailsDialog, ImportReportScreen, WhyDialog
from tui.screens.export import ExportDialog
from tui.screens.keys import KeysScreen
from tui.screens.main import MainScreen
from tui.screens.members import MembersScreen
from tui.screens.segment_form import CopyDialog, EditConditionDialog, NewSegmentDialog
from tui.screens.split import SplitDialog
from tui.widgets.condition_editor import ConditionEditor

ME = Actor("tester", "tui")
SIZE = (140, 40)


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch):
    """The condition editor checks at once (its debounce is a timer, not a sleep of the test)."""
    monkeypatch.setattr(ConditionEditor, "DEBOUNCE", 0.0)


@pytest.fixture
def clock():
    fixed = FixedClock(dt.datetime(2024, 5, 1, 12, 0))
    old = set_clock(fixed)
    yield fixed
    set_clock(old)


@pytest.fixture
def db(sqlite_db, clock):
    return sqlite_db


def make_app() -> SegmentaApp:
    return SegmentaApp(config.Config(), ME, where="test.db")


def notes(app, severity=None) -> list[str]:
    return [n.message for n in app._notifications if severity is None or n.severity == severity]


def table_names(app) -> list[str]:
    table = app.main.table
    return [str(table.get_row_at(i)[1]) for i in range(table.row_count)]


async def select(pilot, name: str) -> None:
    """Put the table's cursor on the segment called NAME."""
    table = pilot.app.main.table
    [seg_id] = [i for i, row in table.rows_by_id.items() if row["name"] == name]
    table.focus()
    table.move_cursor(row=table.get_row_index(str(seg_id)))
    await settle(pilot)


async def type_into(pilot, selector: str, text: str) -> None:
    """Type TEXT key by key (for the live behaviours: search, condition checking)."""
    pilot.app.screen.query_one(selector).focus()
    await pilot.press(*text)
    await settle(pilot)


async def fill(pilot, selector: str, text: str) -> None:
    """Put TEXT in a field at once, as a paste does."""
    field = pilot.app.screen.query_one(selector, Input)
    field.focus()
    field.value = text
    await settle(pilot)


async def submit(pilot) -> None:
    await pilot.press("ctrl+s")
    await settle(pilot)


async def new_dynamic(pilot, name: str, condition: str) -> None:
    """The new-segment form (`n`), filled with NAME and CONDITION, submitted."""
    await pilot.press("n")
    await fill(pilot, "#name", name)
    await fill(pilot, "#condition-input", condition)
    await submit(pilot)


def a_list(name: str, ids) -> Segment:
    seg = segments.create_list(name, ME)
    segments.add_contacts(seg, ids, ME)
    return Segment.get_by_id(seg.id)


def dynamic(name: str, condition: str) -> Segment:
    seg, _ = segments.create_dynamic(name, condition, ME)
    return Segment.get_by_id(seg.id)


def by_name(name: str) -> Segment | None:
    return Segment.get_or_none(Segment.name == name)


def people(n: int = 30, start: int = 0) -> list[int]:
    return make_contacts(
        n,
        start,
        gender=lambda i: "female" if i % 2 else "male",
        region=lambda i: ("Kyiv", "Lviv", "Odesa")[i % 3],
    )


# ---- the main screen ---------------------------------------------------------------

async def test_main_screen_lists_segments_with_counts_and_schedule(db):
    ids = people(30)
    a_list("VIP", ids[:12])
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    Contact.update(status="unsubscribed").where(Contact.id == ids[0]).execute()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.main.table
        assert [c.label.plain for c in table.ordered_columns] == [
            "#", "name", "kind", "members", "active", "last refresh", "schedule"]
        rows = {str(r[1]): r for r in (table.get_row_at(i) for i in range(table.row_count))}
        assert rows["VIP"][2:5] == ["list", "12", "11"]
        assert rows["Kyiv women"][2:4] == ["dynamic", "5"]
        assert rows["Kyiv women"][5] == "2024-05-01 12:00"
        assert rows["Kyiv women"][6] == "every 1h (default)"
        assert table_names(app) == ["Kyiv women", "VIP"]  # newest first


async def test_an_empty_database_says_how_to_begin(db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "press n to create one" in app.main.detail.text
        await pilot.press("c")
        assert any("Select a segment first" in m for m in notes(app, "warning"))


async def test_search_filters_as_you_type_by_name_id_kind_and_condition_word(db):
    people(30)
    vip = a_list("VIP Київ", [])
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    dynamic("Men", "gender = male")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        search = app.main.query_one("#search", Input)
        assert search.has_focus
        await pilot.press(*"київ")
        await settle(pilot)
        assert table_names(app) == ["VIP Київ"]
        search.value = ""
        await pilot.press(*"region")  # a word of the condition
        await settle(pilot)
        assert table_names(app) == ["Kyiv women"]
        search.value = ""
        await pilot.press(*f"#{vip.id}")
        await settle(pilot)
        assert table_names(app) == ["VIP Київ"]
        search.value = ""
        await pilot.press(*"dynamic")
        await settle(pilot)
        assert table_names(app) == ["Men", "Kyiv women"]
        await pilot.press(*" gender")
        await settle(pilot)
        assert table_names(app) == ["Men", "Kyiv women"]
        search.value = ""
        await pilot.press(*"list")
        await settle(pilot)
        assert table_names(app) == ["VIP Київ"]
        await pilot.press("escape")
        assert app.main.table.has_focus


async def test_detail_pane_shows_condition_counts_refresh_origin_and_history(db, clock):
    ids = people(30)
    seg = dynamic("Kyiv women", "gender = female and region = Kyiv")
    clock.advance(hours=1)
    Contact.update(region="Kyiv", region_norm="kyiv").where(Contact.id == ids[1]).execute()
    from core.refresh import refresh
    refresh(seg, ME)
    from core.copy import copy
    copy(seg, ME)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, "Kyiv women")
        body = app.main.detail.text
        assert "gender = female and region = kyiv" in body.lower()
        assert "6 (6 active)" in body
        assert "2024-05-01 13:00 (manual)" in body
        assert "+1 joined, −0 left" in body
        assert "subscriptions none" in body
        assert app.main.query_one("#history").data == [5, 6]
        await select(pilot, "Copy of Kyiv women")
        body = app.main.detail.text
        assert 'copy of "Kyiv women"' in body


# ---- members ----------------------------------------------------------------------------

async def test_names_and_values_are_shown_as_they_are_never_as_markup_or_escapes(db):
    """A user's text is not Rich markup ("[/promo]" would be an error, "[b]" bold)
    and its control characters do not reach the terminal."""
    ids = make_contacts(3, first_name=lambda i: ("[b]Bold[/b]", "[/x] odd", "Eve\x1b[2J")[i])
    a_list("[/promo] VIP", ids)
    dynamic("Odd [/x]", 'first_name contains "[/x]"')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert {"[/promo] VIP", "Odd [/x]"} <= set(table_names(app))
        await select(pilot, "Odd [/x]")
        assert 'contains "[/x]"' in app.main.detail.text
        await select(pilot, "[/promo] VIP")
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MembersScreen) and screen.table.row_count == 3
        names = {str(cell) for i in range(3) for cell in screen.table.get_row_at(i)}
        assert {"[b]Bold[/b]", "[/x] odd", "Eve\\x1b[2J"} <= names
        assert not notes(app, "error")



async def test_members_view_shows_the_first_page_and_loads_more_as_you_scroll(db):
    ids = people(450)
    a_list("Everyone", ids)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MembersScreen)
        assert screen.table.row_count == 200
        assert screen.source.rows_fetched == 200
        assert str(screen.table.get_row_at(0)[0]) == "c0@example.com"
        await pilot.press("end")
        await settle(pilot)
        assert screen.table.row_count == 400
        await pilot.press("end")
        await settle(pilot)
        assert screen.table.row_count == 450 and screen.source.exhausted
        assert "450 of 450 shown; all shown" in str(screen.query_one("#members-status").render())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("enter")  # Enter on a row opens its members too
        await settle(pilot)
        assert isinstance(app.screen, MembersScreen)


# ---- new, edit, copy ---------------------------------------------------------------------

async def test_new_list(db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        assert isinstance(app.screen, NewSegmentDialog)
        await pilot.click("#kind-list")
        await fill(pilot, "#name", "Do not contact")
        await submit(pilot)
        seg = by_name("Do not contact")
        assert seg is not None and seg.kind == "list" and seg.created_by == "tui:tester"
        assert isinstance(app.screen, MainScreen)
        assert app.main.table.selected_id == seg.id
        assert any('Created the list "Do not contact"' in m for m in notes(app))


async def test_new_list_with_a_taken_name_is_refused_and_the_dialog_stays(db):
    a_list("VIP", [])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await pilot.click("#kind-list")
        await fill(pilot, "#name", "vip")
        await submit(pilot)
        assert isinstance(app.screen, NewSegmentDialog)
        assert any("exists already" in m for m in notes(app, "error"))
        assert "exists already" in str(app.screen.query_one("#dialog-message").render())
        assert Segment.select().count() == 1


async def test_a_refusal_that_quotes_control_characters_shows_them_as_escapes(db):
    """A pasted condition with an escape sequence: the dialog's error line (the
    language's message, which quotes the text) shows it as `\\x1b`, as the
    tables and notifications do; the terminal never gets it."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await new_dynamic(pilot, "Broken", "gender = \x1b]0;pwned\x07")
        assert isinstance(app.screen, NewSegmentDialog)
        shown = str(app.screen.query_one("#dialog-message").render())
        assert "\\x1b]0;pwned\\x07" in shown and "\x1b" not in shown, shown
        assert all("\x1b" not in m for m in notes(app, "error"))


async def test_condition_editor_checks_as_you_type_and_counts_in_a_worker(db):
    people(30)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await fill(pilot, "#name", "Kyiv big")
        await type_into(pilot, "#condition-input", "region = Kyiv and orders.totl > 100")
        message = str(app.screen.query_one("#condition-message").render())
        assert message.splitlines() == [
            "region = Kyiv and orders.totl > 100",
            "                  ^",
            'unknown field "orders.totl" at column 19 — did you mean "orders.total"?',
        ]
        assert app.screen.query_one(ConditionEditor).valid is False
        editor_input = app.screen.query_one("#condition-input", Input)
        editor_input.value = "region = Kyiv"
        await settle(pilot)
        assert str(app.screen.query_one("#condition-count").render()) == "10 contacts match (10 active)"
        assert "✓ region = Kyiv" in str(app.screen.query_one("#condition-message").render())
        await submit(pilot)
        seg = by_name("Kyiv big")
        assert seg.kind == "dynamic" and seg.member_count == 10
        assert any('Created "Kyiv big"' in m and "10 members" in m for m in notes(app))


async def test_a_bad_condition_is_refused_and_nothing_is_created(db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await new_dynamic(pilot, "Broken", "gender = robot")
        assert isinstance(app.screen, NewSegmentDialog)
        assert any("^" in m for m in notes(app, "error"))
        assert by_name("Broken") is None


async def test_new_dynamic_with_a_bad_interval_is_refused(db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await fill(pilot, "#name", "Hourly")
        await fill(pilot, "#condition-input", "gender = female")
        await fill(pilot, "#every", "soon")
        await submit(pilot)
        assert any("is not a duration" in m for m in notes(app, "error"))
        assert by_name("Hourly") is None


async def test_edit_changes_the_condition_with_live_count(db):
    people(30)
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot)
        assert isinstance(app.screen, EditConditionDialog)
        editor = app.screen.query_one(ConditionEditor)
        assert editor.value == "gender = female and region = Kyiv"
        assert editor.count == 5
        await fill(pilot, "#condition-input", "gender = female and region in (Kyiv, Lviv)")
        assert editor.count == 10
        await submit(pilot)
        assert isinstance(app.screen, MainScreen)
        seg = by_name("Kyiv women")
        assert seg.member_count == 10 and "Lviv" in seg.condition_text
        assert any("now selects 10 members (+5 joined, −0 left)" in m for m in notes(app))


async def test_edit_refuses_a_list_and_a_condition_that_refers_to_itself(db):
    people(30)
    a_list("VIP", [])
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("E")
        await fill(pilot, "#condition-input", 'in segment "Kyiv women"')
        await submit(pilot)
        assert isinstance(app.screen, EditConditionDialog)
        assert any("cannot refer to itself" in m for m in notes(app, "error"))
        await pilot.press("escape")
        await select(pilot, "VIP")
        await pilot.press("E")
        await fill(pilot, "#condition-input", "gender = male")
        await submit(pilot)
        assert any('"VIP" is a list' in m for m in notes(app, "error"))
        assert by_name("VIP").condition is None


async def test_copy_a_dynamic_segment(db):
    people(30)
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        assert isinstance(app.screen, CopyDialog)
        await submit(pilot)
        copy = by_name("Copy of Kyiv women")
        assert copy is not None and copy.member_count == 5
        assert app.main.table.selected_id == copy.id
        await pilot.press("c")
        await fill(pilot, "#name", "Kyiv women 2")
        await submit(pilot)
        assert by_name("Kyiv women 2") is not None


async def test_copy_of_a_list_is_refused_with_the_advice_to_export(db):
    a_list("VIP", [])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await submit(pilot)
        assert isinstance(app.screen, CopyDialog)
        assert any("cannot be copied; export it to a new list" in m for m in notes(app, "error"))
        assert Segment.select().count() == 1


# ---- split ----------------------------------------------------------------------------------

async def test_split_of_ten_contacts_is_refused_with_the_count(db):
    a_list("Ten", people(10))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        assert isinstance(app.screen, SplitDialog)
        await submit(pilot)
        message = '"Ten" has 10 contacts; a split needs more than 10'
        assert message in str(app.screen.query_one("#dialog-message").render())
        assert message in notes(app, "error")
        assert Segment.select().count() == 1


async def test_split_evenly_with_seed_and_stratify_warns_under_2000_active(db):
    src = a_list("Source", people(30))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("s")
        app.screen.query_one("#amount", Input).value = "3"
        await fill(pilot, "#seed", "42")
        app.screen.query_one("#by", Select).value = "gender"
        await submit(pilot)
        assert isinstance(app.screen, MainScreen)
        parts = [by_name(f"Source — {x}") for x in "ABC"]
        assert [p.member_count for p in parts] == [10, 10, 10]
        got = set()
        for p in parts:
            got |= {c for (c,) in Membership.select(Membership.contact).where(Membership.segment == p).tuples()}
        assert len(got) == 30
        assert any("with seed 42" in m for m in notes(app, "information"))
        assert any("may be unreliable" in m for m in notes(app, "warning"))
        assert src.id in [r["id"] for r in app.main.table.rows_by_id.values()]


async def test_split_by_percentages_and_counts_and_bad_sizes(db):
    a_list("Source", people(40))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, "Source")
        await pilot.press("s")
        await pilot.click("#mode-percents")
        await fill(pilot, "#amount", "50/30")
        await fill(pilot, "#names", "Big, Small")
        await submit(pilot)
        assert by_name("Big").member_count == 20 and by_name("Small").member_count == 12
        assert any("held out 8" in m for m in notes(app))
        await select(pilot, "Source")
        await pilot.press("s")
        await pilot.click("#mode-counts")
        await fill(pilot, "#amount", "100,200")
        await submit(pilot)
        assert "more than the 40 members" in str(app.screen.query_one("#dialog-message").render())
        app.screen.query_one("#amount", Input).value = "x/y"
        await submit(pilot)
        assert "not a list of counts" in notes(app, "error")[-1]
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


# ---- export ---------------------------------------------------------------------------------

async def test_export_to_a_new_list_and_to_a_csv_file(db, tmp_path):
    people(30)
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ExportDialog)
        await fill(pilot, "#where", "Kyiv women, May")
        await submit(pilot)
        frozen = by_name("Kyiv women, May")
        assert frozen.kind == "list" and frozen.member_count == 5
        await select(pilot, "Kyiv women")
        await pilot.press("e")
        await pilot.click("#to-csv")
        path = tmp_path / "kyiv.csv"
        await fill(pilot, "#where", str(path))
        await fill(pilot, "#fields", "email,region")
        await submit(pilot)
        rows = list(csv.reader(path.open(encoding="utf-8")))
        assert rows[0] == ["email", "region"] and len(rows) == 6
        await pilot.press("e")
        await fill(pilot, "#where", "Kyiv women, May")
        await submit(pilot)
        assert any("exists already" in m for m in notes(app, "error"))
        await pilot.click("#to-csv")
        app.screen.query_one("#where", Input).value = str(tmp_path / "no" / "such" / "dir.csv")
        await submit(pilot)
        assert any("does not exist" in m for m in notes(app, "error"))


# ---- empty and delete ----------------------------------------------------------------------

async def test_empty_a_list_keeps_the_contacts(db):
    ids = people(12)
    a_list("VIP", ids)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        assert isinstance(app.screen, EmptyDialog)
        await submit(pilot)
        assert by_name("VIP").member_count == 0 and Contact.select().count() == 12
        assert any('Emptied "VIP": 12 members removed' in m for m in notes(app))


async def test_empty_of_a_dynamic_segment_is_refused(db):
    people(30)
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await submit(pilot)
        assert any("cannot be emptied" in m for m in notes(app, "error"))
        assert by_name("Kyiv women").member_count == 5


async def test_delete_keeps_the_contacts(db):
    a_list("Old test", people(5))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        assert isinstance(app.screen, DeleteDialog)
        assert not app.screen.query_one("#confirm-name").display
        await submit(pilot)
        assert by_name("Old test") is None and Contact.select().count() == 5
        assert table_names(app) == []


async def test_delete_with_contacts_needs_the_name_typed(db):
    ids = people(12)
    a_list("Spam traps", ids[:4])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        await pilot.click("#with-contacts")
        await settle(pilot)
        assert app.screen.query_one(Checkbox).value
        assert app.screen.query_one("#confirm-name").display
        await submit(pilot)
        assert any("explicit confirmation" in m for m in notes(app, "error"))
        assert by_name("Spam traps") is not None and Contact.select().count() == 12
        await fill(pilot, "#confirm-name", "spam trapz")
        await submit(pilot)
        assert by_name("Spam traps") is not None
        app.screen.query_one("#confirm-name", Input).value = "Spam traps"
        await submit(pilot)
        assert by_name("Spam traps") is None and Contact.select().count() == 8
        assert any("deleted 4 contacts" in m for m in notes(app))


async def test_delete_of_a_segment_another_refers_to_is_refused_with_its_name(db):
    a_list("Do not contact", people(3))
    dynamic("Reachable", 'not in segment "Do not contact"')
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await select(pilot, "Do not contact")
        await pilot.press("d")
        await submit(pilot)
        assert any('the condition of "Reachable" refers to it' in m for m in notes(app, "error"))
        assert by_name("Do not contact") is not None


# ---- refresh ------------------------------------------------------------------------------

async def test_refresh_shows_progress_then_total_joined_left(db, clock, monkeypatch):
    import threading

    from core import refresh as refresh_mod

    ids = people(30)
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    Contact.update(region="Kyiv", region_norm="kyiv").where(Contact.id.in_(ids[:6])).execute()
    go = threading.Event()
    real = refresh_mod.refresh

    def held_refresh(*args, **kwargs):  # core works until the test lets it finish
        go.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(refresh_mod, "refresh", held_refresh)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        assert app.main.busy.display  # the progress bar shows while core works
        assert 'Refreshing "Kyiv women"' in str(app.main.query_one("#busy-label").render())
        await pilot.press("down", "up")  # and the screen still answers
        await pilot.press("r")
        assert any("Wait for it to finish" in m for m in notes(app, "warning"))
        go.set()
        await settle(pilot)
        assert not app.main.busy.display
        assert any('Refreshed "Kyiv women": 7 members, 2 joined, 0 left.' in m for m in notes(app))
        assert app.main.table.get_row_at(0)[3] == "7"


async def test_refresh_of_a_list_is_refused(db):
    a_list("VIP", [])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert any("nothing to refresh" in m for m in notes(app, "error"))
        assert not app.main.busy.display


# ---- add, remove -----------------------------------------------------------------------

async def test_add_and_remove_contacts_by_email(db):
    people(5)
    a_list("VIP", [])
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, EmailsDialog)
        await fill(pilot, "#emails", "c1@example.com, C2@Example.com nobody@example.com")
        await submit(pilot)
        assert by_name("VIP").member_count == 2
        assert any("Added 2 contacts" in m for m in notes(app))
        assert any("nobody@example.com" in m for m in notes(app, "warning"))
        await pilot.press("R")
        assert isinstance(app.screen, EmailsDialog) and not app.screen.adding
        await fill(pilot, "#emails", "c1@example.com")
        await submit(pilot)
        assert by_name("VIP").member_count == 1
        await pilot.press("a")
        await submit(pilot)
        assert any("type one or more emails" in m for m in notes(app, "error"))


async def test_add_to_a_dynamic_segment_is_refused(db):
    people(30)
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await fill(pilot, "#emails", "c0@example.com")
        await submit(pilot)
        assert any("its members follow its condition" in m for m in notes(app, "error"))
        assert by_name("Kyiv women").member_count == 5


# ---- import -----------------------------------------------------------------------------------

async def test_import_shows_progress_then_the_bad_rows(db, tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("email,first_name,birth_date\nann@example.com,Ann,1990-02-01\n"
                    "not-an-email,Bob,\nzoe@example.com,Zoe,2023-02-30\nkim@example.com,Kim,\n",
                    encoding="utf-8")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await fill(pilot, "#path", str(path))
        await fill(pilot, "#list", "Imported")
        await submit(pilot)
        await settle(pilot)
        assert isinstance(app.screen, ImportReportScreen)
        assert Contact.select().count() == 2
        assert by_name("Imported").member_count == 2
        bad = app.screen.query_one("#bad-rows", DataTable)
        assert [bad.get_row_at(i)[0] for i in range(bad.row_count)] == [3, 4]
        assert "2 created, 0 updated, 2 bad" in str(app.screen.query_one("#import-summary").render())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert "Imported" in table_names(app)


async def test_import_of_a_missing_file_is_an_error_notification(db, tmp_path):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await fill(pilot, "#path", str(tmp_path / "nope.csv"))
        await submit(pilot)
        await settle(pilot)
        assert any("no such file" in m for m in notes(app, "error"))
        assert not app.main.busy.display


# ---- why -------------------------------------------------------------------------------------------

async def test_why_shows_each_test_for_one_contact(db):
    people(30)
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        assert isinstance(app.screen, WhyDialog)
        await fill(pilot, "#email", "c3@example.com")
        await submit(pilot)
        text = str(app.screen.query_one("#why-result").render())
        assert "c3@example.com is IN" in text
        assert "✓ gender = female" in text and "✓ region = Kyiv" in text.replace("kyiv", "Kyiv")
        app.screen.query_one("#email", Input).value = "c0@example.com"
        await submit(pilot)
        text = str(app.screen.query_one("#why-result").render())
        assert "NOT in" in text and "✗ gender = female" in text
        app.screen.query_one("#email", Input).value = "ghost@example.com"
        await submit(pilot)
        assert any('no contact has the email "ghost@example.com"' in m for m in notes(app, "error"))


async def test_why_on_a_list_is_refused(db):
    a_list("VIP", people(2))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("w")
        await fill(pilot, "#email", "c0@example.com")
        await submit(pilot)
        assert any("is a list" in m for m in notes(app, "error"))


# ---- keys, footer, palette -----------------------------------------------------------------------

def test_every_key_has_an_id_and_a_help():
    keys = SEGMENT_KEYS + APP_KEYS
    assert all(b.id and b.tooltip and b.description for b in keys)
    assert len({b.id for b in keys}) == len(keys)
    assert {b.key for b in keys} >= {"n", "c", "s", "e", "x", "d", "r", "a", "R", "i", "w", "question_mark", "q"}


async def test_the_footer_lists_every_key_and_question_mark_lists_them_all(db):
    app = make_app()
    async with app.run_test(size=(180, 40)) as pilot:
        await settle(pilot)
        shown = {b.description for (_, b, enabled, _) in app.screen.active_bindings.values() if b.show}
        assert {b.description for b in SEGMENT_KEYS + APP_KEYS} <= shown
        await pilot.press("question_mark")
        assert isinstance(app.screen, KeysScreen)
        keys = app.screen.query_one(DataTable)
        listed = {keys.get_row_at(i)[0] for i in range(keys.row_count)}
        assert {"/", "n", "c", "s", "e", "x", "d", "r", "a", "R", "i", "w", "?", "q"} <= listed
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_the_command_palette_offers_every_operation(db):
    a_list("Ten", people(10))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"split")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SplitDialog)
        from tui.commands import SegmentaCommands
        names = [name for name, _, _ in SegmentaCommands(app.main)._commands()]
        assert len(names) == len(SEGMENT_KEYS) + len(APP_KEYS)


async def test_q_quits(db):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
    assert app.return_code == 0


# ---- the interface's own thread ----------------------------------------------------------------

async def test_the_interface_thread_never_queries_the_database(db, monkeypatch):
    import threading

    import peewee

    people(30)
    a_list("Ten", people(10, start=100))
    dynamic("Kyiv women", "gender = female and region = Kyiv")
    ui_thread = threading.current_thread()
    on_ui = []
    real = peewee.SqliteDatabase.execute_sql

    def watched(self, sql, *args, **kwargs):
        if threading.current_thread() is ui_thread:
            on_ui.append(sql)
        return real(self, sql, *args, **kwargs)

    monkeypatch.setattr(peewee.SqliteDatabase, "execute_sql", watched)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"kyiv", "escape", "m")
        await settle(pilot)
        await pilot.press("escape")
        search = app.main.query_one("#search", Input)
        search.value = ""
        await settle(pilot)
        await select(pilot, "Ten")
        await pilot.press("s", "ctrl+s")
        await settle(pilot)
        await pilot.press("escape", "n")
        await fill(pilot, "#name", "Lviv")
        await fill(pilot, "#condition-input", "region = Lviv")
        await submit(pilot)
        await pilot.press("r")
        await settle(pilot)
    monkeypatch.undo()
    assert on_ui == []
    assert by_name("Lviv").member_count == 14


# ---- a million members ------------------------------------------------------------------------

def million_member_list(database, n: int = 1_000_000) -> Segment:
    """N contacts by one set-based INSERT, and a list holding every one of them."""
    with database.atomic():
        database.execute_sql(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO contact (id, email, email_norm, status, created_at, updated_at) "
            "SELECT i, 'c' || i || '@example.com', 'c' || i || '@example.com', 'active', '2024-01-01', "
            "'2024-01-01 00:00:00' FROM n", (n,))
        seg = segments.create_list("Everyone", ME)
        database.execute_sql(
            "INSERT INTO membership (segment_id, contact_id, added_at) "
            "SELECT ?, id, '2024-01-01 00:00:00' FROM contact", (seg.id,))
        segments.set_member_count(seg)
    return Segment.get_by_id(seg.id)


@pytest.mark.slow
async def test_a_million_member_segment_shows_its_first_page_without_reading_every_row(db):
    seg = million_member_list(db)
    assert seg.member_count == 1_000_000
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.main.table.get_row_at(0)[3] == "1,000,000"
        await pilot.press("m")
        await settle(pilot)
        screen = app.screen
        page = screen.source.page_size
        assert str(screen.table.get_row_at(0)[0]) == "c1@example.com"
        assert 0 < screen.source.rows_fetched <= 2 * page  # the first pages, not a million rows
        assert screen.table.row_count == screen.source.rows_fetched
        before = screen.source.rows_fetched
        await pilot.press("end")  # scrolling to the end of what is shown reads one page more
        await settle(pilot)
        assert screen.source.rows_fetched == before + page
        assert "of 1,000,000 shown; more load as you scroll" in str(screen.query_one("#members-status").render())


# ---- the command ------------------------------------------------------------------------------

@pytest.fixture
def launched(monkeypatch):
    """`segmenta tui` up to the point where the app would take the terminal."""
    from core import config as config_mod

    monkeypatch.setattr(config_mod, "_current", None)
    started = []
    monkeypatch.setattr(SegmentaApp, "run", lambda self: started.append(self))
    yield started
    from core.store import close_database
    close_database()


def test_tui_demo_creates_the_demo_database_once_then_reuses_it(tmp_path, launched):
    from click.testing import CliRunner

    from core.cli.main import cli

    path = tmp_path / "demo.db"
    first = CliRunner().invoke(cli, ["tui", "--demo", "--demo-path", str(path)])
    assert first.exit_code == 0, first.output
    assert "Creating the demo database" in first.output
    app = launched[0]
    assert app.cfg.database_url == f"sqlite:///{path}"
    assert app.actor.face == "tui"
    contacts = Contact.select().count()
    assert contacts > 0 and Segment.select().count() >= 2
    again = CliRunner().invoke(cli, ["tui", "--demo", "--demo-path", str(path)])
    assert again.exit_code == 0 and "Creating" not in again.output
    assert Contact.select().count() == contacts


def test_tui_uses_the_root_groups_database(tmp_path, launched):
    from click.testing import CliRunner

    from core.cli.main import cli

    url = f"sqlite:///{tmp_path / 'mine.db'}"
    result = CliRunner().invoke(cli, ["--db", url, "tui"])
    assert result.exit_code == 0, result.output
    assert launched[0].cfg.database_url == url and launched[0].sub_title == url
