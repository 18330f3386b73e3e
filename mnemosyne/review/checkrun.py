"""Run a review's check command in its worktree, with a timeout, in its own process group.

The command runs through `/bin/sh -c` with the worktree as its working directory, stdin from
/dev/null, stdout and stderr merged; only the last TAIL_BYTES of output are kept. It leads
its own process group, so a timeout or a stop kills everything it started: SIGTERM to the
group, then SIGKILL after a grace period; whatever of the group is left once the command has
exited is killed too, so nothing outlives the check in a worktree about to be removed.
A stop descriptor (the signal queue's wake-up pipe) becoming readable stops the check at once
(`CheckStopped`); *tick* is called about every TICK_S meanwhile (for registry heartbeats).
Must not: decide what a check means for the review (reviewer.py does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from mnemosyne.childwait import open_pidfd, wait_for_exit

TAIL_BYTES = 2048
TICK_S = 0.25
TIMEOUT_GRACE_S = 2.0
STOP_GRACE_S = 0.3
OUTPUT_GRACE_S = 1.0  # how long to keep reading after the command exits (a background child)


class CheckStopped(Exception):  # noqa: N818 - a request, not a failure
    """The check was stopped because the reviewer was asked to stop."""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """How one check run ended."""

    exit_status: int | None  # None when it timed out; negative: killed by that signal
    duration_s: float
    output: str  # the last TAIL_BYTES of output
    timed_out: bool = False

    @property
    def passed(self) -> bool:
        """Return True if the command exited with status 0 in time."""
        return self.exit_status == 0 and not self.timed_out


def tail_text(data: bytes) -> str:
    """Decode the kept tail of output, dropping a character cut at its start."""
    text = data.decode("utf-8", errors="replace")
    return text.lstrip("\ufffd") if len(data) >= TAIL_BYTES else text


def kill_group(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """TERM the process group *process* leads, KILL it after *grace_s*, and reap *process*."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGTERM)
    wait_for_exit(process, grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _make_poller(output: int, stop_fd: int | None, exit_fd: int | None) -> select.poll:
    """Return a poll object on the output (made non-blocking), the stop and exit descriptors."""
    os.set_blocking(output, False)
    poller = select.poll()
    for fd in (output, stop_fd, exit_fd):
        if fd is not None:
            poller.register(fd, select.POLLIN)
    return poller


def run_check(command: str, cwd: Path, timeout_s: float, stop_fd: int | None = None,
              tick: Callable[[], None] | None = None) -> CheckResult:
    """Run *command* in *cwd* for at most *timeout_s*; return how it ended.

    Raises CheckStopped (after killing the check's process group) if *stop_fd* becomes
    readable; OSError if the shell cannot be started.
    """
    started = time.monotonic()
    process = subprocess.Popen(["/bin/sh", "-c", command], cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    assert process.stdout is not None
    output = process.stdout.fileno()
    exit_fd = open_pidfd(process.pid)  # readable once the command exits: no polling delay
    poller = _make_poller(output, stop_fd, exit_fd)
    tail = b""
    open_output = True
    exited_at: float | None = None
    timed_out = False
    grace_s = 0.0
    try:
        while True:
            now = time.monotonic()
            if now - started > timeout_s:
                timed_out, grace_s = True, TIMEOUT_GRACE_S
                break
            if process.poll() is not None:
                exited_at = exited_at or now
                if not open_output or now - exited_at > OUTPUT_GRACE_S:
                    break
            wait_s = min(TICK_S, max(0.0, started + timeout_s - now))
            for fd, _ in poller.poll(wait_s * 1000):
                if fd == exit_fd:
                    poller.unregister(exit_fd)
                    continue
                if fd == stop_fd:
                    grace_s = STOP_GRACE_S
                    raise CheckStopped
                try:
                    chunk = os.read(output, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    open_output = False
                    poller.unregister(output)
                tail = (tail + chunk)[-TAIL_BYTES:]
            if tick is not None:
                tick()
    finally:
        kill_group(process, grace_s)
        process.stdout.close()
        if exit_fd is not None:
            os.close(exit_fd)
    duration = time.monotonic() - started
    return CheckResult(None if timed_out else process.returncode, duration, tail_text(tail),
                       timed_out)
