"""Errors → messages, in one place: a core.errors.SegmentaError becomes an
ephemeral reply; anything else is our bug, logged, and the person is told
plainly that nothing half-done was kept.

Before the ack (a command that cannot be read, a refusal of the
authorization middleware) the answer is the ack itself, through Bolt's
`@app.error`. After the ack, listeners wrap their work in `answered()`,
which sends the answer with the request's Replier: an exception that
escapes a listener after its ack would reach Bolt's runner, which then
resets the ack it may not have sent yet (ThreadListenerRunner sets
`ack.response = None`), and Slack would see no ack at all.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from slack_bolt import BoltResponse

from core.errors import SegmentaError

from .. import blocks

log = logging.getLogger("segmenta.bot")


def message_for(error: Exception, body: dict) -> blocks.Message:
    if isinstance(error, SegmentaError):
        return blocks.error(error)
    log.error("%s while handling a %s", type(error).__name__, body.get("type") or body.get("command"),
              exc_info=error)
    return blocks.internal_error(error)


def answer(error: Exception, body: dict, context, *, acked: bool) -> BoltResponse | None:
    msg = message_for(error, body)
    if not acked and "command" in body:  # the ack itself says it
        return BoltResponse(status=200, body={"response_type": "ephemeral", **msg.payload()})
    reply = context.get("reply")
    if reply is not None:
        try:
            reply.fail(msg)
        except Exception:
            log.exception("could not tell the person about the error")
    return None if acked else BoltResponse(status=200, body="")


@contextmanager
def answered(body: dict, context):
    """Work after the ack: its errors go to the person, never back to Bolt."""
    try:
        yield
    except Exception as e:
        answer(e, body, context, acked=True)


def register(app, cfg) -> None:
    @app.error
    def segmenta_error(error, body, context, response):
        # Bolt passes no response once the listener has acked
        return answer(error, body, context, acked=response is None)
