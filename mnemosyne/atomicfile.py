"""Write a file so that readers see either the old content or the new, never a torn one.

`atomic_output`: a temporary file in the same directory is written, flushed and fsynced, then
renamed over the target; on any failure the temporary file is removed and the target is
untouched. `SwappedFile` is the cheap form for small files rewritten every few seconds by writers
that hold a lock: one fixed temporary name, no fsync, and the new file exchanged with the old
(`renameat2(RENAME_EXCHANGE)`) instead of renamed over it. ext4 flushes a file renamed over
another to disk at once (auto_da_alloc); an exchanged file is not, so a heartbeat costs no
disk write and half the CPU time. Where the exchange is not supported it renames.
Must not: lock anything (callers that read-modify-write hold their own lock).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

AT_FDCWD = -100
RENAME_EXCHANGE = 2
# Errors meaning "this system or file system cannot exchange": rename instead, from now on.
UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def atomic_output(path: Path, mode: int = 0o600, durable: bool = True) -> Iterator[TextIO]:
    """Yield a text stream whose content replaces *path* when the block ends without error.

    *durable* fsyncs the file and its directory, so the new content survives a power loss;
    without it the replacement is still atomic for every process.
    """
    directory = path.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        if mode != 0o600:  # mkstemp already made it 0600
            os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            yield stream
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if not durable:
        return
    with contextlib.suppress(OSError):
        directory_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory_fd)
        finally:
            os.close(directory_fd)


def _load_renameat2() -> Callable[..., int] | None:
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).renameat2
    except (OSError, AttributeError):  # no libc, or glibc older than 2.28
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    return function


_renameat2: Callable[..., int] | None = _load_renameat2()


def _exchange(first: bytes, second: bytes) -> bool:
    """Swap two existing names atomically; return False if the system cannot.

    Raises OSError for any other failure (a missing name, permissions).
    """
    global _renameat2  # noqa: PLW0603 - remember "unsupported" for the process's lifetime
    if _renameat2 is None:
        return False
    if _renameat2(AT_FDCWD, first, AT_FDCWD, second, RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in UNSUPPORTED:
        _renameat2 = None
        return False
    raise OSError(error, os.strerror(error), os.fsdecode(second))


class SwappedFile:
    """A small file replaced whole, often, by writers that all hold one lock.

    The temporary name is fixed (`.NAME.swap`), hence the lock; both names are encoded once,
    since a heartbeat replaces the file every two seconds.
    """

    def __init__(self, path: Path, mode: int = 0o600) -> None:
        self.path = path
        self.mode = mode
        self._target = os.fsencode(path)
        self._temporary = os.fsencode(path.with_name(f".{path.name}.swap"))

    def replace(self, data: bytes) -> os.stat_result:
        """Replace the file with *data* atomically (not durably); return the new file's status.

        A temporary left by a crash is removed first. On failure the file is untouched and
        no temporary remains.
        """
        temporary = self._temporary
        try:
            fd = os.open(temporary, NEW_FILE, self.mode)
        except FileExistsError:
            os.unlink(temporary)
            fd = os.open(temporary, NEW_FILE, self.mode)
        try:
            try:
                rest = memoryview(data)
                while rest:  # one write, unless the disk fills up (then ENOSPC on the next)
                    rest = rest[os.write(fd, rest):]
                status = os.fstat(fd)
            finally:
                os.close(fd)
            try:
                exchanged = _exchange(temporary, self._target)
            except FileNotFoundError:  # no file yet: nothing to exchange with
                exchanged = False
            if not exchanged:
                os.rename(temporary, self._target)
                return status
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        os.unlink(temporary)  # the old content, which no reader can open any more
        return status
