"""Subscriptions, the notices outbox and the sender, against the Slack stand-in."""
import datetime as dt
import json
import logging
import threading

import pytest

from core import clock, config as config_mod, notices
from core.audit import Actor
from core.errors import BadInput, Conflict, NotFound, Refused
from core.sender import message, send_pending, slack_client
from core.show import show
from core.store import write
from core.store.models import AuditEntry, Membership, Segment
from core.store.models_notices import Notice, NoticeBaseline, Subscription
from core.text import norm
from tests.factories import make_contacts
from tests.slack_standin import slack_standin  # noqa: F401  (fixture)

ME = Actor("tester", "cli")
T0 = dt.datetime(2025, 3, 1, 12, 0, 0)
TOKEN = "xoxb-test-1234567890-SECRETSECRET"


@pytest.fixture
def frozen():
    fixed = clock.FixedClock(T0)
    old = clock.set_clock(fixed)
    yield fixed
    clock.set_clock(old)


@pytest.fixture
def slack(slack_standin, monkeypatch):
    """The stand-in, with the token and API URL a sender reads from the environment."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", slack_standin.api_url)
    return slack_standin


def a_dynamic(name="Kyiv women", members=()):
    seg = Segment.create(name=name, name_norm=norm(name), kind="dynamic", condition='{"v": 1}',
                         condition_text="region = Kyiv")
    set_members(seg, members)
    return seg


def set_members(seg, ids):
    """Members as a refresh would leave them (the condition is not under test here)."""
    Membership.delete().where(Membership.segment == seg.id).execute()
    if ids:
        Membership.insert_many([{"segment": seg.id, "contact": c} for c in ids]).execute()
    seg.member_count = len(ids)
    Segment.update(member_count=len(ids)).where(Segment.id == seg.id).execute()


def refreshed(seg, ids):
    """Members change and the refresh hook runs, in one transaction, as refresh() does."""
    with write():
        set_members(seg, ids)
        return notices.note_refresh(seg, None)


# ---- channels ------------------------------------------------------------------------

@pytest.mark.parametrize("given, kept", [
    ("#Marketing", "#marketing"), ("marketing", "#marketing"), ("C0123ABCD", "C0123ABCD"),
    ("<#C0123ABCD|marketing>", "C0123ABCD"), ("<#C0123ABCD>", "C0123ABCD"), ("  #growth-team ", "#growth-team"),
])
def test_a_channel_is_kept_as_slack_accepts_it(given, kept):
    assert notices.channel_ref(given) == kept


@pytest.mark.parametrize("bad", ["", "#", "two words", "#a<b", "@someone"])
def test_a_channel_that_is_not_one_is_refused(bad):
    with pytest.raises(BadInput, match="#marketing"):
        notices.channel_ref(bad)


# ---- subscriptions --------------------------------------------------------------------

def test_subscribing_takes_the_members_now_as_the_baseline(db):
    ids = make_contacts(5)
    seg = a_dynamic(members=ids[:3])
    out = notices.subscribe(seg, "#marketing", ME)
    assert out == {"segment_id": seg.id, "segment": "Kyiv women", "channel": "#marketing", "members": 3}
    assert NoticeBaseline.select().count() == 3
    assert AuditEntry.get(AuditEntry.operation == "subscribe").segment_id == seg.id
    assert notices.subscriptions(seg)[0]["status"] == "ok"


def test_subscribing_twice_or_to_a_list_is_refused(db):
    from core import segments

    seg = a_dynamic()
    notices.subscribe(seg, "#marketing", ME)
    with pytest.raises(Conflict):
        notices.subscribe(seg, "#Marketing", ME)
    with pytest.raises(Refused, match="never refreshed"):
        notices.subscribe(segments.create_list("L", ME), "#marketing", ME)


def test_unsubscribing_drops_the_baseline_and_owed_notices(db):
    ids = make_contacts(3)
    seg = a_dynamic(members=ids[:1])
    notices.subscribe(seg, "#marketing", ME)
    refreshed(seg, ids)
    notices.unsubscribe(seg, "marketing", ME)
    assert (Subscription.select().count(), NoticeBaseline.select().count(), Notice.select().count()) == (0, 0, 0)
    with pytest.raises(NotFound, match="told: no channel"):
        notices.unsubscribe(seg, "#marketing", ME)


# ---- the outbox ------------------------------------------------------------------------

def test_the_first_notice_reports_who_joined_and_left_since_subscribing(db):
    ids = make_contacts(6)
    seg = a_dynamic(members=ids[:4])
    notices.subscribe(seg, "#marketing", ME)
    [nid] = refreshed(seg, ids[2:])  # 0 and 1 left, 4 and 5 joined
    n = Notice.get_by_id(nid)
    assert (n.channel, n.size, n.joined, n.left, n.state) == ("#marketing", 4, 2, 2, "pending")
    assert json.loads(n.samples) == {"joined": ["c4@example.com", "c5@example.com"],
                                     "left": ["c0@example.com", "c1@example.com"]}


def test_the_next_notice_counts_from_the_last_one(db):
    ids = make_contacts(6)
    seg = a_dynamic(members=ids[:2])
    notices.subscribe(seg, "#marketing", ME)
    refreshed(seg, ids[:4])
    [nid] = refreshed(seg, ids[1:5])
    n = Notice.get_by_id(nid)
    assert (n.size, n.joined, n.left) == (4, 1, 1)


def test_no_notice_when_the_members_are_what_the_last_notice_said(db):
    ids = make_contacts(4)
    seg = a_dynamic(members=ids[:2])
    notices.subscribe(seg, "#marketing", ME)
    assert refreshed(seg, ids[:2]) == []
    # a change and its undoing between two refreshes is no change either
    set_members(seg, ids)
    assert refreshed(seg, ids[:2]) == []
    assert Notice.select().count() == 0


def test_each_channel_gets_its_own_notice(db):
    ids = make_contacts(4)
    seg = a_dynamic(members=ids[:2])
    notices.subscribe(seg, "#marketing", ME)
    refreshed(seg, ids[:3])
    notices.subscribe(seg, "C0123ABCD", ME)  # subscribed later: counts from 3 members
    made = refreshed(seg, ids)
    assert sorted((Notice.get_by_id(i).channel, Notice.get_by_id(i).joined) for i in made) == [
        ("#marketing", 1), ("C0123ABCD", 1)]


def test_a_deleted_contact_counts_as_left(db):
    from core.store.models import Contact

    ids = make_contacts(3)
    seg = a_dynamic(members=ids)
    notices.subscribe(seg, "#marketing", ME)
    with write():
        Membership.delete().where(Membership.contact == ids[0]).execute()
        Contact.delete().where(Contact.id == ids[0]).execute()
    [nid] = refreshed(seg, ids[1:])
    n = Notice.get_by_id(nid)
    assert (n.left, json.loads(n.samples)["left"]) == (1, [])


def test_a_notice_is_written_only_if_its_refresh_commits(db):
    ids = make_contacts(2)
    seg = a_dynamic(members=ids[:1])
    notices.subscribe(seg, "#marketing", ME)
    with pytest.raises(RuntimeError):
        with write():
            set_members(seg, ids)
            notices.note_refresh(seg, None)
            raise RuntimeError("the refresh failed after its hook")
    assert Notice.select().count() == 0
    assert NoticeBaseline.select().count() == 1


# ---- the message -----------------------------------------------------------------------

def test_the_message_has_fallback_text_and_blocks_with_samples():
    n = Notice(segment_name="VIP <gold> & co", channel="#m", size=1234, joined=7, left=1,
               samples=json.dumps({"joined": ["a@x.com", "b@x.com"], "left": ["z@x.com"]}))
    text, blocks = message(n)
    assert text == 'Segment "VIP <gold> & co" was refreshed: 1,234 members (7 joined, 1 left).'
    assert blocks[0]["text"]["text"] == "*VIP &lt;gold&gt; &amp; co* was refreshed: *1,234* members"
    assert blocks[-1]["elements"][0]["text"] == "Joined: a@x.com, b@x.com and 5 more\nLeft: z@x.com"


# ---- the sender --------------------------------------------------------------------------

def owed(n_notices=1, channel="C0123ABCD"):
    """N pending notices to CHANNEL, each from a refresh that changed the members."""
    ids = make_contacts(n_notices + 1)
    seg = a_dynamic(members=ids[:1])
    notices.subscribe(seg, channel, ME)
    for i in range(n_notices):
        refreshed(seg, ids[: i + 2])
    return seg


def test_a_notice_goes_out_once_after_429_and_500(db, frozen, slack):
    seg = owed()
    slack.rate_limit(times=1, retry_after=7)
    slack.server_error(times=1)
    client = slack_client()
    assert send_pending(client, holder="a") == {"sent": 0, "retry": 1, "failed": 0}
    frozen.advance(seconds=6)
    assert send_pending(client, holder="a")["retry"] == 0  # Retry-After honoured: not asked again yet
    frozen.advance(seconds=1)
    assert send_pending(client, holder="a")["retry"] == 1  # the 500
    n = Notice.get()
    assert (n.state, n.attempts, n.next_attempt_at) == ("pending", 2, T0 + dt.timedelta(seconds=9))
    frozen.advance(seconds=2)
    assert send_pending(client, holder="a")["sent"] == 1
    assert send_pending(client, holder="a") == {"sent": 0, "retry": 0, "failed": 0}
    assert len(slack.messages()) == 1
    [msg] = slack.messages("C0123ABCD")
    assert msg["text"].startswith('Segment "Kyiv women" was refreshed: 2 members')
    assert msg["blocks"][0]["type"] == "section"
    n = Notice.get()
    assert (n.state, n.attempts, n.sent_at, n.claimed_by) == ("sent", 3, T0 + dt.timedelta(seconds=9), None)
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 500, 200]
    assert show(seg)["channels"][0]["last_notice_at"] == T0 + dt.timedelta(seconds=9)


def test_nothing_is_lost_while_slack_is_unreachable(db, frozen, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")  # nobody listens there
    owed(2)
    assert send_pending(slack_client(), holder="a")["retry"] == 1
    assert [n.state for n in Notice.select()] == ["pending", "pending"]
    assert TOKEN not in Notice.select().order_by(Notice.id).first().error


def test_a_permanent_failure_is_kept_and_shown(db, frozen, slack):
    seg = owed(2)
    slack.channel_error("C0123ABCD", "channel_not_found")
    assert send_pending(slack_client(), holder="a") == {"sent": 0, "retry": 0, "failed": 1}
    first = Notice.select().order_by(Notice.id).first()
    assert (first.state, first.error) == ("failed", "channel_not_found")
    [channel] = show(seg)["channels"]
    assert channel == {"channel": "C0123ABCD", "status": "failing: channel_not_found", "last_notice_at": None,
                       "since": T0}
    # the bot is invited back: the next notice goes out and the channel is well again
    slack.clear()
    assert send_pending(slack_client(), holder="a")["sent"] == 1
    assert show(seg)["channels"][0]["status"] == "ok"


def test_a_channel_hears_a_segments_notices_in_order(db, frozen, slack):
    owed(3)
    slack.server_error(times=1)
    client = slack_client()
    send_pending(client, holder="a")  # the oldest failed for now: the others wait behind it
    assert len(slack.calls("chat.postMessage")) == 1
    frozen.advance(seconds=5)
    send_pending(client, holder="a")
    sizes = [m["text"].split(": ")[1].split(" ")[0] for m in slack.messages()]
    assert sizes == ["2", "3", "4"]


def test_a_claimed_notice_is_not_sent_by_another_sender(db, frozen, slack):
    from core.sender import claim

    owed()
    assert claim(Notice.get().id, "other")
    assert send_pending(slack_client(), holder="a")["sent"] == 0
    frozen.advance(seconds=61)  # the other sender died holding it
    assert send_pending(slack_client(), holder="a")["sent"] == 1


def test_two_senders_send_each_notice_exactly_once(db, slack):
    """Two threads, each with its own connection, drain one outbox at once."""
    segs = []
    for k in range(4):
        ids = make_contacts(6, start=100 * k)
        seg = a_dynamic(f"S{k}", members=ids[:1])
        notices.subscribe(seg, f"#ch{k}", ME)
        notices.subscribe(seg, f"#other{k}", ME)
        for i in range(5):
            refreshed(seg, ids[: i + 2])
        segs.append(seg)
    total = Notice.select().count()
    assert total == 40
    slack.rate_limit(times=2, retry_after=1)
    slack.server_error(times=2)
    db.close()  # each thread opens its own connection
    errors = []

    def drain(holder):
        from core.scheduler import connection

        client = slack_client()
        try:
            for _ in range(200):
                with connection():
                    send_pending(client, holder=holder)
                    if not Notice.select().where(Notice.state == "pending").exists():
                        return
                threading.Event().wait(0.05)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=drain, args=(h,)) for h in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert Notice.select().where(Notice.state == "sent").count() == total
    sent = slack.calls("chat.postMessage", ok=True)
    assert len(sent) == total
    keys = [(c.params["channel"], c.params["text"]) for c in sent]
    assert len(set(keys)) == total  # none twice
    assert {n.claimed_by for n in Notice.select()} == {None}


def test_the_token_is_never_in_logs_or_errors(db, frozen, slack, caplog):
    owed(2)
    slack.slack_error("chat.postMessage", "invalid_auth")
    slack.server_error(times=1)
    with caplog.at_level(logging.DEBUG):
        send_pending(slack_client(), holder="a")
        frozen.advance(seconds=400)
        send_pending(slack_client(), holder="a")
    assert TOKEN not in caplog.text
    assert all(TOKEN not in (n.error or "") for n in Notice.select())
    assert slack.calls()[0].token == TOKEN  # it was sent to Slack, and only there


def test_redaction_catches_any_token_shape(monkeypatch):
    from core.secrets import RedactSecrets, redact

    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    assert TOKEN not in redact(f"Authorization: Bearer {TOKEN}")
    assert "xoxp-1-2-3" not in redact("leaked xoxp-1-2-3 here")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token %s", (TOKEN,), None)
    RedactSecrets().filter(record)
    assert TOKEN not in record.getMessage()


def test_no_token_no_sender(monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(BadInput, match="SLACK_BOT_TOKEN"):
        slack_client(config_mod.Config())


def test_cli_subscribe_unsubscribe_and_list(db_url):
    from click.testing import CliRunner

    from core.cli.main import cli
    from core.store import open_database

    open_database(db_url)
    a_dynamic("Kyiv women", members=make_contacts(2))
    run = CliRunner()
    r = run.invoke(cli, ["--db", db_url, "subscribe", "Kyiv women", "#Marketing"])
    assert r.exit_code == 0 and "#marketing will be told" in r.output and "2 members" in r.output
    r = run.invoke(cli, ["--db", db_url, "subscriptions", "Kyiv women", "--json"])
    assert json.loads(r.output)[0]["status"] == "ok"
    r = run.invoke(cli, ["--db", db_url, "show", "Kyiv women"])
    assert "#marketing" in r.output
    r = run.invoke(cli, ["--db", db_url, "unsubscribe", "Kyiv women", "#marketing"])
    assert r.exit_code == 0
    r = run.invoke(cli, ["--db", db_url, "unsubscribe", "Kyiv women", "#marketing"])
    assert r.exit_code == 2 and "is not told" in r.output


# ---- with real refreshes ------------------------------------------------------------------

def kyiv(n, start=0):
    return make_contacts(n, start=start, region="Kyiv")


def move(ids, region):
    from core.store.models import Contact

    Contact.update(region=region, region_norm=norm(region)).where(Contact.id.in_(ids)).execute()


def test_every_refresh_that_changes_a_subscribed_segment_writes_a_notice(db):
    from core import segments
    from core.refresh import refresh

    ids = kyiv(5)
    seg, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME)
    notices.subscribe(seg, "#growth", ME)
    assert refresh(seg, ME).joined == 0 and Notice.select().count() == 0
    move(ids[:2], "Lviv")
    kyiv(1, start=50)
    result = refresh(seg, ME)
    n = Notice.get()
    assert (n.size, n.joined, n.left, n.refresh_run_id) == (4, 1, 2, result.run_id)


def test_changes_between_refreshes_are_told_at_the_next_refresh(db):
    from core import segments
    from core.membership import contacts_changed
    from core.refresh import refresh

    ids = kyiv(4)
    seg, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME)
    notices.subscribe(seg, "#growth", ME)
    with write():
        move(ids[:1], "Lviv")
        contacts_changed(ids[:1], ME)  # an import: the contact leaves at once, no refresh
    assert Notice.select().count() == 0
    assert refresh(seg, ME).left == 0  # nothing left in this refresh …
    assert (Notice.get().left, Notice.get().size) == (1, 3)  # … but since the last notice, one did


def test_a_failed_refresh_writes_no_notice(db, monkeypatch):
    from core import refresh as refresh_mod, segments

    ids = kyiv(3)
    seg, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME)
    notices.subscribe(seg, "#growth", ME)
    move(ids, "Lviv")

    def fails_after(seg, run_id):
        raise RuntimeError("a later hook failed")

    monkeypatch.setattr(refresh_mod, "AFTER_REFRESH", [*refresh_mod.AFTER_REFRESH, fails_after])
    with pytest.raises(RuntimeError):
        refresh_mod.refresh(seg, ME)
    assert Notice.select().count() == 0
    assert NoticeBaseline.select().count() == 3


def test_a_manual_refresh_from_the_command_line_writes_the_notice(db_url):
    from click.testing import CliRunner

    from core import segments
    from core.cli.main import cli
    from core.store import open_database

    open_database(db_url)
    ids = kyiv(3)
    seg, _ = segments.create_dynamic("Kyiv", "region = Kyiv", ME)
    run = CliRunner()
    assert run.invoke(cli, ["--db", db_url, "subscribe", "Kyiv", "#growth"]).exit_code == 0
    move(ids[:1], "Lviv")
    r = run.invoke(cli, ["--db", db_url, "refresh", "Kyiv"])
    assert r.exit_code == 0, r.output
    assert [(n.channel, n.left) for n in Notice.select()] == [("#growth", 1)]


def test_a_deleted_segment_takes_its_subscriptions_but_owed_notices_still_go(db, slack):
    from core.delete import delete

    seg = owed(1)
    delete(seg, ME)
    assert Subscription.select().count() == 0 and NoticeBaseline.select().count() == 0
    assert send_pending(slack_client(), holder="a")["sent"] == 1
    assert slack.messages()[0]["text"].startswith('Segment "Kyiv women"')


def test_the_bot_drains_the_outbox_with_a_sender_thread(db, slack):
    from core.sender import start_sender

    owed(2)
    db.close()  # the sender's thread opens its own connection
    sender = start_sender(config_mod.Config(), every=0.1)
    try:
        slack.wait_for("chat.postMessage", 2, timeout=10)
    finally:
        sender.stop()
    assert Notice.select().where(Notice.state == "sent").count() == 2


def test_sending_without_a_token_is_refused_at_start(db, monkeypatch):
    from core.scheduler import start_scheduler

    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(BadInput, match="SLACK_BOT_TOKEN"):
        start_scheduler(config_mod.Config(), send=True)
