"""Wake up when a file is published into a directory: a small ctypes binding to Linux inotify.

Only what the daemon needs: watch one directory for files renamed or written into it (the
queue), or for writes to one file in it (the database's WAL), expose the descriptor for `poll`,
and drain pending events. Where inotify is missing (another system, or
the per-user watch limit reached) `DirectoryWatch.open` returns None and callers fall back to
rescanning on a timer — which they do anyway, for overflowed or missed events.
Must not: interpret file names; it only says what arrived (`drain_names`) or that something did.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import stat
import struct
from pathlib import Path

logger = logging.getLogger(__name__)

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
IN_ISDIR = 0x40000000
ARRIVALS = IN_MOVED_TO | IN_CLOSE_WRITE
# The queue also hears of directories, FIFOs and links made in place, so that its owner sets
# them aside at once; a regular file made in place is reported when it is closed.
QUEUE_EVENTS = ARRIVALS | IN_CREATE
WRITES = IN_MODIFY | IN_CREATE
EVENT_HEADER = struct.Struct("iIII")
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
EVENT_BUFFER = 64 * 1024


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


class DirectoryWatch:
    """An inotify descriptor watching one directory for arriving files."""

    def __init__(self, fd: int, name: str | None = None, directory: Path | None = None) -> None:
        self.fd = fd
        self.name = os.fsencode(name) if name is not None else None
        self.directory = directory

    @classmethod
    def open(cls, directory: Path, mask: int = QUEUE_EVENTS,
             name: str | None = None) -> DirectoryWatch | None:
        """Watch *directory* (only the file *name* in it, if given) for the *mask* events.

        Returns None (with a warning) if inotify is not available.
        """
        libc = _load_libc()
        if libc is None:
            return None
        fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            logger.warning("inotify unavailable (%s); polling instead",
                           os.strerror(ctypes.get_errno()))
            return None
        if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
            error = ctypes.get_errno()
            os.close(fd)
            logger.warning("cannot watch %s (%s); polling instead", directory,
                           os.strerror(error))
            return None
        return cls(fd, name, directory)

    def fileno(self) -> int:
        """Return the descriptor, readable when events are pending (for select/poll)."""
        return self.fd

    def drain(self) -> bool:
        """Discard pending events; return True if there were any (or the queue overflowed)."""
        seen = False
        while True:
            try:
                chunk = os.read(self.fd, EVENT_BUFFER)
            except BlockingIOError:
                return seen
            if not chunk:
                return seen
            seen = seen or self.concerns_us(chunk)

    def drain_names(self) -> list[str] | None:
        """Read pending events; return the names that arrived, or None if events were lost.

        After None (the kernel's event queue overflowed), the caller rescans everything.
        """
        names: list[str] = []
        while True:
            try:
                chunk = os.read(self.fd, EVENT_BUFFER)
            except BlockingIOError:
                return names
            if not chunk:
                return names
            offset = 0
            while offset + EVENT_HEADER.size <= len(chunk):
                _, mask, _, length = EVENT_HEADER.unpack_from(chunk, offset)
                start = offset + EVENT_HEADER.size
                if mask & IN_Q_OVERFLOW:
                    self.drain()
                    return None
                name = os.fsdecode(chunk[start:start + length].rstrip(b"\0"))
                if name and (mask & ARRIVALS or mask & IN_ISDIR or self._not_a_file(name)):
                    names.append(name)
                offset = start + length

    def _not_a_file(self, name: str) -> bool:
        """Return True if *name* (just created) exists and is not a regular file."""
        if self.directory is None:
            return False
        try:
            return not stat.S_ISREG(os.lstat(self.directory / name).st_mode)
        except OSError:
            return False

    def concerns_us(self, chunk: bytes) -> bool:
        """Return True if *chunk* holds an event for our file (any event, with no file set)."""
        if self.name is None:
            return True
        offset = 0
        while offset + EVENT_HEADER.size <= len(chunk):
            _, mask, _, length = EVENT_HEADER.unpack_from(chunk, offset)
            start = offset + EVENT_HEADER.size
            if mask & IN_Q_OVERFLOW or chunk[start:start + length].rstrip(b"\0") == self.name:
                return True
            offset = start + length
        return False

    def close(self) -> None:
        """Stop watching."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
