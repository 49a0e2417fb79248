"""Logging for the bot: to stderr, and never with a secret in it."""
from __future__ import annotations

import logging
import os
import sys

SECRETS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")


def redact(text: str) -> str:
    from core.sender import redact as redact_tokens

    for name in SECRETS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"({name} redacted)")
    return redact_tokens(text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _BoltNoise(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself, then warns that our client (which holds it) wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def setup(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("segmenta.bolt").addFilter(_BoltNoise())
    for noisy in ("apscheduler", "slack_sdk", "slack_bolt", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
