import datetime as dt

import peewee
import pytest

from core.store import models as m
from core.store import schema
from core import config
from core.errors import ConfigError, BadInput
from core.store.db import open_database


def test_schema_is_created_on_first_use_and_versioned(db):
    assert schema.version(db) == schema.CURRENT
    # opening again migrates nothing and keeps the data
    m.Contact.create(email="a@x.org", email_norm="a@x.org", created_at=dt.date.today())
    schema.migrate(db)
    assert m.Contact.select().count() == 1
    assert schema.version(db) == schema.CURRENT


def test_a_newer_database_is_refused_not_touched(db):
    m.SchemaVersion.create(version=schema.CURRENT + 1)
    with pytest.raises(Exception, match="newer than this Segmenta"):
        schema.migrate(db)


def test_email_is_unique_without_case(db):
    m.Contact.create(email="Ann@X.org", email_norm="ann@x.org", created_at=dt.date.today())
    with pytest.raises(peewee.IntegrityError):
        with db.atomic():
            m.Contact.create(email="ann@x.org", email_norm="ann@x.org", created_at=dt.date.today())


def test_deleting_a_contact_removes_its_orders_and_memberships(db):
    c = m.Contact.create(email="a@x.org", email_norm="a@x.org", created_at=dt.date.today())
    s = m.Segment.create(name="L", name_norm="l", kind="list")
    m.Order.create(order_id="o1", contact=c, total=100, created_at=dt.date.today())
    m.Membership.create(segment=s, contact=c)
    c.delete_instance()
    assert m.Order.select().count() == 0
    assert m.Membership.select().count() == 0


def test_unknown_config_key_names_the_key_and_the_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('timezone = "UTC"\n[database]\nurll = "x"\n')
    with pytest.raises(ConfigError, match=r'c\.toml.*"database\.urll"'):
        config.load(p)


def test_bad_config_values_are_errors(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[custom_fields]\ntier = "colour"\n')
    with pytest.raises(ConfigError, match="custom_fields.tier"):
        config.load(p)
    p.write_text('[scheduler]\nrefresh_every = "soon"\n')
    with pytest.raises(ConfigError, match="refresh_every"):
        config.load(p)
    p.write_text('timezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="timezone"):
        config.load(p)


def test_config_defaults_and_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEGMENTA_CONFIG", raising=False)
    monkeypatch.setenv("SEGMENTA_DATABASE_URL", "sqlite:///elsewhere.db")
    cfg = config.load()
    assert cfg.timezone == "UTC" and cfg.refresh_every == 3600
    assert cfg.database_url == "sqlite:///elsewhere.db"


def test_example_config_is_valid():
    from pathlib import Path

    cfg = config.load(Path(__file__).parent.parent / "config.example.toml")
    assert cfg.custom_fields == {"tier": "text", "score": "number"}


def test_unknown_database_url_is_a_clear_error():
    with pytest.raises(BadInput, match="sqlite:///"):
        open_database("mysql://nope")
