"""`segmenta import contacts|orders` and `segmenta contact` on the command line."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.cli.main import cli
from core.store.models import Contact
from tests.test_import_contacts import write_csv

PEOPLE = (
    "email,first_name,last_name,gender,birth_date,region,city,interests,tier,score\n"
    "olena@example.com,Олена,Коваль,F,1990-02-28,Kyiv,Київ,sport;books,gold,7\n"
    "bad-email,X,,,,,,,,\n"
    "jan@example.com,Jan,Nowak,m,,Kraków,Kraków,,,\n"
)
ORDERS = (
    "order_id,email,total,currency,created_at\n"
    "o1,olena@example.com,0.10,EUR,2025-01-02\n"
    "o2,olena@example.com,0.20,EUR,2025-03-04\n"
    "o3,OLENA@example.com,299.70,EUR,2025-02-01\n"
)


@pytest.fixture
def run(db_url, tmp_path):
    """`segmenta --config C --db URL ARGS…` → the result (stdout and stderr apart)."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[custom_fields]\nscore = "number"\n')
    runner = CliRunner()

    def go(*args):
        return runner.invoke(cli, ["--config", str(cfg), "--db", db_url, *args], catch_exceptions=False)

    return go


def one_line_error(result, text):
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and text in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_import_contacts_reports_counts_and_bad_rows(run, tmp_path):
    r = run("import", "contacts", write_csv(tmp_path, PEOPLE), "--list", "Fair")
    assert r.exit_code == 0, r.output
    assert "2 created, 0 updated, 1 skipped (3 rows" in r.stdout
    assert 'line 3: "bad-email" is not a valid email address' in r.stdout
    assert 'Added 2 contacts to the list "Fair".' in r.stdout
    assert r.stderr == ""  # no progress bar when stderr is not a terminal


def test_import_contacts_json(run, tmp_path):
    r = run("import", "contacts", write_csv(tmp_path, PEOPLE), "--json")
    data = json.loads(r.stdout)
    assert (data["created"], data["updated"], data["skipped"], data["written"]) == (2, 0, 1, True)
    assert data["bad_rows"] == [{"line": 3, "reason": '"bad-email" is not a valid email address'}]


def test_strict_import_exits_2_and_writes_nothing(run, tmp_path):
    r = run("import", "contacts", write_csv(tmp_path, PEOPLE), "--strict")
    assert "line 3:" in r.stdout
    one_line_error(r, "1 bad rows in")
    assert Contact.select().count() == 0


@pytest.mark.parametrize("kind", ["contacts", "orders"])
def test_a_missing_file_exits_2_with_one_line(run, tmp_path, kind):
    one_line_error(run("import", kind, str(tmp_path / "nope.csv")), "nope.csv: no such file")


def test_a_file_without_email_column_exits_2_with_one_line(run, tmp_path):
    one_line_error(run("import", "contacts", write_csv(tmp_path, "name,city\nA,Kyiv\n")), "no email column")


def test_a_file_not_in_utf8_exits_2_with_one_line(run, tmp_path):
    r = run("import", "contacts", write_csv(tmp_path, "email,city\na@x.org,Kraków\n", encoding="cp1250"))
    one_line_error(r, "is not UTF-8")


def test_import_orders_and_show_the_contact(run, tmp_path):
    run("import", "contacts", write_csv(tmp_path, PEOPLE, "p.csv"), "--list", "Fair")
    r = run("import", "orders", write_csv(tmp_path, ORDERS, "o.csv"))
    assert r.exit_code == 0 and "Imported orders from" in r.stdout and "3 created" in r.stdout
    r = run("contact", "Olena@Example.com")
    assert r.exit_code == 0, r.output
    lines = [" ".join(line.split()) for line in r.stdout.splitlines()]
    for expected in ("first_name Олена", "phone", "interests sport, books", "custom.score 7", "custom.tier gold",
                     "orders 3, total 300.00, max 299.70, first 2025-01-02, last 2025-03-04",
                     "2025-02-01 o3 299.70 EUR", "Segments: Fair (#1, list)"):
        assert expected in lines, r.stdout


def test_contact_json(run, tmp_path):
    run("import", "contacts", write_csv(tmp_path, PEOPLE, "p.csv"))
    run("import", "orders", write_csv(tmp_path, ORDERS, "o.csv"))
    data = json.loads(run("contact", "olena@example.com", "--json").stdout)
    assert data["email"] == "olena@example.com" and data["gender"] == "female"
    assert data["birth_date"] == "1990-02-28" and data["custom"] == {"score": 7, "tier": "gold"}
    assert data["orders_summary"] == {"count": 3, "total": "300.00", "avg": "100.00", "max": "299.70",
                                      "first_date": "2025-01-02", "last_date": "2025-03-04"}
    assert [o["total"] for o in data["orders"]] == ["0.20", "299.70", "0.10"]
    assert data["segments"] == []


def test_an_unknown_contact_exits_2_with_a_hint(run):
    one_line_error(run("contact", "ghost@example.com"), 'no contact has the email "ghost@example.com"; check the spelling')


def test_control_characters_in_a_contact_are_shown_not_sent_to_the_terminal(run, tmp_path):
    """An escape sequence stored in a first name must not drive the user's terminal."""
    path = write_csv(tmp_path, "email,first_name,city\n"
                               "eve@example.com,\"Eve\x1b]0;pwned\x07\x1b[2J\",\"Kyiv\u202eevil\"\n")
    assert run("import", "contacts", path, "--list", "L").exit_code == 0
    for args in (("contact", "eve@example.com"), ("members", "L", "--fields", "email,first_name,city")):
        r = run(*args)
        assert r.exit_code == 0, r.output
        assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\u202e" not in r.stdout
        assert "Eve\\x1b]0;pwned\\x07\\x1b[2J" in r.stdout and "Kyiv\\u202eevil" in r.stdout
    stored = Contact.get(Contact.email == "eve@example.com")
    assert stored.first_name == "Eve\x1b]0;pwned\x07\x1b[2J"  # kept as given; only the display escapes it
    r = run("contact", "eve@example.com", "--json")  # JSON escapes them itself
    assert "\x1b" not in r.stdout and json.loads(r.stdout)["first_name"] == stored.first_name
