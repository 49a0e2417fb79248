"""Segment operations (operations.md), on SQLite and PostgreSQL."""
import csv
import io

import pytest

from core import audit, segments
from core.audit import Actor
from core.copy import copy
from core.delete import delete, empty
from core.errors import BadInput, Conflict, NotFound, Refused
from core.export import to_csv, to_list, write_csv
from core.search import search
from core.show import show
from core.split import SplitPlan, split
from core.store.models import Contact, CustomValue, Interest, Membership, MembershipChange, Order, Segment
from tests.factories import make_contacts

ME = Actor("tester", "cli")


def a_list(name, ids):
    seg = segments.create_list(name, ME)
    segments.add_contacts(seg, ids, ME)
    return Segment.get_by_id(seg.id)


def members(seg):
    return {c for (c,) in Membership.select(Membership.contact).where(Membership.segment == seg).tuples()}


# ---- names and lookup ---------------------------------------------------------

def test_names_are_unique_without_case_in_any_script(db):
    segments.create_list("Київ VIP", ME)
    with pytest.raises(Conflict):
        segments.create_list("київ vip", ME)


def test_a_segment_is_found_by_name_or_id(db):
    seg = segments.create_list("Do not contact", ME)
    assert segments.resolve("do NOT contact").id == seg.id
    assert segments.resolve(f"#{seg.id}").id == seg.id
    assert segments.resolve(str(seg.id)).id == seg.id
    with pytest.raises(NotFound, match='did you mean "Do not contact"'):
        segments.resolve("Do not contakt")


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "x" * 201, "#12", "12"])
def test_bad_names_are_refused(db, bad):
    with pytest.raises(BadInput):
        segments.create_list(bad, ME)


# ---- search ------------------------------------------------------------------

def test_search_by_part_of_name_any_script_and_kind(db):
    a = segments.create_list("Київ VIP", ME)
    segments.create_list("Warsaw VIP", ME)
    segments.create_list("Other", ME)
    assert [r["name"] for r in search("КИЇВ")] == ["Київ VIP"]
    assert {r["name"] for r in search("vip")} == {"Київ VIP", "Warsaw VIP"}
    assert [r["name"] for r in search(f"#{a.id}")] == ["Київ VIP"]
    assert [r["name"] for r in search(kind="list", sort="name")] == ["Other", "Warsaw VIP", "Київ VIP"]
    assert search(kind="dynamic") == []
    assert {r["name"] for r in search("list")} == {"Київ VIP", "Warsaw VIP", "Other"}  # by kind
    assert search("dynamic") == []
    assert [r["name"] for r in search()][0] == "Other"  # newest first


def test_search_sorts_by_size(db):
    ids = make_contacts(5)
    a_list("small", ids[:1])
    a_list("big", ids)
    assert [r["name"] for r in search(sort="size")] == ["big", "small"]
    assert search(sort="size")[0]["members"] == 5


def test_search_refuses_unknown_sort(db):
    with pytest.raises(BadInput):
        search(sort="colour")


# ---- copy ----------------------------------------------------------------------

def test_copy_of_a_list_is_refused_with_advice_to_export(db):
    seg = segments.create_list("L", ME)
    with pytest.raises(Refused, match="export it to a new list"):
        copy(seg, ME)


# ---- split -----------------------------------------------------------------------

def test_split_refuses_ten_contacts(db):
    seg = a_list("Ten", make_contacts(10))
    with pytest.raises(Refused, match="has 10 contacts; a split needs more than 10"):
        split(seg, SplitPlan(parts=2), ME)
    assert Segment.select().count() == 1


def test_split_of_eleven_goes_ahead_with_a_warning(db):
    seg = a_list("Eleven", make_contacts(11))
    result = split(seg, SplitPlan(parts=2), ME, seed=1)
    assert "unreliable" in result.warning
    assert sorted(p["members"] for p in result.parts) == [5, 6]
    assert [p["name"] for p in result.parts] == ["Eleven — A", "Eleven — B"]


