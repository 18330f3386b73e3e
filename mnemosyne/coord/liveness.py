"""Liveness that the kernel vouches for: each instance holds an flock on `locks/<id>.lock`.

The kernel releases the lock when the process dies, even by SIGKILL, so another process sees the
death at once (~1 ms) instead of after a 30 s heartbeat timeout. A checker probes with a shared,
non-blocking lock that it drops immediately; an instance taking its lock retries briefly in case
a probe is in flight at that instant. Lock files are opened without following a link or
blocking: a link planted as `locks/<id>.lock` is renamed aside, never followed to create a file
elsewhere, and a probe of anything but a regular file of ours says "not held". The lock file of
an instance that is gone may be deleted (`remove_free_lock_file`, for doctor) without ever
letting two processes hold one id: the remover holds the lock while it deletes, and a taker
checks after locking that the path still names the file it locked. A held lock can be moved
to another id by renaming its file (`InstanceLock.move_to`): what a worker does between two
attempts, each with its own id, instead of creating a file per attempt.
Must not: decide what a dead instance means for the registry (registry.py does).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from mnemosyne.coord.safefile import open_lock_file
from mnemosyne.errors import ConflictError, UnavailableError

ACQUIRE_PATIENCE_S = 0.3


def lock_path(locks_dir: Path, instance_id: str) -> Path:
    """Return the liveness lock file of *instance_id*."""
    return locks_dir / f"{instance_id}.lock"


class InstanceLock:
    """The exclusive lock an instance holds for its whole life."""

    def __init__(self, locks_dir: Path, instance_id: str) -> None:
        self.path = lock_path(locks_dir, instance_id)
        self.instance_id = instance_id
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock. Raises ConflictError if a live instance with this id holds it."""
        try:
            fd = open_lock_file(self.path)
        except OSError as error:
            raise UnavailableError(f"cannot open the liveness lock {self.path}: "
                                   f"{error.strerror or error}", error.errno) from None
        give_up_at = time.monotonic() + ACQUIRE_PATIENCE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() < give_up_at:
                    time.sleep(0.01)
                    continue
                os.close(fd)
                raise ConflictError(f"instance {self.instance_id} is already running "
                                    f"(its lock {self.path} is held)") from None
            if not _still_named(fd, self.path):
                # Removed (by doctor, as a dead instance's file) between our open and our lock:
                # a lock on an unlinked file proves nothing, so take the one the path names now.
                os.close(fd)
                self.acquire()
                return
            self.fd = fd
            return

    def move_to(self, instance_id: str) -> None:
        """Make this held lock *instance_id*'s: the old id is free and the new one held at once.

        The kernel's lock is on the file, not its name, so renaming the held file hands it to
        the new id without a moment where neither or both are held, and without creating a
        file (a new inode costs ~0.5 ms on some filesystems; a rename ~10 us). Raises
        ConflictError if a file already has the new name (it is never replaced), and
        UnavailableError if the rename fails; the lock is then unchanged.
        """
        target = lock_path(self.path.parent, instance_id)
        if self.fd is None or os.path.lexists(target):
            raise ConflictError(f"cannot move the lock {self.path} to {target}: "
                                f"{'it is not held' if self.fd is None else 'that name is taken'}")
        try:
            os.rename(self.path, target)
        except OSError as error:
            raise UnavailableError(f"cannot move the lock {self.path} to {target}: "
                                   f"{error.strerror or error}", error.errno) from None
        self.path = target
        self.instance_id = instance_id

    def release(self) -> None:
        """Drop the lock (closing the descriptor is what releases it)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def lock_is_held(locks_dir: Path, instance_id: str) -> bool:
    """Return True if a live process holds *instance_id*'s liveness lock."""
    try:
        fd = os.open(lock_path(locks_dir, instance_id),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # missing, a link, or unopenable: no live instance holds it
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False


def _still_named(fd: int, path: Path) -> bool:
    """Return True if *path* still names the file open as *fd*."""
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def remove_free_lock_file(locks_dir: Path, instance_id: str) -> bool:
    """Delete *instance_id*'s lock file if no process holds it; return True if deleted.

    The file is deleted while this process holds its exclusive lock, and an instance that
    opened it just before re-checks the path after locking (`InstanceLock.acquire`), so a
    removal can never leave two instances each holding "the" lock of one id.
    """
    path = lock_path(locks_dir, instance_id)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not _still_named(fd, path):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)


@contextlib.contextmanager
def holding_if_free(locks_dir: Path, instance_id: str) -> Iterator[bool]:
    """Hold *instance_id*'s liveness lock for a moment, if no process holds it; yield whether.

    While held, no instance with that id can start (one starting then retries for
    ACQUIRE_PATIENCE_S): for doctor to remove what a gone instance left, knowing that it is
    not being taken back at that moment. A lock file this call had to create is deleted again
    before the lock is released. Keep the held time short.
    """
    path = lock_path(locks_dir, instance_id)
    existed = os.path.lexists(path)
    try:
        fd = open_lock_file(path)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        if not _still_named(fd, path):
            yield False
            return
        yield True
        if not existed:
            with contextlib.suppress(OSError):
                os.unlink(path)
    finally:
        os.close(fd)
