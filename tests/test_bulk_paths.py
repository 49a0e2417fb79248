"""The fast paths of import, export and split (docs/scaling.md) give exactly
what the plain reading of operations.md says, on SQLite and PostgreSQL:
new and existing contacts in one batch, ids known without looking each up,
interests through JSON, many custom columns, redundant indexes gone."""
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from core import clock, config, export, segments
from core.audit import Actor
from core.imports import import_contacts, import_orders
from core.store import backend, database
from core.store.models import Contact, CustomValue, Interest, Membership, Order, OrderTotals
from core.store.schema import _REDUNDANT_INDEXES
from tests.test_import_contacts import CFG, write_csv

ME = Actor("tester", "cli")


@pytest.fixture(autouse=True)
def fixed_today():
    old = clock.set_clock(clock.FixedClock(dt.datetime(2025, 6, 15, 9, 0)))
    yield
    clock.set_clock(old)


def interests_of(email: str) -> list[tuple[str, str]]:
    c = Contact.get(Contact.email_norm == email)
    return sorted(Interest.select(Interest.value, Interest.display).where(Interest.contact == c).tuples())


def test_new_and_existing_contacts_in_one_batch_each_keep_their_own_values(db, tmp_path):
    import_contacts(write_csv(tmp_path, "email,city,interests,tier\nb@x.org,Lviv,kids,gold\n"
                                        "d@x.org,Kyiv,sport,silver\n", "1.csv"), ME, cfg=CFG)
    report = import_contacts(write_csv(tmp_path, (
        "email,city,interests,tier\n"
        "a@x.org,Odesa,travel|books,bronze\n"  # new
        "b@x.org,Dnipro,music,\n"              # exists: interests and tier replaced, tier cleared
        "c@x.org,Kharkiv,,gold\n"              # new
        "d@x.org,Lutsk,\"Ski; \"\"Quotes\"\"; Київ\",\n"  # exists
    ), "2.csv"), ME, cfg=CFG, batch_size=10)
    assert (report.created, report.updated) == (2, 2)
    cities = dict(Contact.select(Contact.email_norm, Contact.city).tuples())
    assert cities == {"a@x.org": "Odesa", "b@x.org": "Dnipro", "c@x.org": "Kharkiv", "d@x.org": "Lutsk"}
    assert interests_of("a@x.org") == [("books", "books"), ("travel", "travel")]
    assert interests_of("b@x.org") == [("music", "music")]
    assert interests_of("c@x.org") == []
    assert interests_of("d@x.org") == [('"quotes"', '"Quotes"'), ("ski", "Ski"), ("київ", "Київ")]
    tiers = {e: t for e, t in CustomValue.select(Contact.email_norm, CustomValue.text).join(Contact).tuples()}
    assert tiers == {"a@x.org": "bronze", "c@x.org": "gold"}


def test_a_contact_created_in_a_batch_gets_its_own_id_whatever_came_before(db, tmp_path):
    # ids not starting at 1, and a gap: the new ids still belong to the right emails
    import_contacts(write_csv(tmp_path, "email\n" + "".join(f"old{i}@x.org\n" for i in range(5)), "1.csv"), ME)
    Contact.delete().where(Contact.email_norm == "old4@x.org").execute()
    import_contacts(write_csv(tmp_path, "email,interests\n" + "".join(f"n{i}@x.org,i{i}\n" for i in range(30)),
                              "2.csv"), ME, batch_size=7)
    for i in range(30):
        assert interests_of(f"n{i}@x.org") == [(f"i{i}", f"i{i}")]


def test_a_batch_of_orders_with_new_moved_and_repeated_orders(db, tmp_path):
    import_contacts(write_csv(tmp_path, "email\nann@x.org\nbob@x.org\n", "p.csv"), ME)
    import_orders(write_csv(tmp_path, "order_id,email,total,created_at\no1,ann@x.org,10,2025-01-01\n", "1.csv"), ME)
    report = import_orders(write_csv(tmp_path, (
        "order_id,email,total,created_at\n"
        "o2,ann@x.org,5,2025-01-02\n"    # new
        "o1,bob@x.org,7,2025-02-01\n"    # moved from ann to bob
        "o3,bob@x.org,1,2025-02-02\n"    # new, and repeated below: the last row wins
        "o3,bob@x.org,2,2025-02-03\n"
    ), "2.csv"), ME)
    assert (report.created, report.updated) == (2, 2)
    totals = {c.email_norm: c.orders_total for c in Contact.select()}
    assert totals == {"ann@x.org": 500, "bob@x.org": 900}


@pytest.fixture
def copies(monkeypatch):
    """The tables written straight by COPY (PostgreSQL's direct path), in order."""
    from core import bulk, contacts

    seen = []
    real = bulk.copy_rows

    def recording(table, columns, rows):
        seen.append(table.strip('"'))
        return real(table, columns, rows)

    monkeypatch.setattr(contacts, "copy_rows", recording)
    monkeypatch.setattr(bulk, "copy_rows", recording)
    return seen


