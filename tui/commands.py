"""The command palette (Ctrl+P): every operation by name, from the key table."""
from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from .keys import APP_KEYS, SEGMENT_KEYS, key_label


class SegmentaCommands(Provider):
    """One provider for all of Segmenta's actions (as Posting does)."""

    def _commands(self):
        from .screens.main import MainScreen

        out = []
        if isinstance(self.screen, MainScreen):
            for b in SEGMENT_KEYS:
                out.append((f"{b.description} ({key_label(b)})", b.tooltip, partial(self.screen.run_action, b.action)))
        for b in APP_KEYS:
            out.append((f"{b.description} ({key_label(b)})", b.tooltip, partial(self.app.run_action, b.action)))
        return out

    async def discover(self) -> Hits:
        for name, help_text, command in self._commands():
            yield DiscoveryHit(name, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, command in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), command, text=name, help=help_text)
