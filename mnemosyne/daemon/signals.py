"""Turn SIGTERM, SIGINT and SIGHUP into items on a queue the main loop reads.

Each handler is one statement (a put on a SimpleQueue, which is reentrant-safe); the loop does
the work. Python also writes each signal's number to a non-blocking self-pipe
(`signal.set_wakeup_fd`), so a loop waiting in `poll` on other descriptors wakes at once.
`install` must run on the main thread; `restore` puts the previous handlers back.
Must not: log, lock or exit inside a handler.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
from collections.abc import Iterable
from typing import Any

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class SignalQueue:
    """Signals received, in order, for the main loop to handle."""

    def __init__(self) -> None:
        self.received: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._previous: dict[int, Any] = {}
        self._pipe: tuple[int, int] | None = None
        self._previous_wakeup_fd = -1

    def _enqueue(self, signum: int, frame: object) -> None:
        self.received.put(signum)

    def install(self, signals: Iterable[int] = HANDLED_SIGNALS) -> None:
        """Route *signals* to the queue, remembering the handlers they replace."""
        read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pipe = (read_end, write_end)
        self._previous_wakeup_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        for signum in signals:
            self._previous[signum] = signal.signal(signum, self._enqueue)

    def restore(self) -> None:
        """Put back the handlers and wakeup descriptor that `install` replaced."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if self._pipe is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def fileno(self) -> int:
        """Return a descriptor that becomes readable when a signal arrives (for poll)."""
        if self._pipe is None:
            raise RuntimeError("install() first")
        return self._pipe[0]

    def pending(self, read_pipe: bool = True) -> list[int]:
        """Return the signals received so far, in order, emptying the wakeup pipe first.

        *read_pipe* False skips the pipe (a system call) when poll said it is empty; the queue,
        which costs none, is always read, so a signal is never left waiting on it.
        """
        if read_pipe and self._pipe is not None:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._pipe[0], 512):
                    pass
        received = []
        while not self.received.empty():
            received.append(self.received.get_nowait())
        return received

    def wait(self, timeout: float) -> int | None:
        """Return the next signal number, or None if none arrives within *timeout* seconds."""
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            return None
