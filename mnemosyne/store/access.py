"""Access counts of a long-running process, written in batches instead of one write per recall.

A daemon answering recalls would otherwise commit a write after every search: the search's
latency pays for it, and every instance's change-journal reader wakes for it. Here the counts
gather in memory and one short transaction writes them at most every `interval_s` seconds
(and at close), so a recall only reads. A crash loses at most that interval's counts; memories
are never at stake. One-shot commands keep writing at once (SqliteBackend without a batcher).
Must not: block a caller on the database, or raise from its thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from mnemosyne.errors import MnemosyneError

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 1.0

Writer = Callable[[Mapping[str, int], str], None]


class AccessBatcher:
    """Counts accesses now and writes them through *write* from a thread of its own."""

    def __init__(self, write: Writer, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self._write = write
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._latest = ""
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="access-counts", daemon=True)
        self._thread.start()

    def add(self, memory_ids: Sequence[str], when: str) -> None:
        """Count one access for each of *memory_ids* at *when* (written within interval_s)."""
        with self._lock:
            for memory_id in memory_ids:
                self._counts[memory_id] = self._counts.get(memory_id, 0) + 1
            self._latest = max(self._latest, when)

    def flush(self) -> None:
        """Write what has been counted so far (a failure is logged; the counts are dropped)."""
        with self._lock:
            counts, latest = self._counts, self._latest
            self._counts, self._latest = {}, ""
        if not counts:
            return
        try:
            self._write(counts, latest)
        except MnemosyneError as error:
            logger.warning("could not record %d access count(s): %s", len(counts), error)

    def close(self) -> None:
        """Stop the thread and write the last counts."""
        self._closed = True
        self._wake.set()
        self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval_s)
            if not self._closed:
                self.flush()
