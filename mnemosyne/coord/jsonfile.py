"""A JSON document shared by many processes: read-modify-write under a lock, replaced atomically.

Writers hold an exclusive `flock` on a separate lock file for the whole read-modify-write, then
swap in a fully written temporary file (`atomicfile.SwappedFile`, not fsynced), so that no
update is lost and a reader never sees half a file. Readers need no lock. A document that is
empty, truncated, not JSON or not of the expected shape is moved aside as
`NAME.corrupt-<UTC time>` with a warning and the update starts from an empty document: what
it held is rebuilt by the live instances re-registering. It is never a crash, and valid data
is never silently reset.
Must not: know what the documents mean (registry.py, branches.py do).
"""

from __future__ import annotations

import datetime
import fcntl
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mnemosyne.atomicfile import SwappedFile

logger = logging.getLogger(__name__)

Result = TypeVar("Result")


Document = dict[str, Any]
# One encoder for every write: json.dumps with options would build a new one each time.
ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC


def _identity(status: os.stat_result) -> tuple[int, int, int, int]:
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


class LockedJsonFile:
    """One JSON object at *path*, guarded by an flock on *lock_path*.

    *valid* decides whether a parsed object has the expected shape; *empty* makes a new one.
    """

    def __init__(self, path: Path, lock_path: Path, empty: Callable[[], Document],
                 valid: Callable[[Any], bool]) -> None:
        self.path = path
        self.lock_path = lock_path
        self.empty = empty
        self.valid = valid
        self._own_write: tuple[tuple[int, int, int, int], Document] | None = None
        self._file = SwappedFile(path)
        # Encoded once: the registry is rewritten every heartbeat, and pathlib's conversion
        # shows up in an idle instance's CPU time.
        self._path = os.fsencode(path)
        self._lock_path = os.fsencode(lock_path)

    def _parse(self) -> Document | None:
        """Return the document, an empty one if there is no file, or None if it is corrupt."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self.empty()
        except (OSError, UnicodeDecodeError) as error:
            logger.warning("cannot read %s: %s", self.path, error)
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        return data if self.valid(data) else None

    def read(self) -> Document:
        """Return the current document without locking (atomic replacement keeps it whole).

        A corrupt document reads as empty; the next update moves it aside.
        """
        data = self._parse()
        return self.empty() if data is None else data

    def update(self, change: Callable[[Document], Result]) -> Result:
        """Apply *change* to the document under the lock and write the result atomically.

        *change* mutates the document in place and returns a value, which is returned. The
        document is kept for the next update, so what it holds is read-only to everyone else.
        """
        lock = os.open(self._lock_path, LOCK_FLAGS, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._reuse_own_write() or self._parse()
            self._own_write = None  # until the write succeeds: change() may mutate it first
            if data is None:
                self._move_aside()
                data = self.empty()
            result = change(data)
            text = ENCODER.encode(data)
            # Atomic, not durable: after a power loss every instance these files describe is
            # dead anyway, and two fsyncs per heartbeat would serialize all instances on disk.
            status = self._file.replace(text.encode("utf-8"))
            self._own_write = (_identity(status), data)
            return result
        finally:
            os.close(lock)  # releases the flock

    def _reuse_own_write(self) -> Document | None:
        """Return what this object wrote last if the file is still that file, else None.

        Called under the lock, which every writer holds: if the file is the one we renamed
        into place (same inode, size and time), nobody wrote since, and the read and parse can
        be skipped - an idle instance's heartbeat then costs one stat instead.
        """
        if self._own_write is None:
            return None
        try:
            current = _identity(os.stat(self._path))
        except OSError:
            return None
        identity, data = self._own_write
        return data if current == identity else None

    def _move_aside(self) -> None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            os.replace(self.path, target)
        except FileNotFoundError:
            return
        logger.warning("%s was corrupt: moved it to %s and started a new one; live instances "
                       "re-register on their next heartbeat", self.path, target.name)
