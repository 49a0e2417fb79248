"""`/segment …`: ack at once, then do the work and answer through the response_url."""
from __future__ import annotations

from core.errors import SegmentaError

from .. import authorization, blocks, commands, operations


def register(app, cfg) -> None:
    def authorize(body, context, next):
        """Parse the text, and refuse what the person may not do before any core call."""
        try:
            cmd = commands.parse(body.get("text") or "", cfg.slack_command)
        except SegmentaError as e:
            context["command_error"] = e  # the listener acks, then reports it
            return next()
        authorization.require(cmd.op, cmd.with_contacts, context["caller"].user, cfg)
        context["command"] = cmd
        next()

    @app.command(cfg.slack_command, middleware=[authorize])
    def segment_command(ack, body, context):
        cmd = context.get("command")
        ack(**(blocks.acknowledgement(cmd) or {}))
        if cmd is None:
            raise context["command_error"]
        outcome = operations.run(cmd, context["caller"])
        context["reply"].deliver(outcome, trigger_id=body.get("trigger_id"))
