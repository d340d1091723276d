"""One error hierarchy: every ``DigestbotError`` carries a message meant for people.

The command line catches it once (one line on stderr, exit ``code``) and the Telegram error
handler catches it once (a short reply). Anything else is a bug: logged with its traceback to
the log file, and the user is told where that log is.
"""

from __future__ import annotations


class DigestbotError(Exception):
    """An error the user can act on; ``str(exc)`` says what happened and what to do."""

    code: int = 1  # the command line's exit code

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class SettingsError(DigestbotError):
    """Settings that cannot be used (exit code 2): the message names the setting to fix."""

    code = 2


class DatabaseError(DigestbotError):
    """The database cannot be opened, read or written; the message names it (password masked)."""


class PlatformError(DigestbotError):
    """X or Telegram cannot be used as configured (token rejected, API unreachable, ...)."""
