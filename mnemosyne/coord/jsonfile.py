"""A JSON document shared by many processes: read-modify-write under a lock, rewritten in place.

Writers hold an exclusive `flock` on a separate lock file for the whole read-modify-write and
rewrite the document in place with one `pwrite`; readers hold a shared `flock` on the same
lock file, so nobody ever sees half a file and no update is lost. In place, because the
registry is rewritten by every instance every two seconds: a new file each time (write a
temporary, rename it over) costs an inode allocation and release, and on ext4 a flush of the
new file's data, each time - a third of an idle instance's CPU time. A shorter document is
padded with spaces (valid JSON) rather than truncated, so that a rewrite stays one write;
past `MAX_PADDING` the file is truncated. A writer killed in the middle of a write can still
leave a torn document, which the next writer treats as corrupt (below), as after any crash.

A writer remembers the bytes it wrote and what they parse to: if the file still holds exactly
those bytes, nobody wrote since, and the parse is skipped.

A document that is empty, truncated, not JSON or not of the expected shape is copied aside as
`NAME.corrupt-<UTC time>` with a warning and the update starts from an empty document: what
it held is rebuilt by the live instances re-registering. It is never a crash, and valid data
is never silently reset. Nothing is fsynced: after a power loss every instance these files
describe is dead anyway, and an fsync per heartbeat would serialize all instances on the disk.
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

logger = logging.getLogger(__name__)

Result = TypeVar("Result")
Document = dict[str, Any]
# One encoder for every write: json.dumps with options would build a new one each time.
ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
WRITE_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_PADDING = 4096
READ_CHUNK = 64 * 1024


def _read_all(fd: int) -> bytes:
    """Return the whole file from offset 0 (one system call for a small one)."""
    chunks = []
    offset = 0
    while True:
        chunk = os.pread(fd, READ_CHUNK, offset)
        chunks.append(chunk)
        offset += len(chunk)
        if len(chunk) < READ_CHUNK:
            return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    offset = 0
    while offset < len(data):  # one write, unless the disk fills up (then ENOSPC next)
        offset += os.pwrite(fd, view[offset:], offset)


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
        self._kept: tuple[bytes, Document] | None = None
        # Encoded once: the registry is rewritten every heartbeat, and pathlib's conversion
        # shows up in an idle instance's CPU time.
        self._path = os.fsencode(path)
        self._lock_path = os.fsencode(lock_path)

    def _decode(self, raw: bytes) -> Document | None:
        """Return the parsed document, or None if it is corrupt."""
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None
        return data if self.valid(data) else None

    def read(self) -> Document:
        """Return the current document, read under a shared lock.

        A corrupt document reads as empty; the next update sets it aside.
        """
        try:
            lock: int | None = os.open(self._lock_path, LOCK_FLAGS, 0o600)
        except OSError as error:  # e.g. a read-only copy of the directory: read unlocked
            logger.debug("reading %s without its lock: %s", self.path, error.strerror)
            lock = None
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_SH)
            fd = os.open(self._path, READ_FLAGS)
            try:
                raw = _read_all(fd)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return self.empty()
        except OSError as error:
            logger.warning("cannot read %s: %s", self.path, error.strerror or error)
            return self.empty()
        finally:
            if lock is not None:
                os.close(lock)  # releases the flock
        data = self._decode(raw)
        return self.empty() if data is None else data

    def update(self, change: Callable[[Document], Result]) -> Result:
        """Apply *change* to the document under the lock and rewrite it in place.

        *change* mutates the document in place and returns a value, which is returned. The
        document is kept for the next update, so what it holds is read-only to everyone else.
        """
        lock = os.open(self._lock_path, LOCK_FLAGS, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            created = False
            try:
                fd = os.open(self._path, WRITE_FLAGS)
            except FileNotFoundError:
                fd = os.open(self._path, WRITE_FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
                created = True
            try:
                return self._rewrite(fd, created, change)
            finally:
                os.close(fd)
        finally:
            os.close(lock)  # releases the flock

    def _rewrite(self, fd: int, created: bool, change: Callable[[Document], Result]) -> Result:
        """Read (unless just *created*), change and write back the open file."""
        kept, self._kept = self._kept, None  # forgotten until the write succeeds
        if created:
            data, raw = self.empty(), b""
        else:
            raw = _read_all(fd)
            if kept is not None and raw == kept[0]:
                data = kept[1]
            else:
                data = self._decode(raw)
                if data is None:
                    self._set_aside(raw)
                    data = self.empty()
        result = change(data)
        new = ENCODER.encode(data).encode("utf-8")
        if 0 < len(raw) - len(new) <= MAX_PADDING:
            new += b" " * (len(raw) - len(new))
        _write_all(fd, new)
        if len(new) < len(raw):
            os.ftruncate(fd, len(new))
        self._kept = (new, data)
        return result

    def _set_aside(self, raw: bytes) -> None:
        """Keep a copy of a corrupt document for inspection; the file itself is rewritten."""
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                _write_all(fd, raw)
            finally:
                os.close(fd)
        except OSError as error:
            logger.warning("%s was corrupt and could not be copied aside (%s): starting a new "
                           "one", self.path, error.strerror or error)
            return
        logger.warning("%s was corrupt: copied it to %s and started a new one; live instances "
                       "re-register on their next heartbeat", self.path, target.name)
