"""Every Block Kit message and view the bot sends, built by pure functions.

Each returns plain dicts (a `Message`, a modal, the App Home), always with
fallback text, and within Slack's limits: at most 50 blocks, section text up
to 3000 characters, a header up to 150, at most 10 fields of up to 2000.
Anything a person typed (segment names, conditions, emails) goes through
`esc()`, so that no `<!channel>` or `<@U…>` reaches Slack as a mention.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field

from . import commands

MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
FIELD_TEXT = 2000
MAX_FIELDS = 10
BUTTON_VALUE = 2000
PAGE_SIZE = 10

# action and view ids: the listeners match these
CONFIRM = "segment_confirm"
CANCEL = "segment_cancel"
PAGE = "segment_page"
SHOW = "segment_show"
CREATE_VIEW = "segment_create"


@dataclass
class Message:
    """One reply: fallback text, blocks, and who sees it."""

    text: str
    blocks: list[dict] = field(default_factory=list)
    public: bool = False  # in the channel; else only the person who asked

    def payload(self) -> dict:
        return {"text": self.text, "blocks": self.blocks}


# ---- text -------------------------------------------------------------------

def esc(value) -> str:
    """Text safe inside mrkdwn: no mentions, links or entities survive."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str, limit: int = SECTION_TEXT) -> str:
    """A code block that stays a code block, whatever the text holds."""
    body = esc(text).replace("```", "`\u200b``")
    return "```" + clip(body, limit - 6) + "```"


def quoted(name: str) -> str:
    return f"“{esc(name)}”"


def num(n) -> str:
    return f"{n:,}" if isinstance(n, int) else ("–" if n is None else str(n))


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def when(value) -> str:
    """A time Slack shows in each reader's time zone (stored times are UTC)."""
    if value is None:
        return "never"
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        fallback = aware.strftime("%Y-%m-%d %H:%M UTC")
        return f"<!date^{int(aware.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
    return esc(value)


def spark(sizes: list[int]) -> str:
    if not sizes:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    lo, hi = min(sizes), max(sizes)
    return "".join(bars[0 if hi == lo else round((s - lo) * 7 / (hi - lo))] for s in sizes)


# ---- blocks -------------------------------------------------------------------

def header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, HEADER_TEXT), "emoji": True}}


def section(text: str, accessory: dict | None = None, block_id: str | None = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}}
    if accessory:
        block["accessory"] = accessory
    if block_id:
        block["block_id"] = block_id
    return block


def fields(pairs: list[tuple[str, str]]) -> dict:
    return {"type": "section", "fields": [
        {"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", FIELD_TEXT)} for label, value in pairs[:MAX_FIELDS]
    ]}


def context(*texts: str) -> dict:
    return {"type": "context", "elements": [
        {"type": "mrkdwn", "text": clip(t, SECTION_TEXT)} for t in texts[:10] if t
    ]}


def divider() -> dict:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None, confirm: dict | None = None) -> dict:
    b = {"type": "button", "text": {"type": "plain_text", "text": clip(text, 75), "emoji": True},
         "action_id": action_id, "value": value[:BUTTON_VALUE]}
    if style:
        b["style"] = style
    if confirm:
        b["confirm"] = confirm
    return b


