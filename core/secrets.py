"""Secrets are read from the environment only and never shown: every log
line and error text that could carry one goes through `redact`."""
from __future__ import annotations

import logging
import os
import re

NAMES = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")
_TOKEN_SHAPE = re.compile(r"xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+")


def redact(text: str) -> str:
    """TEXT without the values of the secrets, nor anything shaped like a Slack token."""
    for name in NAMES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"({name} redacted)")
    return _TOKEN_SHAPE.sub("xox…(redacted)", text)


class RedactSecrets(logging.Filter):
    """Put on a log handler: no record leaves with a secret in it, tracebacks included."""

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
