"""What a condition is evaluated against, besides the contacts."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EvalContext:
    """`today` is the date in the config's time zone, computed by the caller
    when the condition is evaluated (so tests can fix it, and a scheduled
    refresh moves `30 days ago` and birthdays forward on its own).
    `custom_fields` types custom.KEY as the config does ({key: type}).
    `few`: the condition is tested on a few contacts given by id (an import's,
    `why`'s one), not on all of them; the SQL is shaped for that."""

    today: dt.date
    custom_fields: dict = field(default_factory=dict)
    few: bool = False
