"""`segmenta bot --console`: the Slack command layer without Slack (errbot's text backend).

Type `/segment …` lines; the replies are the very Block Kit messages Slack
would get, rendered as text. Buttons are numbered: type the number to click
one (a confirm dialog asks first, as in Slack). A CSV export is written to
the current folder instead of being posted; `create` alone asks the form's
questions one by one.
"""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from core.errors import SegmentaError

from . import authorization, blocks, commands, operations
from .operations import Caller

# ---- Block Kit → text (pure) ------------------------------------------------------

_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")


def mrkdwn_text(text: str) -> str:
    """What a person reads in Slack, as plain text."""
    text = _DATE.sub(r"\1", text)
    text = re.sub(r"<#([A-Z0-9]+)(?:\|([^>]*))?>", lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = re.sub(r"<@([A-Z0-9]+)>", r"@\1", text)
    text = re.sub(r"```(.*?)```", lambda m: "\n" + "\n".join("    " + x for x in m.group(1).split("\n")) + "\n",
                  text, flags=re.S)
    text = text.replace("\u200b", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip("\n")


def render(message_blocks: list[dict], buttons: list[dict] | None = None) -> str:
    """Blocks as text; every button found is appended to BUTTONS and shown as [n]."""
    buttons = [] if buttons is None else buttons
    out = []

    def label(b):
        buttons.append(b)
        return f"[{len(buttons)}] {b['text']['text']}"

    for block in message_blocks:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            out += [title, "=" * min(len(title), 72)]
        elif kind == "section":
            if block.get("text"):
                out.append(mrkdwn_text(block["text"]["text"]))
            for f in block.get("fields", []):
                head, _, value = mrkdwn_text(f["text"]).partition("\n")
                out.append(f"{head.strip('*')}: " + value.replace("\n", "\n    "))
            if block.get("accessory", {}).get("type") == "button":
                out[-1] += "    " + label(block["accessory"])
        elif kind == "context":
            out += ["  " + mrkdwn_text(e.get("text", "")) for e in block.get("elements", [])]
        elif kind == "actions":
            out.append("   ".join(label(b) for b in block.get("elements", []) if b.get("type") == "button"))
        elif kind == "divider":
            out.append("-" * 40)
    return "\n".join(out)


def slack_escaped(line: str) -> str:
    """What Slack sends for a typed line (should_escape): & < > as entities."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---- the prompt ---------------------------------------------------------------------

class Console:
    def __init__(self, caller: Caller, *, stdin=None, stdout=None, out_dir: Path | None = None):
        self.caller = caller
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout
        self.out_dir = out_dir or Path.cwd()
        self.buttons: list[dict] = []

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def ask(self, prompt: str) -> str | None:
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        return None if not line else line.rstrip("\n")

    def loop(self) -> None:
        prog = self.caller.prog
        self.say(f"Segmenta console: type `{prog} help`; a number clicks a button; Ctrl-D or `quit` leaves.")
        self.say(f"You are {self.caller.user}; answers marked [channel] would be seen by everyone there.")
        while True:
            line = self.ask(f"{prog} ")
            if line is None or line.strip() in ("quit", "exit"):
                self.say()
                return
            self.handle(line)

    def handle(self, line: str) -> None:
        line = line.strip()
        prog = self.caller.prog
        if line.startswith(prog + " ") or line == prog:
            line = line[len(prog):].strip()
        try:
            if line.isdigit():
                self.click(int(line))
                return
            cmd = commands.parse(slack_escaped(line), prog)
            authorization.require(cmd.op, cmd.with_contacts, self.caller.user, self.caller.cfg)
            self.show(operations.run(cmd, self.caller))
        except SegmentaError as e:
            self.show_message(blocks.error(e))

    def click(self, n: int) -> None:
        if not 1 <= n <= len(self.buttons):
            self.say(f"There is no button [{n}].")
            return
        b = self.buttons[n - 1]
        dialog = b.get("confirm")
        if dialog:
            answer = self.ask(f"{dialog['title']['text']} {mrkdwn_text(dialog['text']['text'])} "
                              f"[{dialog['confirm']['text']}? y/N] ")
            if (answer or "").strip().lower() not in ("y", "yes"):
                self.say("Not done.")
                return
        action = b["action_id"]
        if action in (blocks.CONFIRM, blocks.CANCEL):
            value = operations.pending_value(b["value"])
            authorization.require_asker(value, self.caller.user)
            if action == blocks.CONFIRM:
                authorization.require(value["op"], value.get("with_contacts", False), self.caller.user,
                                      self.caller.cfg)
            if not operations.claim(value):
                self.say("(already done)")
                return
            if action == blocks.CANCEL:
                self.show_message(blocks.cancelled())
                return
            self.show(operations.confirmed(value, self.caller))
            return
        self.show(operations.act(action, b["value"], self.caller))

    def show(self, outcome: operations.Outcome) -> None:
        if outcome.form is not None:
            self.form(outcome.form)
        if outcome.upload is not None:
            up = outcome.upload
            target = self.out_dir / up.filename
            shutil.copyfile(up.path, target)
            up.discard()
            self.say(f"[channel] {mrkdwn_text(up.comment)}\n  (in Slack the file is posted to the channel; "
                     f"here it is saved as {target})")
        if outcome.message is not None:
            self.show_message(outcome.message)

    def show_message(self, msg: blocks.Message) -> None:
        self.buttons = []
        text = render(msg.blocks, self.buttons)
        self.say(("[channel] " if msg.public else "[only you] ") + text)

    def form(self, view: dict) -> None:
        """The modal's questions, one by one; the count before saving, as in Slack."""
        name = (self.ask("Name: ") or "").strip()
        kind = (self.ask("Kind (list/dynamic) [dynamic]: ") or "").strip().lower() or "dynamic"
        if kind not in ("list", "dynamic"):
            self.say("The kind is list or dynamic; nothing was created.")
            return
        condition = (self.ask("Condition: ") or "").strip() if kind == "dynamic" else ""
        try:
            counted = operations.check_form(name, kind, condition, self.caller.cfg, count=kind == "dynamic")
            if counted is not None:
                self.say(f"{counted['count']:,} contacts match ({counted['active']:,} active).")
            answer = (self.ask("Create it? [y/N] ") or "").strip().lower()
            if answer not in ("y", "yes"):
                self.say("Nothing was created.")
                return
            self.show_message(operations.create_from_form(name, kind, condition, self.caller))
        except SegmentaError as e:
            self.show_message(blocks.error(e))


def run_console(cfg, user: str, **kw) -> None:
    Console(Caller(user, None, cfg, face="console"), **kw).loop()
