"""Turn SIGTERM, SIGINT and SIGHUP into items on a queue the main loop reads.

Each handler is one statement (a put on a SimpleQueue, which is reentrant-safe); the loop does
the work. `install` must run on the main thread; `restore` puts the previous handlers back.
Must not: log, lock or exit inside a handler.
"""

from __future__ import annotations

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

    def _enqueue(self, signum: int, frame: object) -> None:
        self.received.put(signum)

    def install(self, signals: Iterable[int] = HANDLED_SIGNALS) -> None:
        """Route *signals* to the queue, remembering the handlers they replace."""
        for signum in signals:
            self._previous[signum] = signal.signal(signum, self._enqueue)

    def restore(self) -> None:
        """Put back the handlers `install` replaced."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def wait(self, timeout: float) -> int | None:
        """Return the next signal number, or None if none arrives within *timeout* seconds."""
        try:
            return self.received.get(timeout=timeout)
        except queue.Empty:
            return None
