"""Classic daemon mode for machines without systemd: `serve --daemon --pidfile PATH`.

python-daemon's DaemonContext forks twice, starts a new session, sets umask 077, closes stray
descriptors and points stdin/stdout at /dev/null. Logs go to the caller's stderr when that is
a file (`mnemosyne serve --daemon 2>>mnemosyne.log`), else to a log file beside the pidfile:
a daemon must not hold a terminal or a caller's pipe open (a script capturing stderr would
wait forever). The working directory is kept: it decides the coordination root and worktree.
The pidfile holds an flock for the daemon's whole life: a pidfile left by a crash is taken
over, a live one refused. Under systemd this mode is refused: forking would make READY=1
come from the wrong process.
Must not: run the instance itself (daemon/main.py does, inside the context).
"""

from __future__ import annotations

import fcntl
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TextIO

from mnemosyne.daemon.systemd import under_systemd
from mnemosyne.errors import ConflictError, UnavailableError, UsageError


class PidFile:
    """A pidfile locked with flock while the daemon lives.

    DaemonContext enters it after forking, so the PID written is the daemon's.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def holder(self) -> int | None:
        """Return the PID of the live process holding the pidfile, or None."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.read(fd, 32).decode("ascii", errors="replace").strip()
            return int(text) if text.isdigit() else -1
        finally:
            os.close(fd)
        return None

    def __enter__(self) -> PidFile:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as error:
            raise UnavailableError(f"cannot create pidfile {self.path}: "
                                   f"{error.strerror or error}", error.errno) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConflictError(f"pidfile {self.path} is held by a running daemon") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd = fd
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.fd is not None:
            os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


def log_destination(pidfile: Path) -> TextIO:
    """Return stderr if it is a regular file, else `<pidfile without .pid>.log` (0600)."""
    try:
        if stat.S_ISREG(os.fstat(sys.stderr.fileno()).st_mode):
            return sys.stderr
    except (OSError, ValueError):
        pass
    path = pidfile.with_suffix(".log")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    sys.stderr.write(f"mnemosyne: logging to {path}\n")
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


def run_detached(pidfile: Path, serve: Callable[[], int]) -> int:
    """Become a daemon holding *pidfile*, then run *serve*; return its exit status.

    Only the daemon returns: the process that called this exits 0 once it has forked.
    Raises UsageError under systemd, ConflictError if a live daemon holds *pidfile*.
    """
    if under_systemd():
        raise UsageError("--daemon is for machines without systemd: under systemd the "
                         "service stays in the foreground (Type=notify)")
    lock = PidFile(pidfile)
    holder = lock.holder()
    if holder is not None:
        raise ConflictError(f"a daemon is already running with pidfile {pidfile} "
                            f"(pid {holder})")
    import daemon  # noqa: PLC0415 - python-daemon costs import time; only this mode needs it

    log = log_destination(pidfile)
    context = daemon.DaemonContext(working_directory=os.getcwd(), umask=0o077, pidfile=lock,
                                   detach_process=True, stderr=log, files_preserve=[log],
                                   signal_map={})
    with context:
        return serve()
