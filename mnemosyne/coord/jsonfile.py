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

A document whose items are not rebuilt by heartbeats (the branch registry: a torn write would
lose every claim) asks for *atomic* writes instead: a new file, written whole and renamed over
the old one, under the same lock.

A writer remembers the bytes it wrote and what they parse to: if the file still holds exactly
those bytes, nobody wrote since, and the parse is skipped.

The file is untrusted input (safefile.py): opened without following a link or blocking,
a regular file of this user's of at most `max_bytes` (`REGISTRY_MAX_BYTES` by default), parsed
at most `MAX_DEPTH` deep. A document that is none of these, or empty, truncated, not JSON or
not of the expected shape, is renamed aside as `NAME.corrupt-<UTC time>` (the link or FIFO
itself, never read past the cap) with a warning, and the update starts from an empty document:
what it held is rebuilt by the live instances re-registering. Items that fail the owner's
field-by-field check (*clean*) are dropped from the document by the next writer and kept in
`NAME.invalid-<UTC time>`. It is never a crash, and valid data is never silently reset.
`read` only reports (`problems`); commands that only look can ask it to refuse a link or
another user's file (`UnsafeError`, exit status 6) instead. ENOSPC and other write failures
are `UnavailableError` (exit status 3). Nothing is fsynced: after a power loss every instance
these files describe is dead anyway, and an fsync per heartbeat would serialize all instances
on the disk. Lock files are opened without following links and created with O_EXCL, so a
link planted in `locks/` never makes anyone create a file elsewhere.
Must not: know what the documents mean (registry.py, branches.py do).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mnemosyne.coord.safefile import (
    MAX_DEPTH,
    UntrustedFile,
    load_json,
    open_checked,
    open_lock_file,
    read_descriptor,
    set_aside,
    utc_stamp,
)
from mnemosyne.errors import UnavailableError, UnsafeError

logger = logging.getLogger(__name__)

Result = TypeVar("Result")
Document = dict[str, Any]
# One encoder for every write: json.dumps with options would build a new one each time.
ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
WRITE_FLAGS = os.O_RDWR
MAX_PADDING = 4096
REGISTRY_MAX_BYTES = 1024 * 1024


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    offset = 0
    while offset < len(data):  # one write, unless the disk fills up (then ENOSPC next)
        offset += os.pwrite(fd, view[offset:], offset)


