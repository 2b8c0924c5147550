"""The one error type and the exit codes every command shares (kubectl diff's convention)."""

from __future__ import annotations

EXIT_OK = 0  # nothing to change / all synced and healthy
EXIT_CHANGED = 1  # changes found, or the operation failed
EXIT_ERROR = 2  # bad input or an error before anything was written


class GitopsError(Exception):
    """A failure the user can act on: one sentence naming the file/object and the cause."""

    def __init__(self, message: str, *, hint: str | None = None, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class Halt(GitopsError):
    """The command must stop writing at once (a signal, a lost lease): no SyncFail hook or other
    recovery is attempted, since that would write too."""
