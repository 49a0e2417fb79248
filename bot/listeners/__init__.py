"""Every Bolt listener, registered from here (the bolt-python starter template's layout)."""
from __future__ import annotations


def register(app, cfg) -> None:
    from . import actions, commands, context, errors, events, views

    errors.register(app, cfg)
    context.register(app, cfg)
    commands.register(app, cfg)
    actions.register(app, cfg)
    views.register(app, cfg)
    events.register(app, cfg)
