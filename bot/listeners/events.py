"""The App Home tab: the biggest segments, recent refreshes, the channels told."""
from __future__ import annotations

from .. import operations
from .errors import answered


def register(app, cfg) -> None:
    @app.event("app_home_opened")
    def segment_home(event, body, context, client):
        if event.get("tab", "home") != "home":
            return
        with answered(body, context):
            client.views_publish(user_id=event["user"], view=operations.home())
