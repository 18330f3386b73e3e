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
  holds it, leases are off on this system or file system, /proc is not mounted so the child
  had to share the worker's description, or any of these calls failed) the file is dropped,
  and the next attempt gets a new one.
A lease's holder is signalled when someone opens the file meanwhile (only a process of the
same user, through /proc/<pid>/fd, could): the signal is set to SIGURG, which is ignored by
default, rather than SIGIO, which would end the daemon.
Must not: read more than the tail, keep a file that another process may still write to, or
raise from `end_attempt` (an attempt's result must not be lost to its clean-up).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import tempfile

logger = logging.getLogger(__name__)

F_SETLEASE = getattr(fcntl, "F_SETLEASE", 1024)
F_SETSIG = getattr(fcntl, "F_SETSIG", 10)


class TaskOutput:
    """One worker's output file for its attempts (see the module docstring)."""

    def __init__(self, tail_bytes: int) -> None:
        self.tail_bytes = tail_bytes
        self._file: int | None = None
        self._reusable = True  # until this system cannot tell when a file is ours alone

    def open_for_child(self) -> int:
        """Return a new descriptor (close-on-exec) for the next attempt's stdout and stderr.

        The caller closes it once the child has started. Raises OSError.
        """
        if self._file is None:
            with tempfile.TemporaryFile() as created:  # O_TMPFILE where the kernel has it
                self._file = os.dup(created.fileno())
            self._reusable = self._reusable and self._signal_with(signal.SIGURG)
        try:
            return os.open(f"/proc/self/fd/{self._file}", os.O_WRONLY | os.O_CLOEXEC)
        except OSError as error:  # no /proc: the child shares ours, the file is not reused
            logger.debug("cannot reopen the output file (%s): one file per attempt",
                         error.strerror or error)
            self._reusable = False
            return os.dup(self._file)

    def tail(self) -> str:
        """Return the last `tail_bytes` of the attempt's output (invalid UTF-8 replaced)."""
        if self._file is None:
            return ""
        size = os.fstat(self._file).st_size
        start = max(0, size - self.tail_bytes)
        return os.pread(self._file, size - start, start).decode("utf-8", "replace")

    def end_attempt(self) -> None:
        """Empty the file for the next attempt if nothing else can write to it; else drop it.

        Never raises: a failure drops the file (which also ends any lease on it).
        """
        if self._file is None:
            return
        try:
            if self._reusable and self._sole_writer():
                os.ftruncate(self._file, 0)
                return
        except OSError as error:
            logger.debug("output file not reused: %s", error.strerror or error)
        self.close()

    def _sole_writer(self) -> bool:
        """Return True if no other description of the file is open for writing.

        Raises OSError if the lease, once taken, cannot be dropped again.
        """
        assert self._file is not None
        try:
            fcntl.fcntl(self._file, F_SETLEASE, fcntl.F_WRLCK)
        except BlockingIOError:  # EAGAIN: another description is still open for writing
            return False
        except OSError as error:  # leases disabled (EINVAL), not ours (EACCES), ...
            logger.debug("no write leases here (%s): one output file per attempt",
                         error.strerror or error)
            self._reusable = False
            return False
        fcntl.fcntl(self._file, F_SETLEASE, fcntl.F_UNLCK)
        return True

    def _signal_with(self, signum: int) -> bool:
        """Have a lease on the file signal *signum* when broken; return False if refused."""
        assert self._file is not None
        try:
            fcntl.fcntl(self._file, F_SETSIG, signum)
        except OSError as error:
            logger.debug("cannot set the lease signal (%s): one file per attempt",
                         error.strerror or error)
            return False
        return True

    def close(self) -> None:
        """Drop the file."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                os.close(self._file)
            self._file = None
