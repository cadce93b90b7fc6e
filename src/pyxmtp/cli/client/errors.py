"""The errors a ``pyxmtp client`` command reports (on stderr, escaped) instead of raising."""

from __future__ import annotations


class CliError(Exception):
    """Something the user asked for cannot be done; the message says why (exit status 1), ``hint`` (ours, not
    escaped) what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class UsageError(CliError):
    """The command line itself is wrong: an option's value, a missing argument (exit status 2)."""
