"""Reading files of `.mnemosyne/` as untrusted input, and setting bad ones aside.

Every file the daemon reads there can have been planted by anything running as the user, so
it is opened without following a symbolic link and without blocking (`O_NOFOLLOW |
O_NONBLOCK`: a FIFO never stalls the main loop), checked with `fstat` before a byte is read
(a regular file, owned by this user, at most a documented size), and parsed with a bounded
nesting depth (`json.loads` recurses, and a 200 KB `[[[[...` raised RecursionError out of
every instance's main loop). What fails is reported as `UntrustedFile`, with a short reason
a user can read; callers then set it aside (`set_aside`) once, and warn through
`RateLimitedWarnings`, which lets through one warning per kind per minute plus a count of
the rest, so 10,000 bad files make a few log lines, not 10,000.
Must not: know what the documents mean (registry.py, branches.py, queue.py validate fields).
"""

from __future__ import annotations

import datetime
import errno
import json
import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_DEPTH = 32
READ_CHUNK = 64 * 1024
WARNING_INTERVAL_S = 60.0
LOCK_MAX_BYTES = 4096  # lock files stay empty; anything bigger was not made by us
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(value for value in range(256) if value not in b"[]{}")


class UntrustedFile(Exception):  # noqa: N818 - a condition to handle, not a failure
    """A file that is not what it should be.

    *reason* says why; *unsafe* is set for a link or another user's file (which commands that
    only read refuse with exit status 6).
    """

    def __init__(self, reason: str, unsafe: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unsafe = unsafe


def check_descriptor(fd: int, max_bytes: int) -> os.stat_result:
    """Return the fstat of *fd* if it is a regular file of ours of at most *max_bytes*.

    Raises UntrustedFile otherwise.
    """
    status = os.fstat(fd)
    if not stat.S_ISREG(status.st_mode):
        raise UntrustedFile("it is not a regular file")
    if status.st_uid != os.geteuid():
        raise UntrustedFile(f"it belongs to user id {status.st_uid}", unsafe=True)
    if status.st_size > max_bytes:
        raise UntrustedFile(f"it is {status.st_size} bytes, over the cap of {max_bytes}")
    return status


def open_checked(path: Path | bytes | str, max_bytes: int, flags: int = READ_FLAGS) -> int:
    """Open *path* without following a link or blocking; return the checked descriptor.

    Raises FileNotFoundError if it does not exist, UntrustedFile if it is a symbolic link,
    not a regular file, another user's or over *max_bytes*; OSError for other failures.
    """
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UntrustedFile("it is a symbolic link", unsafe=True) from None
        if error.errno in (errno.EISDIR, errno.ENXIO, errno.EOPNOTSUPP):
            raise UntrustedFile("it is not a regular file") from None
        raise
    try:
        check_descriptor(fd, max_bytes)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_descriptor(fd: int, max_bytes: int) -> bytes:
    """Return the content of *fd* from offset 0 (one system call for a small file).

    Raises UntrustedFile if it exceeds *max_bytes* (it may have grown since it was checked).
    """
    chunks, offset = [], 0
    while True:
        wanted = min(READ_CHUNK, max_bytes + 1 - offset)
        chunk = os.pread(fd, wanted, offset)
        chunks.append(chunk)
        offset += len(chunk)
        if offset > max_bytes:
            raise UntrustedFile(f"it is over the cap of {max_bytes} bytes")
        if len(chunk) < wanted:  # end of file
            return b"".join(chunks)


def read_untrusted(path: Path | bytes | str, max_bytes: int) -> bytes:
    """Return the content of the regular file *path*, checked as `open_checked` does.

    Raises FileNotFoundError, UntrustedFile or OSError.
    """
    fd = open_checked(path, max_bytes)
    try:
        return read_descriptor(fd, max_bytes)
    finally:
        os.close(fd)


def nesting_depth(raw: bytes, limit: int = MAX_DEPTH) -> int:
    """Return the deepest bracket nesting of the JSON text *raw*, stopping once past *limit*.

    Brackets inside strings do not count. Cheap: strings are removed by one regex, the rest
    by one `bytes.translate`, and a `[[[[...` stops after *limit* + 1 characters.
    """
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for value in brackets:
        if value in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


def load_json(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Parse *raw* as JSON nested at most *max_depth* deep. Raises UntrustedFile otherwise."""
    if nesting_depth(raw, max_depth) > max_depth:
        raise UntrustedFile(f"it is nested more than {max_depth} levels deep")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise UntrustedFile("it is not JSON") from None


def utc_stamp() -> str:
    """Return the current UTC time as set-aside names carry it."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def set_aside(path: Path, directory: Path | None = None, label: str = "corrupt") -> Path | None:
    """Rename *path* (whatever it is: file, link, FIFO, directory) out of the way; return where.

    It goes next to itself as `NAME.<label>-<UTC time>`, or into *directory* when given. The
    link itself is moved, never its target. Returns None if it was already gone; raises
    OSError if it cannot be moved.
    """
    target = (directory or path.parent) / f"{path.name}.{label}-{utc_stamp()}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise
        return None
    return target


def remove_entry(path: Path) -> bool:
    """Delete a file, link, FIFO or directory tree at *path*; return True if it is gone.

    A link is removed itself, never followed (rmtree does not follow links either). Never
    raises: what cannot be removed returns False.
    """
    try:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def open_lock_file(path: Path | bytes) -> int:
    """Open (or create) the lock file *path* without following a link; return the descriptor.

    A link, or anything but an empty regular file of ours, is renamed aside and a new file
    created in its place with O_EXCL, so nothing is ever created outside the directory.
    Raises OSError if that fails.
    """
    path = Path(os.fsdecode(path))
    for _ in range(3):
        try:
            return open_checked(path, LOCK_MAX_BYTES, os.O_RDWR)
        except FileNotFoundError:
            pass
        except UntrustedFile as problem:
            moved = set_aside(path, label="unsafe")
            logger.warning("lock file %s was unusable (%s): moved it to %s", path,
                           problem.reason, moved)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                           | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            continue  # someone else created it first: open theirs
    raise OSError(errno.EAGAIN, f"cannot create the lock file {path}")


class RateLimitedWarnings:
    """At most one warning per kind per *interval_s*; the next one says how many were held back.

    *clock* is monotonic seconds (a parameter for tests).
    """

    def __init__(self, log: logging.Logger, interval_s: float = WARNING_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.log = log
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: Any) -> bool:
        """Log *message* % *args* unless *kind* was logged within the interval.

        Returns whether it was logged.
        """
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.interval_s:
            self._held[kind] = self._held.get(kind, 0) + 1
            return False
        self._last[kind] = now
        held = self._held.pop(kind, 0)
        if held:
            message += " (and %d more like it in the last %.0f s, not logged)"
            args = (*args, held, now - last)
        self.log.warning(message, *args)
        return True