def test_split_evenly_sizes_differ_by_at_most_one_and_partition(db):
    ids = make_contacts(103)
    seg = a_list("Src", ids)
    result = split(seg, SplitPlan(parts=4), ME, seed=7)
    parts = [members(Segment.get_by_id(p["id"])) for p in result.parts]
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert set().union(*parts) == set(ids)
    assert sum(sizes) == len(ids)


def test_split_is_repeatable_by_seed_and_records_it(db):
    ids = make_contacts(60)
    seg = a_list("Src", ids)
    one = split(seg, SplitPlan(parts=2), ME, seed=42)
    two = split(seg, SplitPlan(parts=2), ME, seed=42, names=["X", "Y"])
    other = split(seg, SplitPlan(parts=2), ME, seed=43, names=["P", "Q"])
    a1, a2, a3 = (members(Segment.get_by_id(r.parts[0]["id"])) for r in (one, two, other))
    assert a1 == a2
    assert a1 != a3
    info = show(Segment.get_by_id(one.parts[1]["id"]))
    assert info["origin"]["text"] == 'part B of a split of "Src" with seed 42'


def test_split_by_percentages_leaves_a_hold_out(db):
    ids = make_contacts(200)
    seg = a_list("Src", ids)
    result = split(seg, SplitPlan(percents=[10, 20]), ME, seed=3)
    assert [p["members"] for p in result.parts] == [20, 40]
    assert result.held_out == 140


def test_split_by_counts_is_exact_and_refuses_more_than_members(db):
    seg = a_list("Src", make_contacts(30))
    result = split(seg, SplitPlan(counts=[5, 7]), ME, seed=3)
    assert [p["members"] for p in result.parts] == [5, 7]
    with pytest.raises(Refused, match="more than the 30 members"):
        split(seg, SplitPlan(counts=[20, 20]), ME, names=["m", "n"])


def test_split_over_100_percent_is_refused(db):
    seg = a_list("Src", make_contacts(30))
    with pytest.raises(Refused, match="over 100%"):
        split(seg, SplitPlan(percents=[60, 50]), ME)
    assert Segment.select().count() == 1


def test_split_stratified_keeps_the_mix(db):
    genders = ["female"] * 70 + ["male"] * 50 + [None] * 13
    ids = make_contacts(133, gender=lambda i: genders[i])
    seg = a_list("Src", ids)
    result = split(seg, SplitPlan(parts=3), ME, seed=5, by="gender")
    for p in result.parts:
        got = {}
        for (g,) in Contact.select(Contact.gender).join(Membership).where(Membership.segment == p["id"]).tuples():
            got[g] = got.get(g, 0) + 1
        for value, total in (("female", 70), ("male", 50), (None, 13)):
            assert abs(got.get(value, 0) - total * p["members"] / 133) < 1


def _hash(seed: int, cid: int) -> int:
    """core.split's key, in Python: the law the SQL must keep on both backends."""
    from core.split import _P

    a, b = 1 + seed % (_P - 1), (seed * 7919 + 12345) % _P
    x = (cid * a + b) % _P
    x = (x * x + 1013904223) % _P
    return (x * x + (seed % 1000003) + 97) % _P


def _expected_parts(ids, stratum_of, quotas_by_stratum, seed):
    """Each stratum's members ranked by (hash, id); each part a run of those ranks."""
    parts = {}
    for value, quotas in quotas_by_stratum.items():
        ranked = sorted((i for i in ids if stratum_of[i] == value), key=lambda i: (_hash(seed, i), i))
        start = 0
        for j, q in enumerate(quotas):
            parts.setdefault(j, set()).update(ranked[start : start + q])
            start += q
    return parts


