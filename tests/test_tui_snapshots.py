"""Snapshots of the terminal UI (pytest-textual-snapshot): the main screen, the
detail pane, the split dialog and the delete modal. Fixed data, a fixed clock
and a fixed terminal size make them the same on every run; after a deliberate
change of the screens, review and accept them with `pytest --snapshot-update`.
"""
from __future__ import annotations

import datetime as dt

import pytest
from textual.widgets import Input

from core import config, segments
from core.audit import Actor
from core.clock import FixedClock, set_clock
from core.copy import copy
from core.refresh import refresh
from core.store.models import Contact, Segment
from tests.factories import make_contacts
from tests.test_tui import settle
from tui.app import SegmentaApp

ME = Actor("tester", "tui")
SIZE = (160, 40)
CITIES = (("Kyiv", "Kyiv"), ("Lviv", "Lviv"), ("Odesa", "Odesa"), ("Warszawa", "Mazowieckie"))


@pytest.fixture
def shop(sqlite_db):
    """Forty contacts, a list, a dynamic segment with a history of refreshes, and a copy of it."""
    clock = FixedClock(dt.datetime(2024, 5, 1, 9, 0))
    old = set_clock(clock)
    ids = make_contacts(
        40,
        first_name=lambda i: ("Olena", "Taras", "Anna", "Marek")[i % 4],
        gender=lambda i: "female" if i % 2 == 0 else "male",
        city=lambda i: CITIES[i % 4][0],
        region=lambda i: CITIES[i % 4][1],
        status=lambda i: "unsubscribed" if i % 7 == 0 else "active",
    )
    vip = segments.create_list("VIP", ME)
    segments.add_contacts(vip, ids[:12], ME)
    seg, _ = segments.create_dynamic("Kyiv women", "gender = female and region = Kyiv", ME)
    for step in range(1, 6):  # the segment grows: a history for the sparkline
        clock.advance(days=1)
        Contact.update(region="Kyiv", region_norm="kyiv").where(Contact.id == ids[step * 2 + 2]).execute()
        refresh(Segment.get_by_id(seg.id), ME)
    clock.advance(hours=2)
    copy(Segment.get_by_id(seg.id), ME, name="Kyiv women, spring")
    segments.create_list("Ten", ME)
    segments.add_contacts(Segment.get(Segment.name == "Ten"), ids[:10], ME)
    yield
    set_clock(old)


def make_app() -> SegmentaApp:
    return SegmentaApp(config.Config(), ME, where="sqlite:///shop.db")


async def choose(pilot, name: str) -> None:
    table = pilot.app.main.table
    table.move_cursor(row=table.get_row_index(str(Segment.get(Segment.name == name).id)))
    await settle(pilot)


def steady_cursors(app) -> None:
    for field in app.screen.query(Input):
        field.cursor_blink = False


def test_main_screen(shop, snap_compare):
    async def ready(pilot):
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=ready)


def test_detail_pane_of_a_dynamic_segment_with_its_history(shop, snap_compare):
    async def ready(pilot):
        await settle(pilot)
        await choose(pilot, "Kyiv women")

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=ready)


def test_split_dialog_shows_the_refusal(shop, snap_compare):
    async def ready(pilot):
        await settle(pilot)
        await choose(pilot, "Ten")
        await pilot.press("s")
        await settle(pilot)
        steady_cursors(pilot.app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        pilot.app.clear_notifications()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=ready)


def test_delete_modal_asks_for_the_name_when_contacts_go_too(shop, snap_compare):
    async def ready(pilot):
        await settle(pilot)
        await choose(pilot, "VIP")
        await pilot.press("d")
        await settle(pilot)
        await pilot.click("#with-contacts")
        await settle(pilot)
        steady_cursors(pilot.app)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=ready)
