"""Whether this process can write the database right now, judged by a few system calls.

Owns the outside view of SQLite's write path: the files a write needs (the database, its
`-wal`, `-shm` and `-lock` files and their directory: still the same file, writable, room on
the disk) and SQLite's WAL write lock, byte 120 of `<db>-shm`, tested with `F_OFD_GETLK`. That
test takes nothing, sees every holder (this process's own connections too, since an
open-file-description lock conflicts with any POSIX lock) and tells the holder's PID; beside it
a 48-byte `pread` of the wal-index header, whose change counter moves at every commit, tells a
lock held by a stream of short transactions from one held by a single stuck one. A lock held
with no commit for more than LOCK_HELD_LIMIT_S (5 s, the default busy timeout: the point where
writers start to fail) makes the database unwritable "right now"; so does a write of this
process that has waited that long (`Database.oldest_write_wait_s`).
The `-shm` descriptor is opened once per file and process and never closed: closing any
descriptor of a file drops every POSIX lock the process holds on it, SQLite's own included.
Must not: take a lock, start a transaction, or close a descriptor of a `-shm` file.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import os
import stat
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

WAL_WRITE_LOCK_BYTE = 120  # UNIX_SHM_BASE + WAL_WRITE_LOCK in SQLite's os_unix.c
WAL_INDEX_HEADER_BYTES = 48
LOCK_HELD_LIMIT_S = 5.0
MIN_FREE_BYTES = 1024 * 1024
FLOCK = struct.Struct("hhqqi4x")  # struct flock on 64-bit Linux
F_OFD_GETLK = getattr(fcntl, "F_OFD_GETLK", 36)

_shm_descriptors: dict[tuple[int, int], int] = {}  # (st_dev, st_ino) -> descriptor, kept open
_shm_guard = threading.Lock()


@dataclasses.dataclass(frozen=True)
class WriteProblem:
    """Why the database cannot be written now.

    *by_another_process* when the cause is a lock another process holds, which restarting
    this one cannot fix (the watchdog ignores those); files and this process's own locks are
    not.
    """

    text: str
    by_another_process: bool = False


class WalLock:
    """SQLite's WAL write lock and commit counter for one database, looked at from outside."""

    def __init__(self, db_path: Path) -> None:
        self.shm_path = db_path.with_name(db_path.name + "-shm")

    def _descriptor(self) -> int | None:
        """Return this process's kept descriptor of the current `-shm` file, or None."""
        try:
            status = os.stat(self.shm_path)
        except OSError:
            return None
        key = (status.st_dev, status.st_ino)
        with _shm_guard:
            fd = _shm_descriptors.get(key)
            if fd is not None:
                return fd
            try:
                fd = os.open(self.shm_path,
                             os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                return None
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != key or not stat.S_ISREG(opened.st_mode):
                # Replaced in between, or not a file: keep it open all the same (see above).
                _shm_descriptors[(opened.st_dev, opened.st_ino)] = fd
                return None
            _shm_descriptors[key] = fd
            return fd

    def holder(self) -> int | None:
        """Return the PID holding the WAL write lock (-1 if not known), or None.

        None means the lock is free, or there is no `-shm` file to look at.
        """
        fd = self._descriptor()
        if fd is None:
            return None
        request = FLOCK.pack(fcntl.F_WRLCK, os.SEEK_SET, WAL_WRITE_LOCK_BYTE, 1, 0)
        try:
            answer = fcntl.fcntl(fd, F_OFD_GETLK, request)
        except OSError:
            return None
        kind, _, _, _, pid = FLOCK.unpack(answer)
        if kind == fcntl.F_UNLCK:
            return None
        return pid if pid > 0 else -1

    def header(self) -> bytes | None:
        """Return the wal-index header (it changes at every commit), or None."""
        fd = self._descriptor()
        if fd is None:
            return None
        try:
            return os.pread(fd, WAL_INDEX_HEADER_BYTES, 0)
        except OSError:
            return None


class WriteHealth:
    """Judge whether the database can be written now; call `inspect` as often as wanted.

    *waited_s* returns how long this process's oldest pending write has waited (0 if none).
    """

    def __init__(self, db_path: Path, waited_s: Callable[[], float] = lambda: 0.0,
                 lock_limit_s: float = LOCK_HELD_LIMIT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = db_path
        self.waited_s = waited_s
        self.lock_limit_s = lock_limit_s
        self.clock = clock
        self.lock = WalLock(db_path)
        status = os.stat(db_path)
        self.identity = (status.st_dev, status.st_ino)
        self._held_since: float | None = None
        self._held_header: bytes | None = None

    def inspect(self) -> WriteProblem | None:
        """Return what keeps the database from being written now, or None."""
        return self.file_problem() or self.lock_problem()

    def file_problem(self) -> WriteProblem | None:
        """Check the files and the directory a write needs, and the free space."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return WriteProblem(f"database file {self.path} was removed")
        except OSError as error:
            return WriteProblem(f"cannot stat the database file {self.path}: {error.strerror}")
        if (status.st_dev, status.st_ino) != self.identity:
            return WriteProblem(f"database file {self.path} was replaced by another file")
        problem = unwritable_file(self.path)
        if problem is not None:
            return WriteProblem(problem)
        try:
            space = os.statvfs(self.path.parent)
        except OSError as error:
            return WriteProblem(f"cannot check free space in {self.path.parent}: "
                                f"{error.strerror}")
        if space.f_bavail * space.f_frsize < MIN_FREE_BYTES:
            return WriteProblem(f"no space left for the database in {self.path.parent}")
        return None

    def lock_problem(self) -> WriteProblem | None:
        """Check SQLite's write lock: held with no commit for too long, or a write waiting."""
        now = self.clock()
        holder = self.lock.holder()
        foreign = holder is not None and holder != os.getpid()
        if holder is None:
            self._held_since = self._held_header = None
        else:
            header = self.lock.header()
            if self._held_since is None or header != self._held_header:
                self._held_since, self._held_header = now, header
            held_s = now - self._held_since
            if held_s > self.lock_limit_s:
                who = "this instance" if not foreign else (
                    f"process {holder}" if holder > 0 else "another process")
                return WriteProblem(f"the write lock of {self.path} has been held by {who} "
                                    f"for {held_s:.0f} s without a commit", foreign)
        waited_s = self.waited_s()
        if waited_s > self.lock_limit_s:
            return WriteProblem(f"a write has waited {waited_s:.0f} s for the lock of "
                                f"{self.path}", foreign)
        return None


def database_files(path: Path) -> tuple[Path, ...]:
    """Return the database file and the companions SQLite and mnemosyne keep beside it."""
    return (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-lock")))


def unwritable_file(path: Path) -> str | None:
    """Return which file a write to the database at *path* cannot write, and why, or None.

    Missing companion files are fine as long as the directory lets SQLite create them.
    """
    for candidate in database_files(path):
        try:
            os.stat(candidate)
        except FileNotFoundError:
            continue
        except OSError as error:
            return f"cannot stat {candidate}: {error.strerror}"
        if not os.access(candidate, os.W_OK):
            reason = "is on a read-only file system" if _read_only_fs(candidate) \
                else "is read-only (not writable by this user)"
            return f"database file {candidate} {reason}"
    directory = path.parent
    if not os.access(directory, os.W_OK):
        reason = "is on a read-only file system" if _read_only_fs(directory) \
            else "is not writable"
        return f"database directory {directory} {reason}"
    return None


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError as error:
        return error.errno == errno.EROFS