@pytest.mark.parametrize("case_ends", [300, 0], ids=["by CASE", "by join"])
def test_split_parts_are_runs_of_the_seeds_ranking_within_each_stratum(db, monkeypatch, case_ends):
    """However the members are placed (a CASE over the parts' ends, or a join with a
    table of runs when the ends are many), the parts are the runs of each
    stratum's ranking by the seed's hash: the same as ranking in Python."""
    import core.split as split_mod

    monkeypatch.setattr(split_mod, "CASE_ENDS", case_ends)
    regions = ["Kyiv", "Lviv", "Warsaw", None, "O'Brien's \\ town"]
    ids = make_contacts(157, region=lambda i: regions[i % 5] if i % 7 else regions[i % 3])
    seg = a_list("Src", ids)
    result = split(seg, SplitPlan(percents=[30, 30, 20]), ME, seed=11, by="region")
    region_of = {c.id: (c.region_norm or "") for c in Contact.select().where(Contact.id.in_(ids))}
    strata = {}
    for i in ids:
        strata[region_of[i]] = strata.get(region_of[i], 0) + 1
    values = sorted(strata)
    sizes = [p["members"] for p in result.parts] + [result.held_out]
    quotas = split_mod.round_matrix([strata[v] for v in values], sizes)
    expected = _expected_parts(ids, region_of, dict(zip(values, quotas)), seed=11)
    got = [members(Segment.get_by_id(p["id"])) for p in result.parts]
    assert got == [expected[j] for j in range(3)]
    plain = split(seg, SplitPlan(counts=[40, 50, 60]), ME, seed=12, names=["p", "q", "r"])
    expected = _expected_parts(ids, dict.fromkeys(ids, ""), {"": [40, 50, 60, 7]}, seed=12)
    assert [members(Segment.get_by_id(p["id"])) for p in plain.parts] == [expected[j] for j in range(3)]


@pytest.mark.parametrize("case_ends", [300, 0], ids=["by CASE", "by join"])
def test_a_stratum_wholly_held_out_places_none_of_its_members(db, monkeypatch, case_ends):
    """One man among a hundred women, two parts of two: his share rounds to the
    hold-out, so his stratum has no part's end, and he is in no part — however
    the members are placed, and though his hash, for this seed, comes before
    every woman's (compared with theirs, he would be first in part A)."""
    import core.split as split_mod

    monkeypatch.setattr(split_mod, "CASE_ENDS", case_ends)
    ids = make_contacts(101, gender=lambda i: "male" if i == 0 else "female")
    man, women = ids[0], ids[1:]
    seed = next(s for s in range(10_000) if _hash(s, man) < min(_hash(s, w) for w in women))
    seg = a_list("Src", ids)
    quotas = split_mod.round_matrix([100, 1], [2, 2, 97])  # female, male: parts A, B, the hold-out
    assert quotas[1] == [0, 0, 1]
    result = split(seg, SplitPlan(counts=[2, 2]), ME, seed=seed, by="gender")
    parts = [members(Segment.get_by_id(p["id"])) for p in result.parts]
    assert [len(x) for x in parts] == [2, 2] and result.held_out == 97
    assert man not in parts[0] | parts[1]
    assert parts == [set(sorted(women, key=lambda w: (_hash(seed, w), w))[a:b]) for a, b in ((0, 2), (2, 4))]


def test_a_split_by_a_field_of_many_values_places_by_a_table_of_runs(db):
    """210 cities of two contacts, two parts: 420 parts' ends, more than a CASE
    takes (CASE_ENDS), so the members are placed by a join with a table of runs,
    of 420 rows; each part holds one contact of each city."""
    import core.split as split_mod

    ids = make_contacts(420, city=lambda i: f"City {i // 2:03d}")
    seg = a_list("Src", ids)
    result = split(seg, SplitPlan(parts=2), ME, seed=9, by="city")
    assert 420 > split_mod.CASE_ENDS
    city_of = {c.id: c.city_norm for c in Contact.select().where(Contact.id.in_(ids))}
    expected = _expected_parts(ids, city_of, {c: [1, 1] for c in set(city_of.values())}, seed=9)
    got = [members(Segment.get_by_id(p["id"])) for p in result.parts]
    assert got == [expected[0], expected[1]]
    assert sorted(city_of[i] for i in got[0]) == sorted(set(city_of.values()))


