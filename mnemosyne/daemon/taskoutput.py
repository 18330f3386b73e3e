"""Where a task's output goes: an unnamed file, reused from one attempt to the next when safe.

Creating and dropping an unnamed file per attempt put ~0.5 ms on the p50 between a task's end
and the next start with 4 workers on 2 cores (an inode made and freed each time, beside the
tasks' own file writes), so a worker keeps one file for its attempts. A process the task
started may outlive it, having left the task's session (`setsid`, a daemonising tool) where the
end-of-attempt kill of the process group does not reach it; it may still write, and must never
write into another attempt's output (another plan's result). So:
- the child gets an open file description of its own (the file reopened through
  /proc/self/fd), which the worker closes as soon as the child has started; the worker reads
  the tail through the first one;
- after the attempt, the file is kept only if no other description of it is open for writing,
  which the kernel answers exactly: a write lease (F_SETLEASE, F_WRLCK) is granted only to the
  sole opener. It is taken and dropped at once, and the file emptied. Otherwise (something still
  holds it, or leases are off on this system or file system) the file is dropped, and the next
  attempt gets a new one.
Must not: read more than the tail, or keep a file that another process may still write to.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import tempfile

logger = logging.getLogger(__name__)

F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)


class TaskOutput:
    """One worker's output file for its attempts (see the module docstring)."""

    def __init__(self, tail_bytes: int) -> None:
        self.tail_bytes = tail_bytes
        self._file: int | None = None
        self._leases = True  # until the kernel says they are not available here

    def open_for_child(self) -> int:
        """Return a new descriptor (close-on-exec) for the next attempt's stdout and stderr.

        The caller closes it once the child has started. Raises OSError.
        """
        if self._file is None:
            with tempfile.TemporaryFile() as created:  # O_TMPFILE where the kernel has it
                self._file = os.dup(created.fileno())
        return os.open(f"/proc/self/fd/{self._file}", os.O_WRONLY | os.O_CLOEXEC)

    def tail(self) -> str:
        """Return the last `tail_bytes` of the attempt's output (invalid UTF-8 replaced)."""
        if self._file is None:
            return ""
        size = os.fstat(self._file).st_size
        start = max(0, size - self.tail_bytes)
        return os.pread(self._file, size - start, start).decode("utf-8", "replace")

    def end_attempt(self) -> None:
        """Empty the file for the next attempt if nothing else can write to it; else drop it."""
        if self._file is None:
            return
        if self._leases and self._sole_writer():
            os.ftruncate(self._file, 0)
            return
        self.close()

    def _sole_writer(self) -> bool:
        assert self._file is not None
        try:
            fcntl.fcntl(self._file, F_SETLEASE, fcntl.F_WRLCK)
        except BlockingIOError:  # EAGAIN: another description is still open for writing
            return False
        except OSError as error:  # leases disabled (EINVAL), not ours (EACCES), ...
            logger.debug("no write leases here (%s): one output file per attempt",
                         error.strerror or error)
            self._leases = False
            return False
        fcntl.fcntl(self._file, F_SETLEASE, fcntl.F_UNLCK)
        return True

    def close(self) -> None:
        """Drop the file."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.close(self._file)
            self._file = None
