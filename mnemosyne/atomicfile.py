"""Write a file so that readers see either the old content or the new, never a torn one.

A temporary file in the same directory is written, flushed and fsynced, then renamed over the
target; on any failure the temporary file is removed and the target is untouched.
Must not: lock anything (callers that read-modify-write hold their own lock).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO


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
