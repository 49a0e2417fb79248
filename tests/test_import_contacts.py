"""Importing contacts (operations.md, "Contacts"), on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from core import clock, config
from core.audit import Actor
from core.errors import BadInput, Refused
from core.imports import import_contacts
from core.store.models import AuditEntry, Contact, CustomValue, Interest, Membership, Order, Segment

ME = Actor("tester", "cli")
DATA = Path(__file__).parent / "data"
TODAY = dt.date(2025, 6, 15)
CFG = config.from_mapping({"custom_fields": {"score": "number", "joined": "date", "vip": "yesno", "tier": "text"}})


@pytest.fixture(autouse=True)
def fixed_today():
    old = clock.set_clock(clock.FixedClock(dt.datetime(2025, 6, 15, 9, 0)))
    yield
    clock.set_clock(old)


def write_csv(tmp_path, text: str, name="people.csv", encoding="utf-8") -> str:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return str(p)


def imp(path, **kw):
    return import_contacts(path, ME, cfg=kw.pop("cfg", CFG), **kw)


def contact(email) -> Contact:
    return Contact.get(Contact.email_norm == email.lower())


def dump() -> dict:
    """Every row a contacts or orders import can touch, in a stable order."""

    def rows(model, order):
        return [tuple(r) for r in model.select().order_by(*order).tuples()]

    return {
        "contact": rows(Contact, [Contact.id]),
        "interest": rows(Interest, [Interest.contact, Interest.value]),
        "custom": rows(CustomValue, [CustomValue.contact, CustomValue.key]),
        "order": rows(Order, [Order.id]),
        "membership": [tuple(r) for r in Membership.select(Membership.segment, Membership.contact)
                       .order_by(Membership.segment, Membership.contact).tuples()],
    }


# ---- bad rows ------------------------------------------------------------------

def test_bad_rows_are_reported_with_their_line_and_the_good_rows_go_in(db, tmp_path):
    path = write_csv(tmp_path, (
        "email,first_name,gender,birth_date,score\n"
        "ann@example.com,Ann,female,1990-05-01,10\n"      # 2 good
        ",Nobody,,,\n"                                     # 3 no email
        "not-an-email,Bad,,,\n"                            # 4 invalid email
        "cat@example.com,Cat,,2023-02-29,\n"               # 5 impossible date
        "dan@example.com,Dan,,,lots\n"                     # 6 a number that is not one
        "eve@example.com,Eve,robot,,\n"                    # 7 a choice that does not exist
        "fay@example.com,Fay,f,,2.5\n"                     # 8 good
    ))
    report = imp(path)
    assert [(b.line, b.reason) for b in report.bad_rows] == [
        (3, "no email"),
        (4, '"not-an-email" is not a valid email address'),
        (5, 'birth_date "2023-02-29" is not a real date'),
        (6, 'custom.score "lots" is not a number'),
        (7, 'gender "robot" is not one of female, male, other'),
    ]
    assert (report.created, report.updated, report.skipped) == (2, 0, 5)
    assert sorted(e for (e,) in Contact.select(Contact.email).tuples()) == ["ann@example.com", "fay@example.com"]


def test_line_numbers_count_the_lines_of_the_file(db, tmp_path):
    # a quoted value over two lines, and a blank line, still give file lines
    path = write_csv(tmp_path, 'email,city\n"a@x.org","Kyiv\nCentre"\n\nbad,Lviv\n')
    report = imp(path)
    assert [(b.line, b.reason) for b in report.bad_rows] == [(5, '"bad" is not a valid email address')]
    assert contact("a@x.org").city == "Kyiv\nCentre"


def test_a_row_with_too_few_values_is_bad(db, tmp_path):
    report = imp(write_csv(tmp_path, "email,city,region\na@x.org,Kyiv\nb@x.org,Lviv,Lviv,\n"))
    assert [(b.line, b.reason) for b in report.bad_rows] == [(2, "has 2 values but the header has 3 columns")]
    assert contact("b@x.org").region == "Lviv"  # a trailing empty value is harmless


def test_a_date_wrongly_written_is_bad(db, tmp_path):
    report = imp(write_csv(tmp_path, "email,birth_date\na@x.org,15/06/1990\n"))
    assert report.bad_rows[0].reason == 'birth_date "15/06/1990" is not a date; write it as YYYY-MM-DD'


# ---- reading the file -----------------------------------------------------------------

def test_bom_and_semicolon_file(db):
    report = imp(str(DATA / "contacts_bom_semicolon.csv"))
    assert (report.created, report.skipped) == (3, 0)
    olena = contact("olena@example.com")
    assert (olena.first_name, olena.city, olena.region) == ("Олена", "Київ", "Kyiv")
    assert olena.city_norm == "київ"
    assert olena.interests == "sport;Книги"
    assert contact("jan@example.com").last_name == "Wiśniewski"


def test_values_are_trimmed_and_empty_is_empty(db, tmp_path):
    imp(write_csv(tmp_path, "email,first_name,phone\n  Ann@Example.COM  ,  Ann ,   \n"))
    ann = contact("ann@example.com")
    assert (ann.email, ann.email_norm, ann.first_name, ann.phone, ann.phone_norm) == (
        "Ann@Example.COM", "ann@example.com", "Ann", None, None)


def test_every_text_field_has_its_norm_twin_and_birth_md(db, tmp_path):
    imp(write_csv(tmp_path,
                  "Email,Phone,First_Name,last_name,country,region,city,language,birth_date\n"
                  "a@x.org,+380 67,ÓLGA,ŁUKASZ,UA,Київ,ЛЬВІВ,UK,1992-02-29T10:30:00Z\n"))
    c = contact("a@x.org")
    assert (c.phone_norm, c.first_name_norm, c.last_name_norm, c.country_norm, c.region_norm, c.city_norm,
            c.language_norm) == ("+380 67", "ólga", "łukasz", "ua", "київ", "львів", "uk")
    assert c.birth_date == dt.date(1992, 2, 29) and c.birth_md == 229


def test_choices_are_read_without_case(db, tmp_path):
    imp(write_csv(tmp_path, (
        "email,gender,status\n"
        "a@x.org,F,BOUNCED\n"
        "b@x.org,Female,Unsubscribed\n"
        "c@x.org,m,\n"
        "d@x.org,MALE,active\n"
        "e@x.org,Other,\n"
        "f@x.org,,\n"
    )))
    got = dict(Contact.select(Contact.email, Contact.gender).tuples())
    assert got == {"a@x.org": "female", "b@x.org": "female", "c@x.org": "male", "d@x.org": "male",
                   "e@x.org": "other", "f@x.org": None}
    status = dict(Contact.select(Contact.email, Contact.status).tuples())
    assert status == {"a@x.org": "bounced", "b@x.org": "unsubscribed", "c@x.org": "active",
                      "d@x.org": "active", "e@x.org": "active", "f@x.org": "active"}


def test_a_status_that_does_not_exist_is_bad(db, tmp_path):
    report = imp(write_csv(tmp_path, "email,status\na@x.org,gone\n"))
    assert report.bad_rows[0].reason == 'status "gone" is not one of active, unsubscribed, bounced'


def test_interests_split_on_semicolon_or_bar(db, tmp_path):
    imp(write_csv(tmp_path, 'email,interests\na@x.org,"Sport; kids|Travel ;sport;;"\nb@x.org,\n'))
    a = contact("a@x.org")
    assert a.interests == "Sport;kids;Travel"
    rows = sorted(Interest.select(Interest.value, Interest.display).where(Interest.contact == a).tuples())
    assert rows == [("kids", "kids"), ("sport", "Sport"), ("travel", "Travel")]
    b = contact("b@x.org")
    assert b.interests is None and not Interest.select().where(Interest.contact == b).exists()


def test_custom_fields_are_typed_by_the_config(db, tmp_path):
    report = imp(write_csv(tmp_path, (
        "email,score,custom.joined,VIP,tier,Colour\n"
        "a@x.org,12.5,2024-01-31,Yes,Gold,Blue\n"
        "b@x.org,-3,2024-02-01 08:00,n,,\n"
        "c@x.org,1,2024-02-30,,,\n"
        "d@x.org,,,maybe,,\n"
    )))
    assert [(b.line, b.reason) for b in report.bad_rows] == [
        (4, 'custom.joined "2024-02-30" is not a real date'),
        (5, 'custom.vip "maybe" is not yes or no'),
    ]

    def custom(email):
        return {r.key: (r.text, r.norm, r.number, r.date, r.yesno)
                for r in CustomValue.select().where(CustomValue.contact == contact(email))}

    assert custom("a@x.org") == {
        "score": ("12.5", None, 12.5, None, None),
        "joined": ("2024-01-31", None, None, dt.date(2024, 1, 31), None),
        "vip": ("Yes", None, None, None, True),
        "tier": ("Gold", "gold", None, None, None),
        "colour": ("Blue", "blue", None, None, None),  # undeclared: text
    }
    assert custom("b@x.org") == {
        "score": ("-3", None, -3.0, None, None),
        "joined": ("2024-02-01 08:00", None, None, dt.date(2024, 2, 1), None),
        "vip": ("n", None, None, None, False),
    }


def test_no_email_column_is_refused(db, tmp_path):
    with pytest.raises(BadInput, match="no email column .*its header has: E-mail, name"):
        imp(write_csv(tmp_path, "E-mail,name\na@x.org,A\n"))


def test_a_column_named_twice_is_refused(db, tmp_path):
    with pytest.raises(BadInput, match='names "custom.tier" twice'):
        imp(write_csv(tmp_path, "email,tier,custom.tier\na@x.org,a,b\n"))


def test_a_file_that_is_not_utf8_is_refused_and_nothing_is_written(db, tmp_path):
    path = write_csv(tmp_path, "email,city\na@x.org,Kyiv\nb@x.org,Kraków\n", encoding="latin-1")
    with pytest.raises(BadInput, match=r"is not UTF-8 \(line 3"):
        imp(path)
    assert Contact.select().count() == 0


def test_an_empty_file_is_refused(db, tmp_path):
    with pytest.raises(BadInput, match="is empty"):
        imp(write_csv(tmp_path, ""))


# ---- upsert ---------------------------------------------------------------------------

def test_email_is_unique_without_case_and_the_last_row_wins(db, tmp_path):
    report = imp(write_csv(tmp_path, "email,city\nAnn@X.org,Kyiv\nann@x.org,Lviv\n"))
    assert (report.created, report.updated) == (1, 1)
    assert Contact.select().count() == 1
    assert (contact("ann@x.org").email, contact("ann@x.org").city) == ("ann@x.org", "Lviv")


def test_upsert_updates_the_columns_given_and_leaves_the_others_alone(db, tmp_path):
    imp(write_csv(tmp_path, "email,first_name,city,interests,tier,score\na@x.org,Ann,Kyiv,sport,gold,5\n", "1.csv"))
    report = imp(write_csv(tmp_path, "email,city,tier\nA@X.ORG,Lviv,\n", "2.csv"))
    assert (report.created, report.updated) == (0, 1)
    a = contact("a@x.org")
    assert (a.first_name, a.city, a.city_norm, a.interests) == ("Ann", "Lviv", "lviv", "sport")
    keys = {k for (k,) in CustomValue.select(CustomValue.key).where(CustomValue.contact == a).tuples()}
    assert keys == {"score"}  # tier was given empty: cleared; score was not given: kept
    imp(write_csv(tmp_path, "email,first_name,interests\na@x.org,,\n", "3.csv"))
    a = contact("a@x.org")
    assert (a.first_name, a.first_name_norm, a.interests) == (None, None, None)
    assert not Interest.select().where(Interest.contact == a).exists()


def test_created_at_is_honoured_else_today_and_kept_on_update(db, tmp_path):
    imp(write_csv(tmp_path, "email,created_at\na@x.org,2020-03-04 10:11:12\nb@x.org,\n", "1.csv"))
    assert contact("a@x.org").created_at == dt.date(2020, 3, 4)
    assert contact("b@x.org").created_at == TODAY
    clock.set_clock(clock.FixedClock(dt.datetime(2025, 7, 1)))
    imp(write_csv(tmp_path, "email,city\na@x.org,Kyiv\nb@x.org,Lviv\nc@x.org,Lviv\n", "2.csv"))
    imp(write_csv(tmp_path, "email,created_at\nb@x.org,\n", "3.csv"))
    assert contact("a@x.org").created_at == dt.date(2020, 3, 4)
    assert contact("b@x.org").created_at == TODAY
    assert contact("c@x.org").created_at == dt.date(2025, 7, 1)


def test_importing_the_same_file_twice_leaves_the_same_database(db, tmp_path):
    path = write_csv(tmp_path, (
        "email,first_name,gender,birth_date,interests,score,tier,status\n"
        "a@x.org,Ann,F,1990-02-28,sport|kids,1.5,gold,\n"
        "b@x.org,Bob,m,,travel,,,bounced\n"
        "bad,Bad,,,,,,\n"
    ))
    first = imp(path, list_name="Fair")
    before = dump()
    clock.set_clock(clock.FixedClock(dt.datetime(2025, 6, 20)))  # later, on another day
    second = imp(path, list_name="Fair")
    assert dump() == before
    assert (first.created, first.updated, second.created, second.updated) == (2, 0, 0, 2)
    assert [b.line for b in second.bad_rows] == [4]


def test_many_batches_give_the_same_result_as_one(db, tmp_path):
    lines = ["email,city,interests"] + [f"c{i % 7}@x.org,City {i},i{i}" for i in range(20)]
    path = write_csv(tmp_path, "\n".join(lines) + "\n")
    report = imp(path, batch_size=3)
    assert (report.rows, report.created, report.updated) == (20, 7, 13)
    assert contact("c6@x.org").city == "City 13"
    assert contact("c6@x.org").interests == "i13"


def test_a_batch_of_new_and_existing_contacts_gives_each_its_own_values(db, tmp_path):
    """Existing and new emails interleaved in one batch: each row's interests,
    custom values and list membership go to its own contact (new contacts are
    staged with the ids they are to get; the existing take their own)."""
    imp(write_csv(tmp_path, "email,interests,score\n" + "".join(f"old{i}@x.org,was{i},{i}\n" for i in range(0, 12, 2)),
                  "1.csv"))
    rows = [(f"old{i}@x.org" if i % 2 == 0 else f"new{i}@x.org", f"now{i}", i * 10) for i in range(12)]
    report = imp(write_csv(tmp_path, "email,interests,score\n" + "".join(f"{e},{t},{n}\n" for e, t, n in rows),
                           "2.csv"), list_name="Mixed")
    assert (report.created, report.updated, report.added_to_list) == (6, 6, 12)
    for email, interest, score in rows:
        c = contact(email)
        assert [i.value for i in Interest.select().where(Interest.contact == c)] == [interest]
        assert CustomValue.get((CustomValue.contact == c) & (CustomValue.key == "score")).number == score
    members = {m.contact_id for m in Membership.select().join(Segment).where(Segment.name == "Mixed")}
    assert members == {contact(e).id for e, _, _ in rows}
    known = {c.id for c in Contact.select(Contact.id)}
    assert {i.contact_id for i in Interest.select()} <= known  # nothing written for an id no contact has


# ---- strict, lists, audit ---------------------------------------------------------------

def test_strict_writes_nothing_when_a_row_is_bad(db, tmp_path):
    lines = ["email,city"] + [f"c{i}@x.org,Kyiv" for i in range(10)] + ["oops,Lviv"] + ["z@x.org,Lviv"]
    report = imp(write_csv(tmp_path, "\n".join(lines) + "\n"), strict=True, batch_size=4, list_name="Strict")
    assert not report.written
    assert [(b.line, b.reason) for b in report.bad_rows] == [(12, '"oops" is not a valid email address')]
    assert Contact.select().count() == 0
    assert not Segment.select().exists() and not AuditEntry.select().exists()


def test_strict_imports_a_good_file(db, tmp_path):
    report = imp(write_csv(tmp_path, "email\na@x.org\nb@x.org\n"), strict=True)
    assert report.written and report.created == 2


def test_importing_into_a_list_creates_it_and_adds_the_good_contacts(db, tmp_path):
    report = imp(write_csv(tmp_path, "email\na@x.org\nbad\nb@x.org\n"), list_name="Spring fair")
    seg = Segment.get(Segment.name == "Spring fair")
    assert seg.kind == "list" and report.added_to_list == 2
    members = {e for (e,) in Contact.select(Contact.email).join(Membership).where(Membership.segment == seg).tuples()}
    assert members == {"a@x.org", "b@x.org"}
    report = imp(write_csv(tmp_path, "email\nb@x.org\nc@x.org\n", "2.csv"), list_name="spring FAIR")
    assert report.added_to_list == 1 and Segment.get_by_id(seg.id).member_count == 3


def test_importing_into_a_dynamic_segment_is_refused(db, tmp_path):
    Segment.create(name="Dyn", name_norm="dyn", kind="dynamic", condition="{}")
    with pytest.raises(Refused, match="dynamic segment"):
        imp(write_csv(tmp_path, "email\na@x.org\n"), list_name="Dyn")
    assert Contact.select().count() == 0


def test_each_import_is_audited_with_its_counts(db, tmp_path):
    imp(write_csv(tmp_path, "email\na@x.org\nbad\n"), list_name="L")
    entry = AuditEntry.select().where(AuditEntry.operation == "import").get()
    assert (entry.actor, entry.face, entry.segment_name) == ("tester", "cli", "L")
    assert json.loads(entry.details) == {"kind": "contacts", "file": "people.csv", "rows": 2, "created": 1,
                                         "updated": 0, "skipped": 1, "list": "L", "added_to_list": 1}


def test_imported_contacts_join_dynamic_segments_at_once(db, tmp_path):
    segments = pytest.importorskip("core.segments")
    try:
        seg, _ = segments.create_dynamic("Kyiv women", "gender = female and region = Kyiv", ME, cfg=CFG)
    except ImportError as e:  # the condition language is not there yet
        pytest.skip(f"conditions not available: {e}")
    imp(write_csv(tmp_path, "email,gender,region\na@x.org,F,Kyiv\nb@x.org,m,Kyiv\n", "1.csv"))
    members = {e for (e,) in Contact.select(Contact.email).join(Membership).where(Membership.segment == seg).tuples()}
    assert members == {"a@x.org"}
    imp(write_csv(tmp_path, "email,region\na@x.org,Lviv\n", "2.csv"))
    assert not Membership.select().where(Membership.segment == seg).exists()


def test_a_blank_status_never_reactivates_an_existing_contact(db, tmp_path):
    from core.imports import import_contacts
    from core.audit import Actor
    from core.store.models import Contact

    f = tmp_path / "s.csv"
    f.write_text("email,status\nann@x.org,unsubscribed\nbob@x.org,\n", encoding="utf-8")
    import_contacts(str(f), Actor("t", "cli"))
    f.write_text("email,status,city\nann@x.org,,Lviv\n", encoding="utf-8")
    import_contacts(str(f), Actor("t", "cli"))
    got = dict(Contact.select(Contact.email_norm, Contact.status).tuples())
    assert got == {"ann@x.org": "unsubscribed", "bob@x.org": "active"}


def test_a_load_analyses_with_a_small_sample_as_it_goes_and_a_full_one_at_the_end(db, tmp_path, monkeypatch):
    """PostgreSQL: the analyses during an import take a tenth of the usual sample
    (each reads a page per row sampled); the import ends with one at the full
    sample, even when it wrote too little after the last to need one otherwise.
    SQLite, whose plans do not change during a load, is analysed once, at its end."""
    from tests.conftest import backend_of

    postgres = backend_of(db) == "postgres"
    analyses = []
    real = type(db).execute_sql

    def spy(self, sql, params=None, *a, **k):
        if sql == 'ANALYZE "contact"':
            analyses.append(int(real(self, "SHOW default_statistics_target").fetchone()[0]) if postgres else "all")
        return real(self, sql, params, *a, **k)

    monkeypatch.setattr(type(db), "execute_sql", spy)
    rows = "".join(f"p{i}@x.org,Kyiv\n" for i in range(10_500))
    imp(write_csv(tmp_path, "email,region\n" + rows), batch_size=500)
    monkeypatch.undo()
    assert Contact.select().count() == 10_500
    if not postgres:
        assert analyses == ["all"]
        return
    # in the load: once the 10,500 written passed 10,000; at its end: at the full sample
    assert analyses == [10, 100]
    (bounds,) = db.execute_sql("SELECT array_length(histogram_bounds, 1) FROM pg_stats "
                               "WHERE tablename = 'contact' AND attname = 'id'").fetchone()
    assert bounds == 101


def test_a_load_commits_its_batches_without_waiting_and_its_end_waiting(db, tmp_path, monkeypatch):
    """PostgreSQL: the batches' transactions commit without waiting for the disk;
    the last one, which says the import is done, waits as usual (and so puts
    every batch before it on disk). A strict import is one transaction, which
    waits. SQLite has no such setting: its commits are as always."""
    from core import imports
    from tests.conftest import backend_of

    seen = []
    real = imports._audit

    def spy(entry, actor, target, report, *, incomplete=False):
        out = real(entry, actor, target, report, incomplete=incomplete)
        if backend_of(db) == "postgres":
            seen.append((incomplete, db.execute_sql("SHOW synchronous_commit").fetchone()[0]))
        return out

    monkeypatch.setattr(imports, "_audit", spy)
    rows = "".join(f"p{i}@x.org,Kyiv\n" for i in range(30))
    imp(write_csv(tmp_path, "email,region\n" + rows), batch_size=10, commit_every=10)
    assert Contact.select().count() == 30
    if backend_of(db) == "postgres":
        assert seen == [(True, "off")] * 3 + [(False, "on")]
        seen.clear()
        imp(write_csv(tmp_path, "email,region\n" + rows.replace("Kyiv", "Lviv"), name="again.csv"),
            batch_size=10, commit_every=10, strict=True)
        assert seen == [(False, "on")]
    assert {c.region for c in Contact.select()} == ({"Lviv"} if backend_of(db) == "postgres" else {"Kyiv"})