def test_a_list_made_with_members_shows_its_size_from_birth(db):
    """A split's parts and an export list record their size at birth once, not a
    history row per member; show's size over time starts there and follows the
    changes made to them afterwards."""
    ids = make_contacts(40)
    seg = a_list("Src", ids)
    result = split(seg, SplitPlan(parts=2), ME, seed=3)
    part = Segment.get_by_id(result.parts[0]["id"])
    snapshot, n = to_list(seg, "Snapshot", ME)
    assert MembershipChange.select().where(MembershipChange.segment.in_([part.id, snapshot.id])).count() == 0
    assert [h["size"] for h in show(part)["history"]] == [20]
    assert [h["size"] for h in show(snapshot)["history"]] == [40]
    outsider = [i for i in ids if i not in members(part)][:3]
    segments.add_contacts(part, outsider, ME)
    segments.remove_contacts(snapshot, ids[:5], ME)
    assert [h["size"] for h in show(Segment.get_by_id(part.id))["history"]] == [23]  # the same day
    assert [h["size"] for h in show(Segment.get_by_id(snapshot.id))["history"]] == [35]
    assert {(c.contact_id, c.change) for c in MembershipChange.select().where(MembershipChange.segment == part)} == {
        (i, "joined") for i in outsider}


def test_split_names_must_match_parts(db):
    seg = a_list("Src", make_contacts(20))
    with pytest.raises(BadInput, match="give 2 names"):
        split(seg, SplitPlan(parts=2), ME, names=["only one"])