def test_new_contacts_go_straight_in_and_the_first_that_exists_turns_the_file_to_upserts(db, tmp_path, copies):
    """A batch of new contacts is written by COPY into the contacts, their interests and
    custom values (PostgreSQL); from the first batch with a contact that exists, the
    staged upsert; a batch all new after it is looked up first, and goes straight in
    again. Whichever way, the same values (the staged way is SQLite's)."""
    import_contacts(write_csv(tmp_path, "email,city,interests,tier\nold@x.org,Lviv,kids,gold\n", "1.csv"), ME,
                    cfg=CFG)
    copies.clear()
    report = import_contacts(write_csv(tmp_path, (
        "email,city,interests,tier,status,created_at\n"
        "a@x.org,Odesa,travel|books,bronze,,\n"          # batch 1: new
        "b@x.org,Kyiv,,,unsubscribed,2020-02-02\n"
        "c@x.org,Lutsk,music,silver,,\n"                 # batch 2: one new,
        "old@x.org,Dnipro,sport,,,\n"                    # one exists (interests and tier replaced)
        "d@x.org,Rivne,\"Ski; \"\"Quotes\"\"\",7,,\n"  # batch 3: new again
        "e@x.org,Kherson,,,,\n"
    ), "2.csv"), ME, cfg=CFG, batch_size=2)
    assert (report.created, report.updated) == (5, 1)
    if backend() == "postgres":
        # batch 1 straight in; batch 2 tried, undone, staged; batch 3 straight in (the ids
        # of a batch straight in are staged only for a reader: there is none here)
        assert copies == ["contact", "interest", "custom_value",
                          "contact", "import_contact", "import_custom",
                          "contact", "interest", "custom_value"]
    rows = {c.email_norm: (c.city, c.status, str(c.created_at)) for c in Contact.select()}
    assert rows == {"old@x.org": ("Dnipro", "active", "2025-06-15"), "a@x.org": ("Odesa", "active", "2025-06-15"),
                    "b@x.org": ("Kyiv", "unsubscribed", "2020-02-02"), "c@x.org": ("Lutsk", "active", "2025-06-15"),
                    "d@x.org": ("Rivne", "active", "2025-06-15"), "e@x.org": ("Kherson", "active", "2025-06-15")}
    assert interests_of("a@x.org") == [("books", "books"), ("travel", "travel")]
    assert interests_of("old@x.org") == [("sport", "sport")]
    assert interests_of("d@x.org") == [('"quotes"', '"Quotes"'), ("ski", "Ski")]
    tiers = {e: t for e, t in CustomValue.select(Contact.email_norm, CustomValue.text).join(Contact).tuples()}
    assert tiers == {"a@x.org": "bronze", "c@x.org": "silver", "d@x.org": "7"}
    ids = [c.id for c in Contact.select().order_by(Contact.id)]
    assert len(set(ids)) == 6 and database.obj.execute_sql(
        "SELECT count(*) FROM custom_value v LEFT JOIN contact c ON c.id = v.contact_id WHERE c.id IS NULL"
    ).fetchone()[0] == 0


@pytest.mark.parametrize("batch_size", [1, 10])
def test_rows_of_one_email_are_as_if_they_went_in_one_after_the_other(db, tmp_path, batch_size):
    """The last row wins, but its empty status and created_at keep what the rows
    before it gave, in one batch as across batches (found by the law below)."""
    report = import_contacts(write_csv(tmp_path, (
        "email,city,status,created_at\n"
        "ann@x.org,Lviv,unsubscribed,2020-02-02\n"
        "ANN@x.org,,,\n"
    ), f"{batch_size}.csv"), ME, cfg=CFG, batch_size=batch_size)
    ann = Contact.get()
    assert (ann.city, ann.status, str(ann.created_at)) == (None, "unsubscribed", "2020-02-02")
    assert (report.created, report.updated) == (1, 1)


