"""`/segment …`: ack at once, then do the work and answer through the response_url."""
from __future__ import annotations

from .. import authorization, blocks, commands, operations
from .errors import answered


def register(app, cfg) -> None:
    def authorize(body, context, next):
        """Read the text, and refuse what the person may not do, before any core call.
        Either refusal is answered in the ack by the error handler."""
        cmd = commands.parse(body.get("text") or "", cfg.slack_command)
        authorization.require(cmd.op, cmd.with_contacts, context["caller"].user, cfg)
        context["command"] = cmd
        next()

    @app.command(cfg.slack_command, middleware=[authorize])
    def segment_command(ack, body, context):
        cmd = context["command"]
        ack(**(blocks.acknowledgement(cmd) or {}))
        with answered(body, context):
            outcome = operations.run(cmd, context["caller"])
            context["reply"].deliver(outcome, trigger_id=body.get("trigger_id"))
