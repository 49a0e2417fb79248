"""The form of `/segment create`: check, show the count, then save.

A submit must be answered within 3 seconds, so the check (core's name check
and, for a dynamic segment, the count of its condition) runs with a budget:
a bad name or condition comes back as an error on its field; a count that
takes longer turns the form into "counting…" and updates it when done.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor, TimeoutError

from core.errors import ConditionError, SegmentaError

from .. import blocks, operations
from .errors import answered

CHECK_BUDGET = 2.0  # seconds of Slack's 3 for the check before answering
_checks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="segmenta-form")


def read_form(view: dict) -> tuple[str, str, str, dict]:
    values = view["state"]["values"]
    name = (values.get("name", {}).get("value", {}).get("value") or "").strip()
    option = values.get("kind", {}).get("value", {}).get("selected_option") or {}
    kind = option.get("value") or "dynamic"
    condition = (values.get("condition", {}).get("value", {}).get("value") or "").strip()
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        meta = {}
    return name, kind, condition, meta


def digest(condition: str) -> str:
    """What the form remembers of the condition it counted (the text may be 3000 characters)."""
    return hashlib.sha256(condition.encode("utf-8")).hexdigest()[:20]


def register(app, cfg) -> None:
    @app.view(blocks.CREATE_VIEW)
    def segment_form(ack, body, view, context, client):
        name, kind, condition, meta = read_form(view)
        form = dict(name=name, kind=kind, condition=condition, channel=meta.get("channel"))
        count = kind == "dynamic" and meta.get("checked") != digest(condition)
        future = _checks.submit(operations.check_form, name, kind, condition, cfg, count=count)
        try:
            counted = future.result(timeout=CHECK_BUDGET)
        except SegmentaError as e:
            field = "condition" if isinstance(e, ConditionError) else "name"
            ack(response_action="errors", errors={field: blocks.field_error(e)})
            return
        except TimeoutError:
            if not count:  # the database is slow to say whether the name is free: save, and tell
                ack()
                with answered(body, context):
                    future.result()
                    context["reply"].send(operations.create_from_form(name, kind, condition, context["caller"]))
                return
            ack(response_action="update", view=blocks.create_form(**form, counting=True))
            with answered(body, context):
                _update_when_counted(client, view["id"], form, future)
            return
        if count:
            ack(response_action="update", view=blocks.create_form(**form, checked=digest(condition), counted=counted))
            return
        ack()  # closes the form; the result goes to the channel it was opened from
        with answered(body, context):
            context["reply"].send(operations.create_from_form(name, kind, condition, context["caller"]))


def _update_when_counted(client, view_id: str, form: dict, future) -> None:
    try:
        counted = future.result()
        view = blocks.create_form(**form, checked=digest(form["condition"]), counted=counted)
    except SegmentaError as e:
        view = blocks.create_form(**form, problem=blocks.field_error(e))
    client.views_update(view_id=view_id, view=view)