class LockedJsonFile:
    """One JSON object at *path*, guarded by an flock on *lock_path*.

    *valid* decides whether a parsed object has the expected shape; *empty* makes a new one;
    *clean* (optional) removes the items that fail the field checks from a valid document and
    returns them as (key, item, reason) triples; *max_bytes* caps the file's size; *atomic*
    replaces the file by rename instead of rewriting it in place.
    """

    def __init__(self, path: Path, lock_path: Path, empty: Callable[[], Document],
                 valid: Callable[[Any], bool], *,
                 clean: Callable[[Document], list[tuple[str, Any, str]]] | None = None,
                 max_bytes: int = REGISTRY_MAX_BYTES, atomic: bool = False) -> None:
        self.path = path
        self.atomic = atomic
        self.lock_path = lock_path
        self.empty = empty
        self.valid = valid
        self.clean = clean
        self.max_bytes = max_bytes
        self.problems: list[str] = []  # what the last read() found wrong (and ignored)
        self._kept: tuple[bytes, Document] | None = None
        # Encoded once: the registry is rewritten every heartbeat, and pathlib's conversion
        # shows up in an idle instance's CPU time.
        self._path = os.fsencode(path)
        self._lock_path = os.fsencode(lock_path)

    def _decode(self, raw: bytes) -> Document:
        """Return the parsed document. Raises UntrustedFile if it is corrupt."""
        data = load_json(raw, MAX_DEPTH)
        if not self.valid(data):
            raise UntrustedFile("it does not have the expected shape")
        return data

    def read(self, refuse_unsafe: bool = False) -> Document:
        """Return the current document, read under a shared lock, with invalid items left out.

        A corrupt document reads as empty; the next update sets it aside. What was wrong is
        in `problems`. Raises UnsafeError, with *refuse_unsafe*, if the file is a symbolic
        link or another user's.
        """
        self.problems = []
        try:
            lock: int | None = open_lock_file(self._lock_path)
        except OSError as error:  # e.g. a read-only copy of the directory: read unlocked
            logger.debug("reading %s without its lock: %s", self.path, error.strerror)
            lock = None
        try:
            if lock is not None:
                fcntl.flock(lock, fcntl.LOCK_SH)
            fd = open_checked(self._path, self.max_bytes)
            try:
                data = self._decode(read_descriptor(fd, self.max_bytes))
            finally:
                os.close(fd)
        except FileNotFoundError:
            return self.empty()
        except UntrustedFile as problem:
            if problem.unsafe and refuse_unsafe:
                raise UnsafeError(f"refusing {self.path}: {problem.reason}") from None
            self.problems.append(f"{self.path.name} is unusable ({problem.reason}): read as "
                                 "empty until an instance sets it aside")
            return self.empty()
        except OSError as error:
            logger.warning("cannot read %s: %s", self.path, error.strerror or error)
            self.problems.append(f"cannot read {self.path.name}: {error.strerror or error}")
            return self.empty()
        finally:
            if lock is not None:
                os.close(lock)  # releases the flock
        if self.clean is not None:
            dropped = self.clean(data)
            if dropped:
                self.problems.append(
                    f"{self.path.name} holds {len(dropped)} invalid item(s), ignored until an "
                    f"instance sets them aside ({dropped[0][0]!r}: {dropped[0][2]})")
        return data

    def update(self, change: Callable[[Document], Result], refuse_unsafe: bool = False) -> Result:
        """Apply *change* to the document under the lock and rewrite it in place.

        *change* mutates the document in place and returns a value, which is returned. The
        document is kept for the next update, so what it holds is read-only to everyone else.
        Raises UnsafeError, with *refuse_unsafe*, for a link or another user's file (else it
        is set aside); UnavailableError if the file cannot be written (a full disk).
        """
        try:
            lock = open_lock_file(self._lock_path)
        except OSError as error:
            raise UnavailableError(f"cannot open the lock file {self.lock_path}: "
                                   f"{error.strerror or error}", error.errno) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fd, raw, data = self._open_for_update(refuse_unsafe)
            try:
                return self._rewrite(fd, raw, data, change)
            finally:
                os.close(fd)
        except OSError as error:
            raise UnavailableError(f"cannot write {self.path}: {error.strerror or error}",
                                   error.errno) from None
        finally:
            os.close(lock)  # releases the flock

    def _open_for_update(self, refuse_unsafe: bool) -> tuple[int, bytes, Document]:
        """Return the open document, its bytes and its content.

        An unusable document is set aside and a new empty one created in its place.
        """
        kept, self._kept = self._kept, None  # forgotten until the write succeeds
        reason = None
        try:
            fd = open_checked(self._path, self.max_bytes, WRITE_FLAGS)
        except FileNotFoundError:
            pass
        except UntrustedFile as problem:
            if problem.unsafe and refuse_unsafe:
                raise UnsafeError(f"refusing {self.path}: {problem.reason}") from None
            reason = problem.reason
        else:
            try:
                raw = read_descriptor(fd, self.max_bytes)
                if kept is not None and raw == kept[0]:
                    return fd, raw, kept[1]
                data = self._decode(raw)
            except UntrustedFile as problem:
                os.close(fd)
                reason = problem.reason
            except BaseException:
                os.close(fd)
                raise
            else:
                self._set_invalid_items_aside(data)
                return fd, raw, data
        if reason is not None:
            self._set_aside(reason)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
        return fd, b"", self.empty()

    def _rewrite(self, fd: int, raw: bytes, data: Document,
                 change: Callable[[Document], Result]) -> Result:
        """Change *data* (what *raw*, the file's bytes, holds) and write it back to *fd*."""
        result = change(data)
        new = ENCODER.encode(data).encode("utf-8")
        if self.atomic:
            self._replace(new)
            self._kept = (new, data)
            return result
        if 0 < len(raw) - len(new) <= MAX_PADDING:
            new += b" " * (len(raw) - len(new))
        _write_all(fd, new)
        if len(new) < len(raw):
            os.ftruncate(fd, len(new))
        self._kept = (new, data)
        return result

    def _replace(self, new: bytes) -> None:
        """Write *new* to a fresh file beside the document and rename it over the document."""
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o600)
        try:
            try:
                _write_all(fd, new)
            finally:
                os.close(fd)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def _set_aside(self, reason: str) -> None:
        """Rename the unusable document out of the way (never read past the size cap)."""
        target = set_aside(self.path)
        logger.warning("%s was corrupt (%s): moved it to %s and started a new one; live "
                       "instances re-register on their next heartbeat", self.path, reason,
                       target.name if target else "nowhere (it vanished)")

    def _set_invalid_items_aside(self, data: Document) -> None:
        """Drop the items that fail the field checks, keeping them in NAME.invalid-<time>."""
        if self.clean is None:
            return
        dropped = self.clean(data)
        if not dropped:
            return
        target = self.path.with_name(f"{self.path.name}.invalid-{utc_stamp()}")
        body = ENCODER.encode({"dropped": [{"key": key, "item": item, "reason": reason}
                                           for key, item, reason in dropped]})
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            try:
                _write_all(fd, body.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as error:
            logger.warning("dropped %d invalid item(s) of %s (%r: %s); could not keep them "
                           "(%s)", len(dropped), self.path, dropped[0][0], dropped[0][2],
                           error.strerror or error)
            return
        logger.warning("dropped %d invalid item(s) of %s (%r: %s): kept in %s", len(dropped),
                       self.path, dropped[0][0], dropped[0][2], target.name)
