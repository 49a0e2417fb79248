"""Who may do what from Slack: deleting contacts is for the config's admins.

Checked before any core call — by the Slack middleware for the command and
for its confirm button, and by the console before it runs a line (Netflix
Dispatch guards its commands the same way).
"""
from __future__ import annotations

from core.errors import Refused


def needs_admin(op: str | None, with_contacts: bool = False) -> bool:
    return op == "delete" and bool(with_contacts)


def require_asker(value: dict, user: str | None) -> None:
    """A confirm or cancel button answers the person who asked, no one else."""
    if value.get("user") != user:
        raise Refused("only the person who asked can answer this question; nothing was changed")


def require(op: str | None, with_contacts: bool, user: str | None, cfg) -> None:
    """Raise Refused unless USER may do OP."""
    if needs_admin(op, with_contacts) and user not in cfg.slack_admins:
        raise Refused(
            "deleting contacts is for Segmenta's admins (the [slack] admins of the config); "
            "nothing was deleted. Ask an admin, or delete the segment alone: it keeps the contacts."
        )
