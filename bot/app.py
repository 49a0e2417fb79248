"""The Bolt app: one WebClient (retrying on rate limits), one listener pool, our listeners.

`process_before_response` stays off: each listener acks first and keeps
working on a thread of a pool big enough that a slow refresh never keeps
another command from being acknowledged.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from core.errors import BadInput

from . import listeners, replay
from .logs import redact
from .replies import web_client

WORKERS = 64  # listener threads: concurrent commands being worked on


def build_app(cfg, *, socket_mode: bool = False, workers: int = WORKERS) -> App:
    """The Bolt app for CFG, with the secrets from the environment.

    HTTP mode always verifies request signatures, so it needs SLACK_SIGNING_SECRET.
    """
    token = cfg.secret("SLACK_BOT_TOKEN")
    if not token:
        raise BadInput("SLACK_BOT_TOKEN is not set; export the bot token (xoxb-…) from your Slack app "
                       "(see docs/slack.md)")
    secret = cfg.secret("SLACK_SIGNING_SECRET")
    if not socket_mode and not secret:
        raise BadInput("SLACK_SIGNING_SECRET is not set; HTTP mode verifies every request's signature with it "
                       "(Basic Information → App Credentials in your Slack app)")
    client = web_client(token, cfg.api_url)
    try:
        app = App(
            name="segmenta",
            client=client,
            signing_secret=secret or "",
            request_verification_enabled=not socket_mode,
            process_before_response=False,
            listener_executor=ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segmenta-bot"),
            logger=logging.getLogger("segmenta.bolt"),
        )
    except (BoltError, SlackApiError) as e:
        raise BadInput(f"Slack refused the bot token ({redact(str(e))[:300]}); check SLACK_BOT_TOKEN") from None
    except OSError as e:  # no connection to the Web API
        where = cfg.api_url or "https://slack.com/api/"
        raise BadInput(f"cannot reach Slack's Web API at {where}: {redact(str(e))[:300]}") from None
    if not socket_mode:  # signed HTTP requests: each is served once
        replay.register(app)
    listeners.register(app, cfg)
    return app
