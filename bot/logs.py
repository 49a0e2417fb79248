"""Logging for the bot: to stderr, and never with a secret in it."""
from __future__ import annotations

import logging
import sys

from core.secrets import RedactSecrets, redact  # noqa: F401 (the bot imports them from here)


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