def test_split_that_fails_midway_leaves_the_database_as_before(db, monkeypatch):
    seg = a_list("Src", make_contacts(40))
    before = (Segment.select().count(), Membership.select().count(), MembershipChange.select().count())
    import core.split as split_mod

    calls = {"n": 0}
    real = split_mod.segments.set_member_count

    def boom(s, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected crash")
        return real(s, **kw)

    monkeypatch.setattr(split_mod.segments, "set_member_count", boom)
    with pytest.raises(RuntimeError):
        split(seg, SplitPlan(parts=3), ME, seed=1)
    assert (Segment.select().count(), Membership.select().count(), MembershipChange.select().count()) == before


# ---- export ------------------------------------------------------------------

def test_export_to_list_keeps_members_when_the_source_changes(db):
    ids = make_contacts(12)
    src = a_list("Src", ids)
    target, n = to_list(src, "Snapshot", ME)
    assert n == 12
    segments.remove_contacts(src, ids[:5], ME)
    assert members(target) == set(ids)
    assert show(target)["origin"]["text"] == 'export of "Src"'


def test_export_to_csv_all_fields_by_default_with_custom_and_interests(db, tmp_path):
    ids = make_contacts(3, region="Київ", interests="sport;kids")
    Interest.insert_many([{"contact": i, "value": v, "display": v} for i in ids for v in ("sport", "kids")]).execute()
    CustomValue.create(contact=ids[0], key="tier", text="gold", norm="gold")
    src = a_list("Src", ids)
    path = tmp_path / "out.csv"
    assert to_csv(src, path, ME) == 3
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert rows[0]["email"] == "c0@example.com"
    assert rows[0]["region"] == "Київ"
    assert rows[0]["interests"] == "kids;sport"
    assert rows[0]["custom.tier"] == "gold" and rows[1]["custom.tier"] == ""
    assert "birth_date" in rows[0] and "status" in rows[0]


@pytest.mark.parametrize("many", [True, False])
def test_export_to_csv_gives_each_member_its_own_interests_in_order(db, monkeypatch, many):
    """PostgreSQL joins every contact's interests in one pass for a big segment and
    looks them up one member at a time for a small one: the same file either way."""
    import core.export

    monkeypatch.setattr(core.export, "_many", lambda seg: many)
    ids = make_contacts(4)
    given = {ids[0]: ["travel", "Kids", "sport"], ids[1]: [], ids[2]: ["ßport"], ids[3]: ["zoo", "art"]}
    Interest.insert_many([{"contact": i, "value": v.casefold(), "display": v}
                          for i, shown in given.items() for v in shown]).execute()
    for i, shown in given.items():  # the text kept beside the rows, as given
        Contact.update(interests=";".join(shown) or None).where(Contact.id == i).execute()
    src = a_list("Src", ids[:3])  # the fourth is no member: its interests stay out
    out = io.StringIO()
    assert write_csv(src, out, ["email", "interests"]) == 3
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [["email", "interests"], ["c0@example.com", "Kids;sport;travel"], ["c1@example.com", ""],
                    ["c2@example.com", "ßport"]]


def test_export_to_csv_chosen_columns(db):
    src = a_list("Src", make_contacts(2, first_name="Ann"))
    out = io.StringIO()
    write_csv(src, out, ["email", "first_name"])
    assert out.getvalue().splitlines() == ["email,first_name", "c0@example.com,Ann", "c1@example.com,Ann"]
    with pytest.raises(BadInput, match="not a contact field"):
        write_csv(src, io.StringIO(), ["shoe_size"])


# ---- empty and delete -----------------------------------------------------------------

def test_empty_removes_members_and_keeps_contacts(db):
    ids = make_contacts(5)
    seg = a_list("L", ids)
    assert empty(seg, ME) == 5
    assert members(seg) == set()
    assert Contact.select().count() == 5
    assert Segment.get_by_id(seg.id).member_count == 0


def test_delete_keeps_contacts_by_default(db):
    seg = a_list("L", make_contacts(5))
    delete(seg, ME)
    assert Segment.select().count() == 0 and Contact.select().count() == 5


def test_delete_with_contacts_removes_exactly_the_members_rows(db):
    ids = make_contacts(10)
    doomed, kept = ids[:4], ids[4:]
    import datetime as dt

    for i, cid in enumerate(ids):
        Order.create(order_id=f"o{i}", contact=cid, total=100, created_at=dt.date(2024, 1, 1))
        Interest.create(contact=cid, value="sport", display="sport")
    seg = a_list("Doomed", doomed)
    other = a_list("Other", [doomed[0], kept[0]])
    with pytest.raises(Refused, match="confirmation"):
        delete(seg, ME, with_contacts=True)
    result = delete(seg, ME, with_contacts=True, confirmed=True)
    assert result["contacts_deleted"] == 4
    assert {c for (c,) in Contact.select(Contact.id).tuples()} == set(kept)
    assert {o.contact_id for o in Order.select()} == set(kept)
    assert {i.contact_id for i in Interest.select()} == set(kept)
    assert members(other) == {kept[0]}
    assert Segment.get_by_id(other.id).member_count == 1


def test_delete_that_fails_midway_leaves_the_database_as_before(db, monkeypatch):
    ids = make_contacts(8)
    seg = a_list("Doomed", ids)
    import core.delete as delete_mod

    def boom(*a, **k):
        raise RuntimeError("injected crash")

    monkeypatch.setattr(delete_mod.audit, "record", boom)
    with pytest.raises(RuntimeError):
        delete(seg, ME, with_contacts=True, confirmed=True)
    assert Contact.select().count() == 8 and members(seg) == set(ids)


# ---- add / remove, audit -----------------------------------------------------------------

def test_add_and_remove_report_unknown_emails(db):
    make_contacts(3)
    seg = segments.create_list("L", ME)
    found, missing = segments.contact_ids_for_emails(["C0@Example.com", "nobody@x.org"])
    assert missing == ["nobody@x.org"]
    assert segments.add_contacts(seg, found.values(), ME) == 1
    assert segments.add_contacts(seg, found.values(), ME) == 0  # already a member
    assert segments.remove_contacts(seg, found.values(), ME) == 1


def test_every_change_is_in_the_audit_trail_with_who_and_face(db):
    seg = a_list("L", make_contacts(12))
    split(seg, SplitPlan(parts=2), Actor("U123", "slack"), seed=1)
    empty(seg, Actor("ann", "tui"))
    entries = audit.read(10)
    ops = [(e["operation"], e["actor"], e["face"]) for e in entries]
    assert ("empty", "ann", "tui") in ops
    assert ("split", "U123", "slack") in ops
    assert ("add", "tester", "cli") in ops
    assert all(e["at"] for e in entries)


def test_export_joins_the_interests_in_one_pass_only_for_a_big_segment(db):
    """A quarter of the contacts or more, counted by the largest id when the
    contacts were never analysed (PostgreSQL's estimate is then unknown)."""
    from core.export import _many

    ids = make_contacts(8)
    assert _many(a_list("Two", ids[:2]))
    assert not _many(a_list("One", ids[:1]))
