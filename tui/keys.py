"""Every key of the terminal UI, in one table.

The footer, the command palette (`tui.commands`) and the keys screen (`?`) are
all built from these bindings, so a key, its name and its help cannot drift
apart. Each binding has an id, so a keymap can rebind it.
"""
from __future__ import annotations

from textual.binding import Binding

# The operations on the selected segment (the main screen's actions).
SEGMENT_KEYS = [
    Binding("slash", "focus_search", "Search", key_display="/", id="segments.search",
            tooltip="Filter the segments as you type: a part of the name, #id, list/dynamic, a condition word"),
    Binding("m", "members", "Members", id="segments.members",
            tooltip="Browse the selected segment's members, page by page (Enter does the same)"),
    Binding("n", "new", "New", id="segments.new",
            tooltip="Create a list, or a dynamic segment with the condition editor"),
    Binding("E", "edit", "Edit", id="segments.edit",
            tooltip="Edit the selected dynamic segment's condition, with live checking and count"),
    Binding("c", "copy", "Copy", id="segments.copy",
            tooltip="Copy the selected dynamic segment: same condition and schedule"),
    Binding("s", "split", "Split", id="segments.split",
            tooltip="Split the selected segment into new lists for an A/B test"),
    Binding("e", "export", "Export", id="segments.export",
            tooltip="Export the selected segment's members to a new list or a CSV file"),
    Binding("x", "empty", "Empty", id="segments.empty",
            tooltip="Remove every member of the selected list (the contacts stay)"),
    Binding("d", "delete", "Delete", id="segments.delete",
            tooltip="Delete the selected segment (and, if asked, its contacts)"),
    Binding("r", "refresh", "Refresh", id="segments.refresh",
            tooltip="Recompute the selected dynamic segment's members now"),
    Binding("a", "add", "Add", id="segments.add",
            tooltip="Add contacts to the selected list by email"),
    Binding("R", "remove", "Remove", id="segments.remove",
            tooltip="Remove contacts from the selected list by email"),
    Binding("i", "import", "Import", id="segments.import",
            tooltip="Import a contacts CSV file, optionally into a list"),
    Binding("w", "why", "Why", id="segments.why",
            tooltip="Show why a contact is in or out of the selected dynamic segment"),
]

APP_KEYS = [
    Binding("question_mark", "keys", "Keys", key_display="?", id="app.keys",
            tooltip="List every key"),
    Binding("q", "quit", "Quit", id="app.quit", tooltip="Leave Segmenta"),
]

# Dialogs: Escape leaves, Ctrl+S does what the dialog is for.
DIALOG_KEYS = [
    Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
    Binding("ctrl+s", "submit", "OK", id="dialog.submit"),
]

# Tables: Home and End go to the first and the last row (of the members, the last
# row read so far; going there reads the next page).
TABLE_KEYS = [
    Binding("home", "scroll_top", "First", show=False, id="table.first"),
    Binding("end", "scroll_bottom", "Last", show=False, id="table.last"),
]

MEMBERS_KEYS = [
    Binding("escape", "close", "Back", id="members.back"),
]


def key_label(binding: Binding) -> str:
    return binding.key_display or binding.key
