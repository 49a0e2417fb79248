"""The command line contract of the operations: output, --json, exit status 2."""
import json

import pytest
from click.testing import CliRunner

from core.cli.main import cli
from core.store import db as store_db
from tests.factories import make_contacts


@pytest.fixture
def run(db_url):
    """Run `segmenta --db URL ARGS…`; returns the result."""
    runner = CliRunner()

    def go(*args, input=None):
        result = runner.invoke(cli, ["--db", db_url, *args], input=input, catch_exceptions=False)
        return result

    return go


@pytest.fixture
def people(db_url):
    store_db.open_database(db_url)
    make_contacts(30, gender=lambda i: "female" if i % 2 else "male", region=lambda i: "Київ" if i % 3 else "Lviv")
    store_db.close_database()


def test_create_list_add_show_json(run, people):
    assert run("create", "list", "VIP").exit_code == 0
    r = run("add", "VIP", "c1@example.com", "C2@EXAMPLE.COM", "ghost@nowhere.org")
    assert r.exit_code == 0
    assert "Added 2 contacts" in r.output and "ghost@nowhere.org" in r.output
    data = json.loads(run("show", "vip", "--json").output)
    assert data["members"] == 2 and data["kind"] == "list"


def test_unknown_segment_exits_2_with_one_line(run, people):
    r = run("show", "Nope")
    assert r.exit_code == 2
    assert r.output.strip().startswith("Error: no segment is called")
    assert "Traceback" not in r.output


def test_search_json_and_table(run, people):
    run("create", "list", "Київ VIP")
    r = run("search", "київ", "--json")
    assert [s["name"] for s in json.loads(r.output)] == ["Київ VIP"]
    assert "Київ VIP" in run("search").output


def test_split_cli_refuses_ten_and_warns_on_eleven(run, people):
    run("create", "list", "Ten")
    run("add", "Ten", *[f"c{i}@example.com" for i in range(10)])
    r = run("split", "Ten", "--parts", "2")
    assert r.exit_code == 2 and "has 10 contacts" in r.output
    run("add", "Ten", "c10@example.com")
    r = run("split", "Ten", "--parts", "2", "--seed", "9", "--json")
    assert r.exit_code == 0
    assert "Warning:" in r.stderr if hasattr(r, "stderr") else True
    data = json.loads(r.stdout)
    assert data["seed"] == 9 and sum(p["members"] for p in data["parts"]) == 11


def test_split_needs_exactly_one_way(run, people):
    run("create", "list", "L")
    r = run("split", "L", "--parts", "2", "--sizes", "50/50")
    assert r.exit_code == 2 and "choose one of" in r.output


def test_export_csv_and_to_list(run, people, tmp_path):
    run("create", "list", "L")
    run("add", "L", *[f"c{i}@example.com" for i in range(12)])
    out = tmp_path / "l.csv"
    r = run("export", "L", "--csv", str(out), "--fields", "email,region")
    assert r.exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "email,region" and len(lines) == 13
    r = run("export", "L", "--to-list", "Copy L")
    assert r.exit_code == 0 and "12 members" in r.output


def test_delete_without_terminal_needs_yes(run, people):
    run("create", "list", "L")
    r = run("delete", "L")
    assert r.exit_code == 2 and "--yes" in r.output
    assert run("delete", "L", "--yes").exit_code == 0
    assert run("show", "L").exit_code == 2


def test_delete_with_contacts_deletes_them(run, people):
    run("create", "list", "L")
    run("add", "L", "c1@example.com", "c2@example.com")
    r = run("delete", "L", "--with-contacts", "--yes", "--json")
    assert json.loads(r.output)["contacts_deleted"] == 2


def test_empty_a_list(run, people):
    run("create", "list", "L")
    run("add", "L", "c1@example.com")
    r = run("empty", "L")
    assert r.exit_code == 0 and "1 members removed" in r.output


def test_audit_reads_back(run, people):
    run("create", "list", "L")
    rows = json.loads(run("audit", "--json").output)
    assert rows[0]["operation"] == "create" and rows[0]["face"] == "cli"


def test_add_with_create_makes_unknown_contacts_and_they_join_dynamic_segments(run, people):
    run("create", "list", "VIP")
    run("create", "dynamic", "Everyone active", "--where", "status = active")
    r = run("add", "VIP", "new@x.org", "c1@example.com", "--create", "--json")
    data = json.loads(r.output)
    assert data["added"] == 2 and data["created"] == 1 and data["unknown"] == []
    assert json.loads(run("contact", "NEW@x.org", "--json").output)["status"] == "active"
    assert json.loads(run("show", "Everyone active", "--json").output)["members"] == 31
    r = run("add", "VIP", "not an email", "--create")
    assert r.exit_code == 2 and "cannot be created" in r.output


def test_add_reads_a_file_of_emails(run, people, tmp_path):
    run("create", "list", "VIP")
    f = tmp_path / "vip.csv"
    f.write_text("name,email\nA,c1@example.com\nB,c2@example.com\n", encoding="utf-8")
    r = run("add", "VIP", "--file", str(f), "--json")
    assert json.loads(r.output)["added"] == 2
    r = run("remove", "VIP", "c1@example.com", "--json")
    assert json.loads(r.output)["removed"] == 1
