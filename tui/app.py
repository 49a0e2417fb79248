"""The Segmenta terminal UI."""
from __future__ import annotations

from textual.app import App

from core import notices  # noqa: F401  (a refresh made here tells the subscribed channels too)
from core.audit import Actor
from core.config import Config
from core.text import visible

from .commands import SegmentaCommands
from .keys import APP_KEYS
from .screens.keys import KeysScreen
from .screens.main import MainScreen


class SegmentaApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "Segmenta"
    BINDINGS = APP_KEYS
    COMMANDS = App.COMMANDS | {SegmentaCommands}

    def notify(self, message, *, title="", severity="information", timeout=None, markup=True) -> None:
        """Every notification as plain text: ours hold names, conditions and
        values the user typed, never markup (a name like "[/promo]" would be an error)."""
        super().notify(visible(str(message), keep="\n"), title=visible(str(title)), severity=severity,
                       timeout=timeout, markup=False)

    def __init__(self, cfg: Config, actor: Actor, where: str = ""):
        super().__init__()
        self.cfg = cfg
        self.actor = actor
        self.sub_title = where

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    @property
    def main(self) -> MainScreen:
        return self.screen_stack[0]

    def action_keys(self) -> None:
        if not isinstance(self.screen, KeysScreen):
            self.push_screen(KeysScreen())
