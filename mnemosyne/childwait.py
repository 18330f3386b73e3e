"""Wait for a child process to end, with a timeout, and be woken the moment it does.

`subprocess.Popen.wait(timeout)` checks in sleeps that double up to 50 ms, so a child that
ends is noticed up to 50 ms late. A pidfd (Linux 5.3 and later) becomes readable when the
process ends, so a poll on it returns at once; where there is none, Popen's own wait is used.
Must not: signal or kill anything (the callers decide what an overrun means), or import
anything of mnemosyne.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time


def open_pidfd(pid: int) -> int | None:
    """Return a descriptor that becomes readable when *pid* ends, or None (old kernel)."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def wait_for_exit(process: subprocess.Popen[bytes], timeout_s: float | None) -> bool:
    """Reap *process* if it ends within *timeout_s* (None: however long); return whether it did.

    The process is reaped (its `returncode` set) when this returns True. (An interrupted poll
    is retried by Python itself with the time left, PEP 475.)
    """
    if timeout_s is None or process.returncode is not None:
        process.wait()
        return True
    fd = open_pidfd(process.pid)  # the pid is ours until reaped: no other process has it
    if fd is None:
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout_s
        while not poller.poll(max(0.0, deadline - time.monotonic()) * 1000):
            if time.monotonic() >= deadline:
                return process.poll() is not None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    process.wait()
    return True
