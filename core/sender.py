"""The sender: drains the notices outbox into Slack with chat.postMessage.

Each notice is claimed with one conditional UPDATE before it is sent and
marked sent right after, so two senders (two bot replicas, or the bot and
`segmenta scheduler`) never send the same notice, and a notice nobody could
send stays pending. Slack saying "later" (429 with Retry-After, 5xx, no
connection) puts the notice back with a time before which it is not tried;
Slack saying "never" (channel_not_found, not_in_channel, is_archived, …)
fails the notice and marks its subscription failing, which `show` reports.

The bot token is read from the environment only when a client is made and
is scrubbed from every error text and log line (RedactSecrets).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass

from . import config as config_mod
from .clock import utcnow_naive
from .errors import BadInput
from .secrets import redact
from .store import write
from .store.models_notices import Notice, Subscription

log = logging.getLogger("segmenta.notices")

SLACK_API = "https://slack.com/api/"
CLAIM_FOR = 60  # seconds a claimed notice is ours; far longer than one call (timeout below)
CALL_TIMEOUT = 10
MAX_BACKOFF = 300
BATCH = 100

# Slack's answers that mean "try again later" rather than "this will never work".
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
# The bot's own setup is wrong: no channel is to blame, so the notices wait for a fix.
SETUP = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive", "missing_scope",
         "no_permission", "team_access_not_granted", "ekm_access_denied"}


def slack_client(cfg=None):
    """A WebClient for SLACK_API_URL / [slack] api_url (empty: Slack's own).

    Its own retries are off: every retry goes through the outbox, where it is
    visible, survives a restart and never blocks a claimed notice.
    """
    from slack_sdk import WebClient

    cfg = cfg or config_mod.current()
    token = cfg.secret("SLACK_BOT_TOKEN")
    if not token:
        raise BadInput("SLACK_BOT_TOKEN is not set: the notices stay in the outbox until a sender has a token")
    base = cfg.api_url or SLACK_API
    return WebClient(token=token, base_url=base if base.endswith("/") else base + "/",
                     timeout=CALL_TIMEOUT, retry_handlers=[])


# ---- the message --------------------------------------------------------------------

def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(n: Notice) -> tuple[str, list[dict]]:
    """Fallback text and Block Kit blocks for one notice."""
    text = f'Segment "{n.segment_name}" was refreshed: {n.size:,} members ({n.joined:,} joined, {n.left:,} left).'
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"*{_esc(n.segment_name)}* was refreshed: *{n.size:,}* members"}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Joined*\n+{n.joined:,}"},
            {"type": "mrkdwn", "text": f"*Left*\n−{n.left:,}"},
        ]},
    ]
    samples = json.loads(n.samples) if n.samples else {}
    lines = []
    for what, shown, total in (("Joined", samples.get("joined", []), n.joined), ("Left", samples.get("left", []), n.left)):
        if shown:
            more = f" and {total - len(shown):,} more" if total > len(shown) else ""
            lines.append(f"{what}: " + ", ".join(_esc(e) for e in shown) + more)
    if lines:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(lines)}]})
    return text, blocks


# ---- one call -----------------------------------------------------------------------

@dataclass
class Attempt:
    outcome: str  # sent | retry | failed
    error: str | None = None
    delay: float = 0.0
    ts: str | None = None


def backoff(attempts: int) -> float:
    return float(min(2 ** attempts, MAX_BACKOFF))


def post(client, n: Notice) -> Attempt:
    from slack_sdk.errors import SlackApiError

    text, blocks = message(n)
    try:
        resp = client.chat_postMessage(channel=n.channel, text=text, blocks=blocks, unfurl_links=False)
        return Attempt("sent", ts=resp.get("ts"))
    except SlackApiError as e:
        status = e.response.status_code
        data = e.response.data if isinstance(e.response.data, dict) else {}
        code = str(data.get("error") or f"http_{status}")
        if status == 429 or code == "ratelimited":
            headers = {k.lower(): v for k, v in (e.response.headers or {}).items()}
            wait = headers.get("retry-after")
            wait = wait[0] if isinstance(wait, list) else wait
            return Attempt("retry", "ratelimited", float(wait) if wait and str(wait).isdigit() else backoff(n.attempts))
        if status >= 500 or code in TRANSIENT:
            return Attempt("retry", f"HTTP {status}: {redact(code)[:200]}", backoff(n.attempts))
        if code in SETUP:
            log.error("Slack refuses the bot (%s): check SLACK_BOT_TOKEN and the app's scopes; notices wait", code)
            return Attempt("retry", code, float(MAX_BACKOFF))
        return Attempt("failed", code)
    except Exception as e:  # no connection, timeout: Slack unreachable
        return Attempt("retry", redact(f"{type(e).__name__}: {e}")[:500], backoff(n.attempts))


# ---- draining the outbox ------------------------------------------------------------

def claim(notice_id: int, holder: str, claim_for: float = CLAIM_FOR) -> bool:
    """Make the notice ours if it is pending, unclaimed (or its claim ran out) and due."""
    now = utcnow_naive()
    with write():
        changed = Notice.update(claimed_by=holder, claimed_until=now + dt.timedelta(seconds=claim_for)).where(
            (Notice.id == notice_id)
            & (Notice.state == "pending")
            & (Notice.claimed_until.is_null() | (Notice.claimed_until < now))
            & (Notice.next_attempt_at.is_null() | (Notice.next_attempt_at <= now))
        ).execute()
    return changed == 1


def settle(n: Notice, attempt: Attempt) -> None:
    now = utcnow_naive()
    done = {"claimed_by": None, "claimed_until": None, "attempts": Notice.attempts + 1}
    with write():
        if attempt.outcome == "sent":
            Notice.update(state="sent", sent_at=now, slack_ts=attempt.ts, error=None, **done).where(
                Notice.id == n.id).execute()
            Subscription.update(failure=None, failed_at=None, last_notice_at=now).where(
                Subscription.id == n.subscription_id).execute()
        elif attempt.outcome == "failed":
            Notice.update(state="failed", error=attempt.error, **done).where(Notice.id == n.id).execute()
            Subscription.update(failure=attempt.error, failed_at=now).where(
                Subscription.id == n.subscription_id).execute()
        else:
            Notice.update(error=attempt.error, next_attempt_at=now + dt.timedelta(seconds=attempt.delay),
                          **done).where(Notice.id == n.id).execute()


def send_pending(client, *, holder: str, limit: int = BATCH, claim_for: float = CLAIM_FOR) -> dict:
    """Send what the outbox owes, oldest first; returns counts of sent, retry, failed."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    pending = list(Notice.select(Notice.id, Notice.segment_id, Notice.channel)
                   .where(Notice.state == "pending").order_by(Notice.id).limit(limit))
    # A channel hears a segment's notices in order: once one of them cannot go
    # now (claimed elsewhere, waiting, failing), the later ones wait behind it.
    held_up = set()
    for row in pending:
        key = (row.segment_id, row.channel.lower())
        if key in held_up:
            continue
        if not claim(row.id, holder, claim_for):
            held_up.add(key)
            continue
        n = Notice.get_by_id(row.id)
        attempt = post(client, n)
        settle(n, attempt)
        counts[attempt.outcome] += 1
        if attempt.outcome != "sent":
            held_up.add(key)
        if attempt.outcome == "failed":
            log.warning('notice to %s about "%s" failed for good: %s', n.channel, n.segment_name, attempt.error)
        elif attempt.outcome == "retry":
            log.warning("Slack said later (%s); trying again in %.0f s", attempt.error, attempt.delay)
            break  # Slack is limiting or down: ask again later, not harder
    return counts


class Sender:
    """A thread that drains the outbox every few seconds (the bot runs one)."""

    def __init__(self, cfg=None, *, every: float = 2.0, holder: str | None = None):
        from .leases import holder_name

        self.cfg = cfg or config_mod.current()
        self.every = every
        self.holder = holder or holder_name()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notices-sender", daemon=True)

    def start(self) -> "Sender":
        self._thread.start()
        return self

    def stop(self, timeout: float = 15) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        from .scheduler import connection

        client = slack_client(self.cfg)
        while not self._stop.is_set():
            try:
                with connection():
                    send_pending(client, holder=self.holder)
            except Exception as e:
                log.error("sending notices failed; they stay in the outbox: %s", redact(str(e)))
            self._stop.wait(self.every)


def start_sender(cfg=None, *, every: float = 2.0) -> Sender:
    """Drain the outbox in a background thread until .stop()."""
    return Sender(cfg, every=every).start()
