"""Delivering replies to Slack, after the ack.

A request's `response_url` takes at most 5 messages within 30 minutes; after
that (a long split, a sixth message) or when it fails, the reply goes through
the Web API instead: chat.postMessage for the channel, chat.postEphemeral for
one person, a direct message when the channel will not have us. Both clients
retry on rate limits, waiting as long as Slack's Retry-After says.
"""
from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from core.sender import SLACK_API

from . import blocks
from .blocks import Message

log = logging.getLogger("segmenta.bot")

RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = 30 * 60 - 60  # seconds; a minute of margin


def retry_handlers():
    return [ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)]


def web_client(token: str | None, api_url: str | None) -> WebClient:
    """The bot's WebClient: SLACK_API_URL / [slack] api_url if set, retrying on 429 and lost connections."""
    base = api_url or SLACK_API
    return WebClient(token=token, base_url=base if base.endswith("/") else base + "/", timeout=30,
                     retry_handlers=retry_handlers())


def error_code(e: SlackApiError) -> str:
    data = e.response.data if isinstance(e.response.data, dict) else {}
    return str(data.get("error") or f"http_{e.response.status_code}")


class Replier:
    """Answers one request (a command, a click, a form) until its work is done."""

    def __init__(self, client: WebClient, *, response_url: str | None, channel: str | None, user: str | None):
        self.client = client
        self.response_url = response_url
        self.channel = channel
        self.user = user
        self.uses = 0
        self.started = time.monotonic()
        self.working = False  # the original message says "working…": an error replaces it
        self._lock = threading.Lock()

    # ---- sending ----------------------------------------------------------------------

    def send(self, msg: Message, *, replace: bool = False) -> None:
        body = {"response_type": "in_channel" if msg.public else "ephemeral", "replace_original": replace,
                **msg.payload()}
        if self._through_url(body):
            return
        self._through_api(msg)

    def note(self, msg: Message) -> None:
        """Replace the message that was clicked with MSG (a "working…" note)."""
        self.send(msg, replace=True)
        self.working = True

    def fail(self, msg: Message) -> None:
        """An error: in place of a "working…" note if there is one, else a new ephemeral message."""
        self.send(msg, replace=self.working)

    def _through_url(self, body: dict) -> bool:
        with self._lock:
            fresh = time.monotonic() - self.started < RESPONSE_URL_LIFETIME
            if not self.response_url or self.uses >= RESPONSE_URL_USES or not fresh:
                return False
            self.uses += 1
        try:
            resp = WebhookClient(self.response_url, timeout=10, retry_handlers=retry_handlers()).send_dict(body)
        except Exception as e:
            log.warning("the response_url could not be reached (%s); using the Web API", type(e).__name__)
            return False
        if resp.status_code == 200:
            return True
        log.warning("the response_url answered %s; using the Web API", resp.status_code)
        if resp.status_code == 404:  # used up or expired: never again
            self.uses = RESPONSE_URL_USES
        return False

    def _through_api(self, msg: Message) -> None:
        payload = msg.payload()
        try:
            if msg.public and self.channel:
                self.client.chat_postMessage(channel=self.channel, unfurl_links=False, **payload)
                return
            if self.channel and self.user:
                self.client.chat_postEphemeral(channel=self.channel, user=self.user, **payload)
                return
        except SlackApiError as e:
            log.warning("could not post in %s (%s); sending it to the person directly", self.channel, error_code(e))
        if self.user:  # the app's messages tab: always ours to post in
            try:
                self.client.chat_postMessage(channel=self.user, unfurl_links=False, **payload)
            except SlackApiError as e:
                log.error("could not reach %s either (%s); the reply is lost: %s", self.user, error_code(e),
                          msg.text[:200])

    # ---- outcomes -----------------------------------------------------------------------

    def deliver(self, outcome, *, trigger_id: str | None = None) -> None:
        """Send what the command layer produced: a form, a file, a message."""
        if outcome.form is not None:
            self.client.views_open(trigger_id=trigger_id, view=outcome.form)
        if outcome.upload is not None:
            self.upload(outcome.upload)
        if outcome.message is not None:
            self.send(outcome.message, replace=outcome.replace)

    def upload(self, up) -> None:
        """Post the CSV in the channel with files_upload_v2; a refusal is explained to the person."""
        try:
            if not self.channel:
                self.fail(blocks.upload_failed("channel_not_found", up.segment))
                return
            self.client.files_upload_v2(channel=self.channel, file=str(up.path), filename=up.filename,
                                        title=up.title, initial_comment=up.comment)
        except SlackApiError as e:
            log.warning("upload of %s refused: %s", up.filename, error_code(e))
            self.fail(blocks.upload_failed(error_code(e), up.segment))
        finally:
            up.discard()