_CONTACT_ROW = st.tuples(
    st.sampled_from(["ann@x.org", "Ann@X.org", "bob@x.org", "cy@x.org", "dee@x.org"]),
    st.sampled_from(["", "Lviv", "Київ"]),
    st.sampled_from(["", "sport", "sport|Kids", "KIDS; travel"]),
    st.sampled_from(["", "gold", "7"]),
    st.sampled_from(["", "active", "unsubscribed"]),
    st.sampled_from(["", "2020-02-02", "2021-03-03"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(_CONTACT_ROW, min_size=1, max_size=6), min_size=1, max_size=3),
       batch_size=st.integers(1, 3))
def test_every_contact_holds_its_last_row_whichever_way_each_batch_went(db, tmp_path, files, batch_size):
    """A law: whatever files come, in whatever batches — all new (PostgreSQL: straight
    in), with contacts that exist (tried and undone, or looked up first, then
    upserted) — each contact holds what its e-mail's last row said: a value
    given replaces, an empty one clears; an empty status or created_at keeps
    the stored one, and a new contact's is active, and today."""
    for model in (Interest, CustomValue, Contact):
        model.delete().execute()
    expected: dict[str, dict] = {}
    for k, rows in enumerate(files):
        text = "email,city,interests,tier,status,created_at\n" + "".join(",".join(r) + "\n" for r in rows)
        import_contacts(write_csv(tmp_path, text, f"{k}.csv"), ME, cfg=CFG, batch_size=batch_size)
        for email, city, interests, tier, status, created in rows:
            key = email.lower()
            old = expected.get(key, {"status": "active", "created_at": "2025-06-15"})
            pairs: dict[str, str] = {}
            for part in interests.replace("|", ";").split(";"):
                if part.strip():
                    pairs.setdefault(part.strip().lower(), part.strip())
            expected[key] = {"city": city or None, "interests": sorted(pairs.items()), "tier": tier or None,
                             "status": status or old["status"], "created_at": created or old["created_at"]}
        held = {}
        for c in Contact.select():
            tiers = [v.text for v in CustomValue.select().where(CustomValue.contact == c.id)]
            held[c.email_norm] = {"city": c.city, "interests": interests_of(c.email_norm),
                                  "tier": tiers[0] if tiers else None, "status": c.status,
                                  "created_at": str(c.created_at)}
        assert held == expected


def test_new_orders_go_straight_in_until_one_exists(db, tmp_path, copies):
    """Orders all new go by COPY, summed per contact here (PostgreSQL); an unknown
    email is a bad row with its line either way; from the first batch with an order
    that exists, the staged upsert. The totals are those of the orders."""
    import_contacts(write_csv(tmp_path, "email\nann@x.org\nbob@x.org\n", "p.csv"), ME)
    import_orders(write_csv(tmp_path, "order_id,email,total,created_at\no1,ann@x.org,10,2025-01-01\n", "1.csv"), ME)
    copies.clear()
    report = import_orders(write_csv(tmp_path, (
        "order_id,email,total,created_at\n"
        "o2,ann@x.org,5,2025-01-02\n"      # batch 1: new,
        "o3,bob@x.org,1,2025-02-02\n"      # new, and repeated: the last row wins
        "o3,bob@x.org,2,2025-02-03\n"
        "o4,nobody@x.org,3,2025-02-03\n"   # batch 2: no such contact
        "o1,bob@x.org,7,2025-02-01\n"      # exists: moved from ann to bob
        "o5,ann@x.org,100,2024-12-31\n"
        "o6,bob@x.org,0.5,2025-03-01\n"    # batch 3: staged, the file has had an order that exists
    ), "2.csv"), ME, batch_size=3)
    assert (report.created, report.updated, [b.line for b in report.bad_rows]) == (4, 2, [5])
    if backend() == "postgres":
        # batch 1: bob's totals straight in, ann's (the first contact, who had some) upserted
        assert copies == ["order", "order_totals", "import_order_sums", "order", "import_order", "import_order"]
    for contact in Contact.select():
        mine = [(o.total, o.created_at) for o in contact.orders]
        assert (contact.orders_count, contact.orders_total, contact.orders_max, contact.orders_first_date,
                contact.orders_last_date) == (len(mine), sum(t for t, _ in mine), max(t for t, _ in mine),
                                              min(d for _, d in mine), max(d for _, d in mine))
    totals = {c.email_norm: c.orders_total for c in Contact.select()}
    assert totals == {"ann@x.org": 10500, "bob@x.org": 950}


def test_an_export_with_many_custom_columns_is_the_same_as_with_a_few(db, tmp_path, monkeypatch):
    keys = [f"k{i:02d}" for i in range(export.MAX_JOINED + 4)]
    rows = [f"c{n}@x.org," + ",".join(f"v{n}.{i}" if (n + i) % 3 else "" for i in range(len(keys)))
            for n in range(12)]
    import_contacts(write_csv(tmp_path, "email," + ",".join(keys) + "\n" + "\n".join(rows) + "\n"), ME)
    seg = segments.create_list("All", ME)
    segments.add_contacts(seg, [i for (i,) in Contact.select(Contact.id).tuples()], ME)
    merged = io.StringIO()
    assert export.write_csv(seg, merged) == 12
    monkeypatch.setattr(export, "MAX_JOINED", len(keys))
    joined = io.StringIO()
    export.write_csv(seg, joined)
    assert merged.getvalue() == joined.getvalue()
    table = list(csv.DictReader(io.StringIO(merged.getvalue())))
    assert table[1]["custom.k02"] == "" and table[1]["custom.k00"] == "v1.0"


def test_export_orders_interests_by_their_comparison_key(db, tmp_path):
    import_contacts(write_csv(tmp_path, 'email,interests\na@x.org,"Travel;books;Ápple"\nb@x.org,"a;b"\n'), ME)
    seg = segments.create_list("L", ME)
    segments.add_contacts(seg, [i for (i,) in Contact.select(Contact.id).tuples()], ME)
    out = io.StringIO()
    export.write_csv(seg, out, ["email", "interests"])
    assert out.getvalue().splitlines()[1:] == ["a@x.org,books;Travel;Ápple", "b@x.org,a;b"]


def test_a_split_is_the_same_for_the_same_seed_and_covers_every_member(db, tmp_path):
    from core.split import SplitPlan, split

    import_contacts(write_csv(tmp_path, "email,gender\n" + "".join(
        f"p{i}@x.org,{'f' if i % 3 else 'm'}\n" for i in range(60))), ME)
    seg = segments.create_list("People", ME)
    ids = [i for (i,) in Contact.select(Contact.id).tuples()]
    segments.add_contacts(seg, ids, ME)

    def parts(seed, names):
        result = split(seg, SplitPlan(percents=None, parts=3), ME, seed=seed, by="gender", names=names)
        return [{c for (c,) in Membership.select(Membership.contact).where(Membership.segment == p["id"]).tuples()}
                for p in result.parts]

    first, again = parts(11, ["A1", "B1", "C1"]), parts(11, ["A2", "B2", "C2"])
    assert first == again
    assert set().union(*first) == set(ids) and sum(map(len, first)) == 60


def test_the_redundant_indexes_are_gone(db):
    if backend() == "sqlite":
        names = {n for (n,) in database.obj.execute_sql("SELECT name FROM sqlite_master WHERE type = 'index'")}
    else:
        names = {n for (n,) in database.obj.execute_sql("SELECT indexname FROM pg_indexes")}
    assert not names & set(_REDUNDANT_INDEXES)
    assert {"order_contact_id_created_at", "interest_value_contact_id"} <= names
    # the members by contact: SQLite only (schema version 8)
    assert ("membership_contact_id_segment_id" in names) == (backend() == "sqlite")


def test_an_export_quotes_as_the_csv_module_does(db, tmp_path):
    people = [("a@x.org", "Ann, Jr.", 'O"Neil', "Kyiv\nCentre", "Zoo;apple"),
              ("b@x.org", "Bob", None, "Lviv", None),
              ("c@x.org", "  Cé", "Ü", "a\rb", "Éclair|b")]
    path = tmp_path / "p.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([("email", "first_name", "last_name", "city", "interests"), *people])
    import_contacts(str(path), ME)
    seg = segments.create_list("L", ME)
    segments.add_contacts(seg, [i for (i,) in Contact.select(Contact.id).tuples()], ME)
    for fields in (["email", "first_name", "last_name", "city", "interests"], ["city", "email"],
                   ["interests", "last_name"]):
        out = io.StringIO()
        export.write_csv(seg, out, fields)
        rows = []
        for row in people:
            values = dict(zip(("email", "first_name", "last_name", "city", "interests"), row))
            values["first_name"] = values["first_name"].strip()
            if values["interests"]:
                values["interests"] = ";".join(sorted(values["interests"].replace("|", ";").split(";"),
                                                      key=str.casefold))
            rows.append([values[f] or "" for f in fields])
        if backend() == "sqlite":  # byte for byte what the csv module writes
            expected = io.StringIO()
            csv.writer(expected, lineterminator="\n").writerows([fields, *rows])
            assert out.getvalue() == expected.getvalue(), fields
        else:  # COPY quotes a carriage return too, so the file reads back whole
            assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [fields, *rows]


# ---- a long file: read in a process of its own, some indexes built afterwards ---------------

def _long_file(tmp_path, n: int) -> str:
    lines = ["email,city,birth_date,interests,tier"]
    for i in range(n):
        lines.append(f"p{i % (n - 5)}@x.org,City {i % 7},19{50 + i % 40}-0{1 + i % 9}-1{i % 9},"
                     f"a{i % 3};b{i % 5},{('gold', 'silver', 'tin')[i % 3]}")
    lines[10] = "not an email,Kyiv,,,"
    lines[20] = "p20@x.org,Kyiv,1990-02-31,,"
    return write_csv(tmp_path, "\n".join(lines) + "\n", "long.csv")


def _everything() -> dict:
    people = {c.email_norm: (c.city, c.birth_date, c.birth_md, c.created_at, c.status, c.interests)
              for c in Contact.select()}
    custom = sorted((c.email_norm, v.key, v.text) for v, c in
                    ((v, v.contact) for v in CustomValue.select(CustomValue, Contact).join(Contact)))
    return {"people": people, "custom": custom}


def test_a_long_file_read_by_a_reader_process_gives_what_reading_it_here_gives(db, tmp_path, monkeypatch):
    from core import imports

    path = _long_file(tmp_path, 400)
    readers = []
    start = imports._start_reader

    def started(*args):
        receive, reader = start(*args)
        readers.append(reader)
        return receive, reader

    monkeypatch.setattr(imports, "_start_reader", started)
    monkeypatch.setattr(imports, "READ_AHEAD_LINES", 100)
    ahead = import_contacts(path, ME, cfg=CFG, batch_size=50, commit_every=100)
    [reader] = readers  # the rows did come from the other process, which has ended
    assert reader.returncode == 0
    got = _everything()
    Contact.delete().execute()
    monkeypatch.setattr(imports, "READ_AHEAD_LINES", 10**9)
    here = import_contacts(path, ME, cfg=CFG, batch_size=50, commit_every=100)
    assert _everything() == got
    assert (ahead.created, ahead.updated, ahead.skipped, ahead.rows) == (here.created, here.updated, here.skipped,
                                                                       here.rows) == (393, 5, 2, 400)
    assert [(b.line, b.reason) for b in ahead.bad_rows] == [(b.line, b.reason) for b in here.bad_rows]
    assert [b.line for b in ahead.bad_rows] == [11, 21]


def test_the_reader_process_works_for_a_script_without_a_main_guard(db_url, tmp_path):
    """The reader is started with `python -c`, never by running the caller's script again."""
    path = _long_file(tmp_path, 400)
    script = tmp_path / "plain.py"
    script.write_text(
        "from core import imports\nfrom core.audit import Actor\nfrom core.store import open_database\n"
        f"imports.READ_AHEAD_LINES = 100\nopen_database({db_url!r})\n"
        f"r = imports.import_contacts({path!r}, Actor('me', 'cli'), batch_size=50)\n"
        "print('created', r.created)\n")
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "created 393" and "Traceback" not in done.stderr


def _indexes() -> set[str]:
    return {i.name for t in ("contact", "custom_value", "interest") for i in database.obj.get_indexes(t)}


def test_a_big_import_builds_the_indexes_it_deferred(db, tmp_path, monkeypatch):
    from core.bulk import _DEFERRED, DeferredIndexes

    deferred = _DEFERRED[backend(), "contacts"]
    random_keys = {"contact_birth_date", "contact_created_at", "custom_value_key_norm",
                   "custom_value_key_number", "custom_value_key_date"}
    few_values = {"contact_region_norm", "contact_status", "contact_birth_md", "interest_value_contact_id"}
    assert deferred == (random_keys if backend() == "sqlite" else random_keys | few_values)
    assert deferred <= _indexes()
    monkeypatch.setattr(DeferredIndexes, "MIN_ROWS", 100)
    during = []
    report = import_contacts(_long_file(tmp_path, 400), ME, cfg=CFG, batch_size=50, commit_every=100,
                             progress=lambda done, total: during.append(_indexes()))
    assert report.created == 393
    assert not deferred & during[0]  # dropped while the rows went in
    assert deferred <= _indexes()  # and there again at the end
    born_in_1950 = Contact.select().where(Contact.birth_date == dt.date(1950, 1, 10)).count()
    assert born_in_1950 == Contact.select().where(Contact.birth_date.cast("text") == "1950-01-10").count() > 0
    small = import_contacts(write_csv(tmp_path, "email\nq@x.org\n", "small.csv"), ME, cfg=CFG,
                            progress=lambda done, total: during.append(_indexes()))
    assert small.created == 1 and deferred <= during[-1]  # a small import keeps them


def test_an_orders_file_as_long_as_the_contacts_leaves_the_contacts_and_their_indexes_alone(db, tmp_path,
                                                                                             monkeypatch):
    """Its order totals go into their own rows (order_totals), not onto the contacts:
    no contact is rewritten, so no index of theirs is dropped for it, on either backend."""
    from core.bulk import DeferredIndexes

    monkeypatch.setattr(DeferredIndexes, "MIN_ROWS", 100)
    import_contacts(_long_file(tmp_path, 150), ME, cfg=CFG)
    contact_indexes = {"contact_region_norm", "contact_status", "contact_birth_md", "contact_birth_date",
                       "contact_created_at"}
    emails = sorted(c.email_norm for c in Contact.select())  # 143 of them
    lines = ["order_id,email,total,created_at"] + [f"o{i},{emails[i % 143]},{i}.50,2026-01-0{1 + i % 9}"
                                                    for i in range(300)]
    during = []
    def versions():  # PostgreSQL: the transaction that wrote each contact's row
        return (dict(database.obj.execute_sql("SELECT id, xmin::text FROM contact").fetchall())
                if backend() == "postgres" else {c.id: c.updated_at for c in Contact.select()})

    before = versions()
    report = import_orders(write_csv(tmp_path, "\n".join(lines) + "\n", "orders.csv"), ME, cfg=CFG,
                           batch_size=50, commit_every=100,
                           progress=lambda done, total: during.append(_indexes()))
    assert report.created == 300
    assert all(contact_indexes <= seen for seen in during) and contact_indexes <= _indexes()
    assert versions() == before  # not one contact written again
    assert OrderTotals.select().count() == 143
    first = Contact.get(Contact.email_norm == emails[0])
    assert (first.orders_count, first.orders_total) == (3, 50 + 14350 + 28650)
    assert Contact.select().where(Contact.status == "active").count() == 143  # through the index again


def test_indexes_a_killed_import_left_out_are_built_when_the_database_is_opened(db, db_url):
    from core.store import close_database, open_database

    for name in ("contact_birth_date", "custom_value_key_date"):
        database.obj.execute_sql(f'DROP INDEX "{name}"')
    assert "contact_birth_date" not in _indexes()
    close_database()
    open_database(db_url)
    assert {"contact_birth_date", "custom_value_key_date"} <= _indexes()


def test_sqlites_memory_limit_is_shared_by_many_connections_and_raised_for_an_import(sqlite_db, tmp_path):
    """The process-wide page-cache limit: 128 MB for one connection (the command line),
    64 MB shared by the bot's and the interface's many, 128 MB while an import runs."""
    from core.store import db as store_db

    def limit():
        return sqlite_db.execute_sql("PRAGMA soft_heap_limit").fetchone()[0]

    assert limit() == 128 * 1024 * 1024
    try:
        store_db.many_connections()
        assert limit() == 64 * 1024 * 1024
        during = []
        import_contacts(write_csv(tmp_path, "email\na@x.org\nb@x.org\n"), ME, cfg=CFG,
                        progress=lambda done, total: during.append(limit()))
        assert set(during) == {128 * 1024 * 1024}
        assert limit() == 64 * 1024 * 1024
    finally:
        store_db._soft_heap_limit = store_db.SOFT_HEAP_LIMIT
        sqlite_db.execute_sql(f"PRAGMA soft_heap_limit = {store_db.SOFT_HEAP_LIMIT}")


def test_sqlite_checks_no_keys_while_an_import_writes_and_again_after_it(sqlite_db, tmp_path):
    """Every id an import writes comes from the contacts in its own transaction;
    the checks are off for it, on again after, even when it fails."""
    def checks():
        return sqlite_db.execute_sql("PRAGMA foreign_keys").fetchone()[0]

    during = []
    import_contacts(write_csv(tmp_path, "email,interests\na@x.org,tea\n"), ME, cfg=CFG,
                    progress=lambda done, total: during.append(checks()))
    assert set(during) == {0} and checks() == 1

    def stop(done, total):
        raise RuntimeError("stopped half-way")

    with pytest.raises(RuntimeError):
        import_contacts(write_csv(tmp_path, "email\nb@x.org\n", "b.csv"), ME, cfg=CFG, progress=stop)
    assert checks() == 1
    with database.obj.atomic():  # inside another transaction the pragma would do nothing: it is left alone
        import_contacts(write_csv(tmp_path, "email\nc@x.org\n", "c.csv"), ME, cfg=CFG,
                        progress=lambda done, total: during.append(checks()))
    assert during[-1] == 1 and checks() == 1


class _OtherLoad:
    """Another process's big load, holding `core.bulk.loading()`: on PostgreSQL its
    session's advisory lock, on SQLite its lock on the file beside the database."""

    def __init__(self, db_url: str):
        self.db_url = db_url

    def __enter__(self):
        from core.bulk import LOADING_LOCK

        if self.db_url.startswith("sqlite"):
            import fcntl

            self.held = open(self.db_url.split("///", 1)[1] + "-load", "a+b")
            fcntl.flock(self.held, fcntl.LOCK_SH)
        else:
            import psycopg

            self.held = psycopg.connect(self.db_url, autocommit=True)
            self.held.execute(f"SELECT pg_advisory_lock_shared({LOADING_LOCK})")
        return self

    def __exit__(self, *exc):
        self.held.close()

    @staticmethod
    def seen_by_another(db_url: str) -> bool:
        """Is a load running, as another connection sees it?"""
        from core.bulk import LOADING_LOCK

        if db_url.startswith("sqlite"):
            import fcntl

            with open(db_url.split("///", 1)[1] + "-load", "a+b") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return True
                return False
        import psycopg

        with psycopg.connect(db_url, autocommit=True) as conn:
            got = conn.execute(f"SELECT pg_try_advisory_lock({LOADING_LOCK})").fetchone()[0]
            conn.execute(f"SELECT pg_advisory_unlock({LOADING_LOCK})") if got else None
            return not got


def test_an_open_leaves_the_indexes_to_a_load_still_running_and_builds_them_once_it_is_gone(db, db_url):
    """A command run beside a big import must not build the indexes the import
    dropped (under its feet, holding the write lock for seconds); once the
    import is gone (finished, or killed: the lock goes with its process), the
    next open builds whatever it left out."""
    from core.store import close_database, open_database

    database.obj.execute_sql('DROP INDEX "contact_birth_date"')
    close_database()
    with _OtherLoad(db_url):
        open_database(db_url)
        assert "contact_birth_date" not in _indexes()
        close_database()
    open_database(db_url)
    assert "contact_birth_date" in _indexes()


def test_a_big_import_holds_its_indexes_from_dropping_them_to_building_them(db, db_url, tmp_path, monkeypatch):
    from core.bulk import DeferredIndexes

    monkeypatch.setattr(DeferredIndexes, "MIN_ROWS", 100)
    during = []
    import_contacts(_long_file(tmp_path, 400), ME, cfg=CFG, batch_size=50, commit_every=100,
                    progress=lambda done, total: during.append(_OtherLoad.seen_by_another(db_url)))
    assert during and all(during)
    assert not _OtherLoad.seen_by_another(db_url)
    small = []
    import_contacts(write_csv(tmp_path, "email\nq@x.org\n", "small.csv"), ME, cfg=CFG,
                    progress=lambda done, total: small.append(_OtherLoad.seen_by_another(db_url)))
    assert small and not any(small)  # a small import drops nothing, and holds nothing


def _members(name: str) -> set[str]:
    seg = segments.resolve(name)
    return {c.email_norm for c in Contact.select().join(Membership, on=Membership.contact == Contact.id)
            .where(Membership.segment == seg.id)}


def test_a_batch_straight_in_stages_its_ids_only_for_a_dynamic_segment_or_a_list(db, tmp_path, copies):
    """The contacts of a batch that went straight in (PostgreSQL) are staged only
    for what reads them: the dynamic segments re-evaluated for them, a list the
    file goes into. Whichever way, the segments hold what they should."""
    def new_contacts(first: int, name: str) -> str:
        return write_csv(tmp_path, "email,city\n" + "".join(
            f"p{i}@x.org,{('Lviv', 'Kyiv')[i % 2]}\n" for i in range(first, first + 4)), name)

    import_contacts(new_contacts(0, "1.csv"), ME, batch_size=2)
    assert "import_contact" not in copies  # no reader: nothing staged
    segments.create_dynamic("Lviv", "city = Lviv", ME)
    copies.clear()
    import_contacts(new_contacts(4, "2.csv"), ME, batch_size=2)
    if backend() == "postgres":
        assert copies == ["contact", "import_contact"] * 2
    assert _members("Lviv") == {f"p{i}@x.org" for i in (0, 2, 4, 6)}
    report = import_contacts(new_contacts(8, "3.csv"), ME, batch_size=2, list_name="Newest")
    assert report.added_to_list == 4 and _members("Newest") == {f"p{i}@x.org" for i in range(8, 12)}
    assert _members("Lviv") == {f"p{i}@x.org" for i in (0, 2, 4, 6, 8, 10)}


def test_order_totals_go_straight_in_while_the_contacts_have_none(db, tmp_path, copies):
    """PostgreSQL: a batch's sums go by COPY into order_totals but for its first
    contact's, which may go on from the batch before, combined by the upsert; the
    first contact with totals from before undoes that COPY, and the rest of the
    file upserts every sum. The totals are those of the orders, on both backends."""
    import_contacts(write_csv(tmp_path, "email\n" + "".join(f"{n}@x.org\n" for n in ("ann", "bob", "cy", "dee", "eve")),
                              "p.csv"), ME)
    import_orders(write_csv(tmp_path, "order_id,email,total,created_at\no0,bob@x.org,1,2025-01-01\n", "0.csv"), ME)
    copies.clear()
    report = import_orders(write_csv(tmp_path, (
        "order_id,email,total,created_at\n"
        "o1,ann@x.org,10,2025-01-02\n"   # batch 1: ann alone (the first contact: upserted)
        "o2,ann@x.org,20,2025-01-03\n"
        "o3,ann@x.org,30,2025-01-04\n"   # batch 2: ann goes on (upserted), cy new (straight in)
        "o4,cy@x.org,40,2025-01-05\n"
        "o5,dee@x.org,50,2025-01-06\n"   # batch 3: bob had totals: the COPY is undone
        "o6,bob@x.org,60,2025-01-07\n"
        "o7,cy@x.org,70,2025-01-08\n"    # batch 4: eve new, but the file upserts from now on
        "o8,eve@x.org,80,2025-01-09\n"
    ), "1.csv"), ME, batch_size=2)
    assert (report.created, report.updated) == (8, 0)
    if backend() == "postgres":
        assert copies == ["order", "import_order_sums",
                          "order", "order_totals", "import_order_sums",
                          "order", "order_totals", "import_order_sums",
                          "order", "import_order_sums"]
    for contact in Contact.select():
        mine = [(o.total, o.created_at) for o in contact.orders]
        assert (contact.orders_count, contact.orders_total, contact.orders_max, contact.orders_first_date,
                contact.orders_last_date) == (len(mine), sum(t for t, _ in mine), max(t for t, _ in mine),
                                              min(d for _, d in mine), max(d for _, d in mine))
    assert {c.email_norm: c.orders_total for c in Contact.select()} == {
        "ann@x.org": 6000, "bob@x.org": 6100, "cy@x.org": 11000, "dee@x.org": 5000, "eve@x.org": 8000}


def _order_indexes() -> set[str]:
    return {i.name for i in database.obj.get_indexes("order")}


def test_a_big_orders_file_defers_the_orders_index_by_contact_while_its_orders_are_new(db, tmp_path, monkeypatch):
    """PostgreSQL: an orders file at least as long as the orders there drops the
    orders' index by contact while its orders are all new, and builds it at the end;
    the first batch with an order that exists builds it again at once (from then on
    each batch recomputes its contacts' totals through it). SQLite keeps it."""
    from core.bulk import DeferredIndexes

    monkeypatch.setattr(DeferredIndexes, "MIN_ROWS", 100)
    deferred = "order_contact_id_created_at"
    import_contacts(_long_file(tmp_path, 150), ME, cfg=CFG)
    emails = sorted(c.email_norm for c in Contact.select())  # 143 of them

    def orders(numbers, shift=0) -> str:
        return "order_id,email,total,created_at\n" + "".join(
            f"o{i},{emails[(i + shift) % 143]},{i}.50,2026-01-0{1 + i % 9}\n" for i in numbers)

    during = []
    report = import_orders(write_csv(tmp_path, orders(range(300)), "1.csv"), ME, cfg=CFG, batch_size=50,
                           commit_every=100, progress=lambda done, total: during.append(_order_indexes()))
    assert report.created == 300
    assert (deferred in during[0]) == (backend() == "sqlite") and deferred in _order_indexes()
    during.clear()
    # as long as the orders there: 150 of them moved to other contacts first, then new ones
    report = import_orders(write_csv(tmp_path, orders(range(150), shift=1) + orders(range(300, 600)).split("\n", 1)[1],
                                     "2.csv"), ME, cfg=CFG, batch_size=50, commit_every=100,
                           progress=lambda done, total: during.append(_order_indexes()))
    assert (report.created, report.updated) == (300, 150)
    assert all(deferred in seen for seen in during)  # built again by the first batch, whose orders existed
    for contact in Contact.select():
        mine = [o.total for o in contact.orders]
        assert (contact.orders_count, contact.orders_total) == (len(mine), sum(mine))



_AWKWARD = 'email,first_name,city,interests,tier,score,vip\n' \
           'a@x.org,"Tab\there",back\\slash,"Ski; a\\\\N",\\N,2.5,yes\n' \
           'b@x.org,"two\nlines",Київ,,"семь",-0.125,no\n'


def test_awkward_values_go_in_as_they_were_given(db, tmp_path):
    """A tab, a backslash, a literal \\N, a line break in quotes, Cyrillic, typed custom
    values: stored as given, whichever way the rows go (PostgreSQL: the COPY text
    written where the batch was read)."""
    cfg = config.Config(custom_fields={"tier": "text", "score": "number", "vip": "yesno"})
    report = import_contacts(write_csv(tmp_path, _AWKWARD, "awkward.csv"), ME, cfg=cfg)
    assert (report.created, report.skipped) == (2, 0)
    a, b = Contact.get(Contact.email_norm == "a@x.org"), Contact.get(Contact.email_norm == "b@x.org")
    assert (a.first_name, a.first_name_norm, a.city, a.interests) == ("Tab\there", "tab\there", "back\\slash",
                                                                     "Ski;a\\\\N")
    assert (b.first_name, b.city, b.city_norm, b.interests) == ("two\nlines", "Київ", "київ", None)
    assert interests_of("a@x.org") == [("a\\\\n", "a\\\\N"), ("ski", "Ski")]
    values = {(v.contact_id, v.key): (v.text, v.norm, v.number, v.yesno) for v in CustomValue.select()}
    assert values == {(a.id, "tier"): ("\\N", "\\n", None, None), (a.id, "score"): ("2.5", None, 2.5, None),
                      (a.id, "vip"): ("yes", None, None, True), (b.id, "tier"): ("семь", "семь", None, None),
                      (b.id, "score"): ("-0.125", None, -0.125, None), (b.id, "vip"): ("no", None, None, False)}


@pytest.fixture
def latin1_url(pg_url):
    """PostgreSQL: a database of its own in LATIN1, migrated."""
    import os

    import psycopg

    from core.store.db import close_database
    from tests.conftest import PG_ADMIN_URL

    name = f"segmenta_latin1_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f"CREATE DATABASE \"{name}\" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    yield f"{pg_url.rsplit('/', 1)[0]}/{name}"
    close_database()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_database_in_another_encoding_gets_the_text_as_it_was(latin1_url, tmp_path):
    """The COPY text written where a batch is read is UTF-8; a connection that speaks
    another encoding gets it as text, which psycopg encodes for it."""
    from core.store.db import open_database

    open_database(latin1_url)
    assert database.obj.connection().info.encoding != "utf-8"
    import_contacts(write_csv(tmp_path, "email,city,interests\nann@x.org,Orléans,café\n", "l.csv"), ME)
    ann = Contact.get()
    assert (ann.city, ann.city_norm, ann.interests) == ("Orléans", "orléans", "café")


def test_a_long_orders_file_read_by_a_reader_process_asks_for_the_rows_it_needs(db, tmp_path, monkeypatch):
    """PostgreSQL: a batch made ready by the reader process comes without its rows;
    the batch with an unknown email asks for them (its bad rows need their lines),
    and from then on every batch brings them (the batch with an order that exists
    goes the staged way). The same counts, bad rows and totals as anywhere."""
    from core import imports

    monkeypatch.setattr(imports, "READ_AHEAD_LINES", 100)
    asked = []
    real = imports.rows_from_blob
    monkeypatch.setattr(imports, "rows_from_blob", lambda blob: asked.append(1) or real(blob))
    import_contacts(_long_file(tmp_path, 150), ME, cfg=CFG)
    emails = sorted(c.email_norm for c in Contact.select())  # 143 of them
    lines = [f"o{i},{emails[i % 143]},{i}.50,2026-01-0{1 + i % 9}" for i in range(400)]
    lines[170] = "o170,nobody@x.org,1,2026-01-01"  # batch 4: no such contact
    lines[260] = f"o3,{emails[5]},9.99,2026-02-01"  # batch 6: o3 exists, moved to another contact
    report = import_orders(write_csv(tmp_path, "order_id,email,total,created_at\n" + "\n".join(lines) + "\n",
                                     "orders.csv"), ME, cfg=CFG, batch_size=50, commit_every=100)
    assert (report.created, report.updated, [b.line for b in report.bad_rows]) == (398, 1, [172])
    # asked for by the batch with the unknown email, and by each one after it that was
    # under way before (with batches this small, all of them) and needed its rows
    assert bool(asked) == (backend() == "postgres")
    for contact in Contact.select():
        mine = [o.total for o in contact.orders]
        assert (contact.orders_count, contact.orders_total) == (len(mine), sum(mine))
    assert {o.order_id: o.contact.email_norm for o in Order.select().where(Order.order_id == "o3")} == {
        "o3": emails[5]}
