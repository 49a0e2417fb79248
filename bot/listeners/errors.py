"""The one error handler: a core.errors.SegmentaError becomes an ephemeral reply.

Before the ack (a refusal by the authorization middleware), the reply is the
ack itself; after it, the request's Replier sends it. Anything else is our
bug: it is logged, and the person is told plainly that nothing half-done
was kept.
"""
from __future__ import annotations

import logging

from slack_bolt import BoltResponse

from core.errors import SegmentaError

from .. import blocks

log = logging.getLogger("segmenta.bot")


def register(app, cfg) -> None:
    @app.error
    def segmenta_error(error, body, context, response):
        if isinstance(error, SegmentaError):
            msg = blocks.error(error)
        else:
            log.error("%s while handling a %s", type(error).__name__, body.get("type") or body.get("command"),
                      exc_info=error)
            msg = blocks.internal_error(error)
        if response is not None and "command" in body:  # not yet acknowledged: the ack says it
            return BoltResponse(status=200, body={"response_type": "ephemeral", **msg.payload()})
        reply = context.get("reply")
        if reply is not None:
            try:
                reply.fail(msg)
            except Exception:
                log.exception("could not tell the person about the error")
        if response is not None:
            return BoltResponse(status=200, body="")
        return None