def actions(*elements: dict, block_id: str | None = None) -> dict:
    block = {"type": "actions", "elements": list(elements)[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def packed(lines: list[str], limit: int = SECTION_TEXT) -> list[dict]:
    """Lines packed into as few sections as fit Slack's text limit."""
    out, chunk = [], ""
    for line in lines:
        line = clip(line, limit)
        if chunk and len(chunk) + 1 + len(line) > limit:
            out.append(section(chunk))
            chunk = line
        else:
            chunk = f"{chunk}\n{line}" if chunk else line
    if chunk:
        out.append(section(chunk))
    return out


def fit(blocks: list[dict], note: str = "…and more than fits in one message.") -> list[dict]:
    """At most 50 blocks: the last place says that some were left out."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    return blocks[: MAX_BLOCKS - 1] + [context(note)]


def message(text: str, blocks: list[dict], public: bool = False) -> Message:
    return Message(clip(text, 3000) or " ", fit(blocks), public)


def notice(text: str, public: bool = False) -> Message:
    """A one-section message (mrkdwn TEXT, already escaped)."""
    return message(text, [section(text)], public)


# ---- acknowledgement, errors ------------------------------------------------

_WORKING = {
    "create_dynamic": "Creating {name} and counting its members…",
    "preview": "Counting…",
    "refresh": "Refreshing {segment}…",
    "copy": "Copying {segment}…",
    "split": "Splitting {segment}…",
    "export_csv": "Exporting {segment} to a CSV file…",
    "export_list": "Exporting {segment} to a new list…",
}


def acknowledgement(cmd) -> dict | None:
    """What the ack itself says: a note for slow work, else nothing."""
    if cmd is None or cmd.op not in _WORKING:
        return None
    text = "⏳ " + _WORKING[cmd.op].format(
        name=quoted(cmd.name or ""), segment=quoted(cmd.segment or "")
    )
    return {"response_type": "ephemeral", "text": text}


def working(text: str) -> Message:
    return notice(f"⏳ {text}")


def error(err) -> Message:
    """A person's mistake, told to that person only."""
    from core.errors import ConditionError

    if isinstance(err, ConditionError) and err.column is not None:
        text = f":warning: That condition cannot be understood:\n{code(str(err))}"
        return message(f"That condition cannot be understood: {esc(err.what)}", [section(text)])
    return notice(f":warning: {esc(err)}")


def internal_error(err: Exception) -> Message:
    text = (f":boom: Something went wrong on our side ({esc(type(err).__name__)}). "
            "Nothing half-done was kept; try again, and tell whoever runs Segmenta if it happens again.")
    return notice(text)


UPLOAD_FAILURES = {
    "not_in_channel": "I am not in this channel, so I cannot post the file here. Invite me with `/invite @Segmenta`, "
                      "or run the export in a channel I am in.",
    "channel_not_found": "I cannot post files in this conversation. Run the export in a channel I am in, "
                         "or in a direct message with me.",
    "is_archived": "This channel is archived; run the export in another channel.",
    "missing_scope": "I lack the `files:write` permission; ask whoever installed Segmenta to reinstall it "
                     "with the scopes of bot/manifest.yaml.",
    "file_uploads_disabled": "File uploads are turned off in this workspace.",
    "file_upload_disabled": "File uploads are turned off in this workspace.",
    "restricted_action": "This workspace does not let me post files in this channel.",
    "ratelimited": "Slack is asking me to slow down; try the export again in a minute.",
}


def upload_failed(code_: str, segment: str) -> Message:
    why = UPLOAD_FAILURES.get(code_, f"Slack refused the upload ({esc(code_)}).")
    return notice(f":warning: The CSV of {quoted(segment)} was not posted. {why}")


# ---- help ---------------------------------------------------------------------

def help_message(prog: str = "/segment", unknown: str | None = None, topic: str | None = None) -> Message:
    lines = []
    if unknown:
        lines.append(f"I do not know `{esc(clip(unknown, 60))}`. Here is what I do:")
    rows = commands.USAGE
    if topic:
        t = topic.casefold().split()[0]
        t = commands.ALIASES.get(t, t)
        chosen = [r for r in rows if r[0] == t or r[0].startswith(t + "_")]
        rows = chosen or rows
    for _, usage, what, _ in rows:
        lines.append(f"`{esc(prog)} {esc(usage)}`\n      {esc(what)}")
    examples = [f"`{esc(prog)} {esc(example)}`" for _, _, _, example in rows if example != "help"]
    blocks = [header("Segmenta: contact segments from Slack")]
    blocks += packed(lines)
    blocks.append(section("*Examples*\n" + "\n".join(examples[:12])))
    blocks.append(context(
        "Names with spaces go in quotes, or without them where nothing follows. "
        "A segment is also its id: `#12`. Conditions: `gender = female and region in (Kyiv, Lviv)`, "
        "`birthday in next 7 days`, `orders.total > 300`, `not in segment \"Do not contact\"`."
    ))
    return message(f"Segmenta help: {esc(prog)} help", blocks)


# ---- list ---------------------------------------------------------------------

def segment_list(rows: list[dict], text: str | None, page: int = 1, per_page: int = PAGE_SIZE) -> Message:
    total = len(rows)
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    shown = rows[(page - 1) * per_page: page * per_page]
    what = f" matching {quoted(text)}" if text else ""
    if not rows:
        body = (f"No segments match {quoted(text)}." if text
                else "No segments yet. Create one: `/segment create list NAME` or `/segment create`.")
        return notice(body)
    blocks = [section(f"*{plural(total, 'segment')}{what}*" + (f" — page {page} of {pages}" if pages > 1 else ""))]
    for r in shown:
        line = f"*{esc(r['name'])}*  `#{r['id']}` · {r['kind']} · {plural(r['members'], 'member')}"
        if r.get("last_refresh"):
            line += f" · refreshed {when(r['last_refresh'])}"
        if r.get("condition"):
            line += f"\n{esc(clip(r['condition'], 300))}"
        blocks.append(section(line, accessory=button("Show", SHOW, str(r["id"]))))
    nav = []
    if page > 1:
        nav.append(button("‹ Previous", PAGE + "_prev", _page_value(text, page - 1)))
    if page < pages:
        nav.append(button("Next ›", PAGE + "_next", _page_value(text, page + 1)))
    if nav:
        blocks.append(actions(*nav, block_id="paging"))
    names = ", ".join(r["name"] for r in shown)
    return message(f"{plural(total, 'segment')}{what}: {esc(clip(names, 2000))}", blocks)


def _page_value(text: str | None, page: int) -> str:
    return json.dumps({"q": clip(text or "", 1500), "p": page}, ensure_ascii=False)


# ---- show ---------------------------------------------------------------------

def segment_card(d: dict) -> Message:
    pairs = [
        ("Kind", d["kind"]),
        ("Members", f"{num(d['members'])} ({num(d['active'])} active)"),
    ]
    if d.get("schedule"):
        pairs.append(("Schedule", esc(d["schedule"])))
    r = d.get("last_refresh")
    if r:
        pairs.append(("Last refresh", f"{when(r['at'])} ({esc(r['trigger'])})\n"
                                      f"{num(r['total'])} members, +{num(r['joined'])} joined, −{num(r['left'])} left"))
    if d.get("origin"):
        pairs.append(("Origin", esc(d["origin"]["text"])))
    if d.get("channels"):
        pairs.append(("Told after refreshes", ", ".join(_channel(c) for c in d["channels"])))
    pairs.append(("Created", f"{when(d.get('created_at'))} by {esc(d.get('created_by') or '?')}"))
    blocks = [header(f"{d['name']}  (#{d['id']})"), fields(pairs)]
    if d.get("condition"):
        blocks.append(section("*Condition*\n" + code(d["condition"], SECTION_TEXT - 20)))
    if d.get("last_error"):
        blocks.append(section(f":warning: The last refresh failed {when(d['last_error']['at'])}: "
                              f"{esc(clip(d['last_error']['error'], 2000))}"))
    history = [h["size"] for h in d.get("history") or [] if h.get("size") is not None]
    if len(history) > 1:
        blocks.append(context(f"Size over time: {spark(history[-30:])}  {num(history[0])} → {num(history[-1])}"))
    return message(f"{esc(d['name'])} (#{d['id']}, {d['kind']}): {num(d['members'])} members", blocks)


def _channel(c: dict) -> str:
    ch = c.get("channel", "")
    shown = f"<#{ch}>" if ch[:1] in ("C", "G") and ch.isalnum() else esc(ch)
    status = c.get("status") or c.get("failure")
    return shown + (f" ({esc(status)})" if status and status != "ok" else "")


# ---- preview, why --------------------------------------------------------------

def preview(d: dict) -> Message:
    lines = [f"*{plural(d['count'], 'contact')}* match ({num(d['active'])} active):", code(d["condition"], 1500)]
    blocks = [section("\n".join(lines))]
    if d.get("samples"):
        sample = []
        for s in d["samples"]:
            who = " ".join(x for x in (s.get("first_name"), s.get("last_name")) if x)
            where = ", ".join(x for x in (s.get("city"), s.get("region")) if x)
            sample.append("• " + esc(s.get("email") or "") + (f" — {esc(who)}" if who else "")
                          + (f", {esc(where)}" if where else ""))
        blocks.append(section("*For example*\n" + "\n".join(sample)))
    blocks.append(context("Nothing was saved. To keep it: `/segment create dynamic NAME where CONDITION`."))
    return message(f"{d['count']:,} contacts match: {esc(clip(d['condition'], 500))}", blocks)


def why(d: dict) -> Message:
    state = "is in" if d["member"] else "is not in"
    head = f"{esc(d['email'])} {state} {quoted(d['segment'])}"
    note = "" if d["member"] == d["matches"] else (
        " (the condition says " + ("yes" if d["matches"] else "no") + "; the next refresh brings it up to date)"
    )
    lines = [f"{'✅' if t['result'] else '❌'} `{esc(t['test'])}`" + (f"  — {esc(clip(str(t['value']), 200))}"
                                                                   if t.get("value") not in (None, "") else "")
             for t in d["tests"]]
    blocks = [section(f"*{head}*{note}"), *packed(lines)]
    blocks.append(context("Condition: " + esc(clip(d["condition"] or "", 2000))))
    return message(head, blocks)


# ---- results of changes (in the channel) ---------------------------------------

def _by(user: str | None) -> str:
    """Who did it: a mention for a Slack user id, plain text for anyone else (the console)."""
    if not user:
        return ""
    return f" by <@{user}>" if re.fullmatch(r"[UW][A-Z0-9]{2,}", user) else f" by {esc(user)}"


def created(name: str, seg_id: int, kind: str, members: int = 0, condition: str | None = None,
            user: str | None = None) -> Message:
    text = f":white_check_mark: Created the {kind} {quoted(name)} (`#{seg_id}`){_by(user)}"
    text += f": {plural(members, 'member')}." if kind == "dynamic" else "."
    blocks = [section(text)]
    if condition:
        blocks.append(context("where " + esc(clip(condition, 2900))))
    return message(text, blocks, public=True)


def refreshed(r: dict, user: str | None = None) -> Message:
    text = (f":arrows_counterclockwise: Refreshed {quoted(r['segment'])}{_by(user)}: "
            f"{plural(r['total'], 'member')}, +{num(r['joined'])} joined, −{num(r['left'])} left.")
    return notice(text, public=True)


def copied(new_name: str, new_id: int, source: str, members: int, user: str | None = None) -> Message:
    text = (f":white_check_mark: Copied {quoted(source)} to {quoted(new_name)} (`#{new_id}`){_by(user)}: "
            f"{plural(members, 'member')}.")
    return notice(text, public=True)


def split_done(d: dict, user: str | None = None) -> Message:
    lines = [f":scissors: Split {quoted(d['source'])}{_by(user)} with seed `{d['seed']}`:"]
    lines += [f"• {quoted(p['name'])} (`#{p['id']}`): {plural(p['members'], 'member')}" for p in d["parts"]]
    if d.get("held_out"):
        lines.append(f"• held out: {plural(d['held_out'], 'member')}")
    blocks = packed(lines)
    if d.get("warning"):
        blocks.append(context(f":warning: {esc(d['warning'])}"))
    return message(lines[0], blocks, public=True)


def exported_list(source: str, target: str, target_id: int, members: int, user: str | None = None) -> Message:
    text = (f":outbox_tray: Exported {plural(members, 'member')} of {quoted(source)} to the new list "
            f"{quoted(target)} (`#{target_id}`){_by(user)}.")
    return notice(text, public=True)


def export_comment(source: str, rows: int, user: str | None = None) -> str:
    """The text posted with the CSV file (files.completeUploadExternal takes text only)."""
    return f":outbox_tray: {plural(rows, 'member')} of {quoted(source)}{_by(user)}."


def emptied(name: str, removed: int, user: str | None = None) -> Message:
    return notice(f":wastebasket: Emptied {quoted(name)}{_by(user)}: {plural(removed, 'member')} removed; "
                  "the contacts stay.", public=True)


def deleted(d: dict, user: str | None = None) -> Message:
    text = f":wastebasket: Deleted {quoted(d['segment'])}{_by(user)} ({plural(d['members'], 'member')})"
    text += (f" and {plural(d['contacts_deleted'], 'contact')} with their orders." if d.get("with_contacts")
             else "; the contacts stay.")
    return notice(text, public=True)


def changed_members(verb: str, name: str, count: int, members: int, unknown: list[str],
                    user: str | None = None) -> Message:
    prep = "to" if verb == "added" else "from"
    text = (f":white_check_mark: {verb.capitalize()} {plural(count, 'contact')} {prep} {quoted(name)}{_by(user)} "
            f"(now {plural(members, 'member')}).")
    blocks = [section(text)]
    if unknown:
        shown = ", ".join(esc(e) for e in unknown[:30]) + (" …" if len(unknown) > 30 else "")
        blocks.append(context(f"Not {verb}, no such contact: {clip(shown, 2900)}"))
    return message(text, blocks, public=True)


def subscribed(name: str, channel: str, on: bool, user: str | None = None) -> Message:
    where = _channel({"channel": channel})
    if on:
        text = f":bell: {where} will be told after each refresh that changes {quoted(name)}{_by(user)}."
    else:
        text = f":no_bell: {where} will no longer be told about {quoted(name)}{_by(user)}."
    return notice(text, public=True)


# ---- confirmations ---------------------------------------------------------------

def confirmation(question: str, detail: str, value: dict, yes: str, title: str) -> Message:
    """An ephemeral question with a danger button behind a confirm dialog."""
    raw = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    dialog = {
        "title": {"type": "plain_text", "text": clip(title, 100)},
        "text": {"type": "mrkdwn", "text": clip(detail, 300)},
        "confirm": {"type": "plain_text", "text": clip(yes, 30)},
        "deny": {"type": "plain_text", "text": "Keep it"},
        "style": "danger",
    }
    blocks = [
        section(f"*{question}*\n{detail}"),
        actions(
            button(yes, CONFIRM, raw, style="danger", confirm=dialog),
            button("Cancel", CANCEL, raw),
            block_id="confirm",
        ),
    ]
    return message(question, blocks)


def confirm_empty(name: str, members: int, value: dict) -> Message:
    return confirmation(
        f"Empty {quoted(name)}?",
        f"This removes its {plural(members, 'member')}; the contacts stay in the database.",
        value, "Empty it", "Empty the list?",
    )


def confirm_delete(name: str, kind: str, members: int, with_contacts: bool, value: dict) -> Message:
    if with_contacts:
        detail = (f"This deletes the {kind} AND its {plural(members, 'member')} from the database, "
                  "with their orders and their place in every other segment. It cannot be undone.")
        return confirmation(f"Delete {quoted(name)} and its contacts?", detail, value,
                            "Delete contacts too", "Delete contacts?")
    detail = f"This deletes the {kind} ({plural(members, 'member')}); the contacts stay in the database."
    return confirmation(f"Delete {quoted(name)}?", detail, value, "Delete it", "Delete the segment?")


def cancelled() -> Message:
    return notice("Cancelled; nothing was changed.")


# ---- the form -----------------------------------------------------------------------

def create_form(*, name: str = "", kind: str = "dynamic", condition: str = "", channel: str | None = None,
                checked: str | None = None, counted: dict | None = None, counting: bool = False,
                problem: str | None = None) -> dict:
    """The modal of `/segment create`. CHECKED stands for the condition whose count is
    shown (COUNTED); a second submit with the same condition saves."""
    options = {
        "list": {"text": {"type": "plain_text", "text": "List — members added by hand"}, "value": "list"},
        "dynamic": {"text": {"type": "plain_text", "text": "Dynamic — members follow a condition"},
                    "value": "dynamic"},
    }
    name_el = {"type": "plain_text_input", "action_id": "value", "max_length": 200,
               "placeholder": {"type": "plain_text", "text": "Kyiv women"}}
    if name:
        name_el["initial_value"] = name
    cond_el = {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 3000,
               "placeholder": {"type": "plain_text", "text": "gender = female and region = Kyiv"}}
    if condition:
        cond_el["initial_value"] = condition
    blocks = [
        {"type": "input", "block_id": "name", "label": {"type": "plain_text", "text": "Name"}, "element": name_el},
        {"type": "input", "block_id": "kind", "label": {"type": "plain_text", "text": "Kind"},
         "element": {"type": "radio_buttons", "action_id": "value", "options": list(options.values()),
                     "initial_option": options.get(kind, options["dynamic"])}},
        {"type": "input", "block_id": "condition", "optional": True,
         "label": {"type": "plain_text", "text": "Condition (dynamic only)"}, "element": cond_el,
         "hint": {"type": "plain_text",
                  "text": "For example: birthday in next 7 days and status = active"}},
    ]
    if problem:
        blocks.append(section(f":warning: {esc(problem)}"))
    elif counting:
        blocks.append(context("⏳ Counting the members… Press *Create* again in a moment."))
    elif counted is not None:
        blocks.append(section(f"*{plural(counted['count'], 'contact')}* match ({num(counted['active'])} active). "
                              "Press *Create* to save it, or change the condition."))
    else:
        blocks.append(context("For a dynamic segment, the first *Create* counts its members; the second saves it."))
    return {
        "type": "modal",
        "callback_id": CREATE_VIEW,
        "title": {"type": "plain_text", "text": "New segment"},
        "submit": {"type": "plain_text", "text": "Create"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps({"channel": channel, "checked": checked}),
        "blocks": blocks,
    }


def field_error(err) -> str:
    """A ConditionError in the one line a form field shows."""
    from core.errors import ConditionError

    return clip(err.what if isinstance(err, ConditionError) else str(err), 2000)


# ---- App Home ------------------------------------------------------------------------

def home(biggest: list[dict], refreshes: list[dict], subscriptions: list[dict]) -> dict:
    blocks = [header("Segmenta"),
              context("Type `/segment help` anywhere to see what I do. `/segment create` opens a form.")]
    blocks += [divider(), section("*Biggest segments*")]
    if biggest:
        blocks += packed([f"• *{esc(r['name'])}* `#{r['id']}` · {r['kind']} · {plural(r['members'], 'member')}"
                          for r in biggest[:15]])
    else:
        blocks.append(context("No segments yet."))
    blocks += [divider(), section("*Recent refreshes*")]
    if refreshes:
        blocks += packed([f"• {when(r['at'])} {quoted(r['segment'])}: {num(r['total'])} members, "
                          f"+{num(r['joined'])} / −{num(r['left'])}" + (f" ({esc(r['trigger'])})" if r.get("trigger") else "")
                          for r in refreshes[:15]])
    else:
        blocks.append(context("No refreshes yet."))
    blocks += [divider(), section("*Channels told of refreshes*")]
    if subscriptions:
        blocks += packed([f"• {_channel(s)} ← {quoted(s['segment'])}" for s in subscriptions[:30]])
    else:
        blocks.append(context("None yet: `/segment subscribe SEGMENT #channel`."))
    return {"type": "home", "blocks": fit(blocks)}
