"""A global middleware: every request gets its Caller and its Replier in the context."""
from __future__ import annotations

import json

from ..operations import Caller
from ..replies import Replier


def _channel(body: dict) -> str | None:
    if body.get("channel_id"):  # a slash command
        return body["channel_id"]
    if isinstance(body.get("channel"), dict):  # a click on a message
        return body["channel"]["id"]
    container = body.get("container") or {}
    if container.get("channel_id"):
        return container["channel_id"]
    view = body.get("view") or {}
    try:  # a form remembers where it was opened
        return json.loads(view.get("private_metadata") or "{}").get("channel")
    except (ValueError, AttributeError):
        return None


def register(app, cfg) -> None:
    @app.middleware
    def segmenta_context(body, context, client, next):
        user = body.get("user_id") or (body.get("user") or {}).get("id") or context.user_id
        channel = _channel(body)
        context["caller"] = Caller(user, channel, cfg)
        context["reply"] = Replier(client, response_url=body.get("response_url"), channel=channel, user=user)
        next()
