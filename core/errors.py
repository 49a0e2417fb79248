"""One exception hierarchy for every rule of the domain.

Each face turns a `SegmentaError` into its own kind of message: exit status 2
on the command line, an ephemeral reply in Slack, a notification in the
terminal UI. The message always says what is wrong and what to do next.
"""


class SegmentaError(Exception):
    """Base of every error a person can cause and fix."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BadInput(SegmentaError):
    """Input that cannot be understood (a value, a file, an option)."""


class ConfigError(BadInput):
    """The config file has an unknown key or a bad value."""


class NotFound(SegmentaError):
    """A segment or contact that does not exist."""


class Refused(SegmentaError):
    """A rule of the mission forbids the operation (with the reason)."""


class Conflict(SegmentaError):
    """The operation clashes with what exists (a name taken, a lease held)."""


class ConditionError(BadInput):
    """A condition that cannot be understood; carries where it went wrong.

    `str()` gives the three-line form of the spec: the text, a caret under the
    column, and the message.
    """

    def __init__(self, text: str, column: int | None, what: str):
        self.text = text
        self.column = column  # 1-based, or None when the error has no place
        self.what = what
        super().__init__(self._render())

    def _render(self) -> str:
        if self.column is None:
            return self.what
        line = self.text.replace("\n", " ").replace("\r", " ")
        return f"{line}\n{' ' * (self.column - 1)}^\n{self.what}"
