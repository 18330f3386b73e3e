"""The one user-facing error type and the table of exit codes.

Library code raises `MnemosyneError(message, exit_code)`; only `mnemosyne.cli` turns it into a
line on stderr and a process exit status. The man pages' EXIT STATUS sections and the README
table are written from `ExitCode` and its `describe()` text.
Must not: print, log or exit.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit statuses, shared by every command."""

    OK = 0
    ERROR = 1
    USAGE = 2
    UNAVAILABLE = 3
    PROBLEMS = 4
    NOT_FOUND = 5
    UNSAFE = 6
    CONFLICT = 7
    INTERRUPTED = 130

    def describe(self) -> str:
        """Return the one-line meaning of this code, as documented."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    ExitCode.OK: "success, or a clean stop on SIGTERM",
    ExitCode.ERROR: "runtime error, or done with warnings (e.g. import skipped bad lines)",
    ExitCode.USAGE: "invalid command line, configuration or input; nothing was changed",
    ExitCode.UNAVAILABLE: "the database (or another resource) cannot be opened or written",
    ExitCode.PROBLEMS: "doctor found problems",
    ExitCode.NOT_FOUND: "the memory (or other object) named does not exist",
    ExitCode.UNSAFE: "refused an unsafe coordination directory (a symlink, or another user's)",
    ExitCode.CONFLICT: "already in use: the instance id is held by a live instance, or the "
                       "branch is taken",
    ExitCode.INTERRUPTED: "interrupted by SIGINT (Ctrl-C)",
}


class MnemosyneError(Exception):
    """An error a user can act on: a one-line message and the exit status it maps to."""

    def __init__(self, message: str, exit_code: ExitCode = ExitCode.ERROR,
                 errno: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.errno = errno

    def __str__(self) -> str:
        return self.message


class UsageError(MnemosyneError):
    """Invalid input from the user: a bad flag, value, namespace, or import line."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)


class NotFoundError(MnemosyneError):
    """The object named by the user does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.NOT_FOUND)


class UnavailableError(MnemosyneError):
    """A resource (the database file, its directory) cannot be opened or written."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message, ExitCode.UNAVAILABLE, errno)


class UnsafeError(MnemosyneError):
    """A file or directory that must not be trusted: a symlink, or another user's."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.UNSAFE)


class ConflictError(MnemosyneError):
    """Something the user asked for is held by someone else (an instance id, a branch)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.CONFLICT)
