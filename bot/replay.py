"""Replayed requests: each signed request is served once.

Bolt checks a request's signature (it came from Slack) and its timestamp
(within five minutes of now, either way); Slack's guidance stops there. But
within those five minutes, anyone who saw a request could send it again,
byte for byte, and it would verify: `add`, `refresh` or a confirm click would
act twice. So the signatures of verified requests are remembered until their
timestamp is out of Bolt's window, and a signature seen before is refused
with 401, like a forged one. Slack itself never sends one signature twice
for commands and clicks (each request has its own timestamp and body).

The memory is this process's: bots behind a load balancer each refuse the
replays that reach them, not those sent to another replica.
"""
from __future__ import annotations

import threading
import time

from slack_bolt import BoltResponse

WINDOW = 5 * 60  # seconds either side of now that Bolt's signature check accepts


class SeenSignatures:
    def __init__(self, clock=time.time):
        self.clock = clock
        self._until: dict[str, float] = {}  # signature -> when its timestamp leaves the window
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def first_time(self, signature: str, timestamp: str) -> bool:
        now = self.clock()
        with self._lock:
            if now >= self._next_sweep:  # forget what Bolt refuses by itself now: memory stays bounded
                self._until = {s: t for s, t in self._until.items() if t > now}
                self._next_sweep = now + 10
            if signature in self._until:
                return False
            try:
                until = int(timestamp) + WINDOW + 1
            except ValueError:
                until = now + 2 * WINDOW
            self._until[signature] = until
            return True


def register(app) -> None:
    """Refuse replays; Bolt's signature check has already run when this does."""
    seen = SeenSignatures()

    @app.middleware
    def refuse_replays(req, next):
        signature = (req.headers.get("x-slack-signature") or [None])[0]
        timestamp = (req.headers.get("x-slack-request-timestamp") or [""])[0]
        if signature and not seen.first_time(signature, timestamp):
            return BoltResponse(status=401, body={"error": "a request is accepted once"})
        next()
