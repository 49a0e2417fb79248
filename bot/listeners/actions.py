"""Clicks on our buttons: confirm or cancel, show, next and previous page."""
from __future__ import annotations

import re

from .. import authorization, blocks, operations
from .errors import answered


def register(app, cfg) -> None:
    def authorize(action, context, next):
        """Only the asker answers a question, and deleting contacts takes an admin:
        refused in the ack, before any core call."""
        value = operations.pending_value(action.get("value") or "")
        user = context["caller"].user
        authorization.require_asker(value, user)
        if action["action_id"] == blocks.CONFIRM:
            authorization.require(value["op"], value.get("with_contacts", False), user, cfg)
        context["pending"] = value
        next()

    @app.action(blocks.CONFIRM, middleware=[authorize])
    def segment_confirm(ack, body, context):
        ack()
        value = context["pending"]
        if not operations.claim(value):
            return  # a second click: it was done (or is being done) already
        with answered(body, context):
            reply = context["reply"]
            reply.note(operations.working_on(value))
            reply.deliver(operations.confirmed(value, context["caller"]))

    @app.action(blocks.CANCEL, middleware=[authorize])
    def segment_cancel(ack, body, context):
        ack()
        if operations.claim(context["pending"]):
            with answered(body, context):
                context["reply"].send(blocks.cancelled(), replace=True)

    @app.action(re.compile(f"^({blocks.SHOW}|{blocks.PAGE}_(next|prev))$"))
    def segment_button(ack, body, action, context):
        ack()
        with answered(body, context):
            outcome = operations.act(action["action_id"], action.get("value") or "", context["caller"])
            context["reply"].deliver(outcome)
