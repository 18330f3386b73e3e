"""Wake up when SQLite's write-ahead log is written: inotify on the database's directory.

The SQLite change feed's `fileno()`: every commit writes `<db>-wal`, so an IN_MODIFY or
IN_CREATE event naming it means there may be news in the change journal. Where inotify is
missing (another system, or the per-user watch limit reached) `WalWatch.open` returns None
(logged) and the caller polls on a timer instead. (The coordination layer has its own
directory watch for the queue; the store may not import it.)
Must not: read the database; it only says that the WAL was written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct
from pathlib import Path

logger = logging.getLogger(__name__)

IN_MODIFY = 0x00000002
IN_CREATE = 0x00000100
IN_Q_OVERFLOW = 0x00004000
EVENT_HEADER = struct.Struct("iIII")
EVENT_BUFFER = 64 * 1024


class WalWatch:
    """An inotify descriptor that becomes readable when the WAL of one database is written."""

    def __init__(self, fd: int, name: bytes) -> None:
        self.fd = fd
        self.name = name

    @classmethod
    def open(cls, db_path: Path) -> WalWatch | None:
        """Watch the `-wal` file of *db_path*; return None (logged) without inotify."""
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.inotify_init1.argtypes = [ctypes.c_int]
            libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        except (OSError, AttributeError):
            return None
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            logger.warning("inotify unavailable (%s)", os.strerror(ctypes.get_errno()))
            return None
        if libc.inotify_add_watch(fd, os.fsencode(db_path.parent), IN_MODIFY | IN_CREATE) < 0:
            error = ctypes.get_errno()
            os.close(fd)
            logger.warning("cannot watch %s (%s)", db_path.parent, os.strerror(error))
            return None
        return cls(fd, os.fsencode(f"{db_path.name}-wal"))

    def fileno(self) -> int:
        """Return the descriptor, readable when events are pending."""
        return self.fd

    def drain(self) -> bool:
        """Discard pending events; return True if one was about the WAL (or some were lost)."""
        seen = False
        while True:
            try:
                chunk = os.read(self.fd, EVENT_BUFFER)
            except BlockingIOError:
                return seen
            if not chunk:
                return seen
            offset = 0
            while offset + EVENT_HEADER.size <= len(chunk):
                _, mask, _, length = EVENT_HEADER.unpack_from(chunk, offset)
                start = offset + EVENT_HEADER.size
                if mask & IN_Q_OVERFLOW or chunk[start:start + length].rstrip(b"\0") == self.name:
                    seen = True
                offset = start + length

    def close(self) -> None:
        """Stop watching."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
