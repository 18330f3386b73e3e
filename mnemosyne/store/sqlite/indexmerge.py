"""Merge the full-text index in the background, in short transactions of its own.

FTS5 writes one new segment per transaction and, with its default automerge, merges older
segments inside the transaction of whichever writer comes next, so one `remember` in a few
paid for merging while every other writer waited behind it (at 100,000 memories, that was the
writers' p99). Migration 0005 turns automerge off; each writing process instead has an
`IndexMerger`: a WAL hook asks it after commits, and a background thread with its own
connection runs FTS5 `merge` steps of MERGE_PAGES pages, each one write transaction (through
the writers' queue, like any write) followed by a rest PACE times as long as it held the
lock, while there is work: a level with `usermerge` (4) segments. A step with nothing to
merge writes nothing. Requests are coalesced: at most one round per MERGE_INTERVAL_S, and one
process's merger at a time (`<database>-merge.lock`; the others skip their round). Closing
runs a short last round if one is wanted (without waiting out the interval), so a short-lived
command leaves no more than a few segments behind. Each step holds the database's helper gate
(see database.py), so a caller can keep the merger from the writers' lock for a while.
Must not: merge everything at once (`optimize` does, in its own pass) or hold the writers'
lock across steps.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import apsw

from mnemosyne.errors import MnemosyneError
from mnemosyne.store.sqlite.transactions import WriterLock, run_write_transaction

logger = logging.getLogger(__name__)

MERGE_PAGES = 16  # pages merged per transaction: a few milliseconds of the writers' lock
MERGE_INTERVAL_S = 0.05  # requests within this are one round
MAX_STEPS = 64  # per round: a round never runs unbounded beside busy writers
FINAL_STEPS = 8  # the round a closing process still owes
PACE = 3.0  # after each step, rest this many times as long as it held the writers' lock
STEP_DEADLINE_S = 5.0


def merge_step(connection: apsw.Connection) -> bool:
    """Run one FTS5 merge step in the caller's transaction; return True if it merged anything.

    FTS5 merges only where a level holds `usermerge` segments; otherwise nothing changes.
    """
    before = connection.totalchanges()  # totalchanges: the name APSW 3.40 (Debian 12) knows
    connection.execute("INSERT INTO memories_fts(memories_fts, rank) VALUES "
                       f"('merge', {MERGE_PAGES})")
    return connection.totalchanges() - before >= 2


class MergingLock:
    """A non-blocking flock (`<database>-merge.lock`): one process's merger at a time.

    Without the file (a read-only directory) every round may merge; the writers' queue still
    serialises the steps.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock if free; return whether this process may merge now."""
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError:
                return True
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError:  # no locks on this file system: the writers' queue still serialises
            return True
        return True

    def release(self) -> None:
        """Let another process's merger go."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the descriptor."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class IndexMerger:
    """A lazily started thread that merges the full-text index when `request` is called."""

    def __init__(self, open_connection: Callable[[], apsw.Connection],
                 make_lock: Callable[[], WriterLock], merging_lock: Path,
                 gate: threading.Lock | None = None) -> None:
        self._merging = MergingLock(merging_lock)
        self._open_connection = open_connection
        self._make_lock = make_lock
        self._gate = gate or threading.Lock()  # held around each step (see Database)
        self._wanted = threading.Event()
        self._stop = threading.Event()
        self._stopping = False
        self._owed_at_close = False
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self.steps = 0

    def request(self) -> None:
        """Ask for a merge round soon; cheap enough to call after every commit."""
        if self._thread is None:
            with self._guard:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(target=self._run, name="fts-merger",
                                                    daemon=True)
                    self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        try:
            connection, lock = self._open_connection(), self._make_lock()
        except (MnemosyneError, OSError, apsw.Error) as error:
            logger.warning("full-text index merger not started: %s", error)
            return  # requests are then no-ops; the crisis merge still bounds the index
        try:
            cut_short = False
            while True:
                self._wanted.wait()
                self._stop.wait(MERGE_INTERVAL_S)  # commits meanwhile join this round
                if self._stopping:
                    break
                self._wanted.clear()
                cut_short = self._round(connection, lock, MAX_STEPS)
            # Closing: a short last round if one is owed (requested, or cut short by close).
            if self._owed_at_close or cut_short:
                self._round(connection, lock, FINAL_STEPS)
        finally:
            connection.close()
            lock.close()

    def _round(self, connection: apsw.Connection, lock: WriterLock, steps: int) -> bool:
        """Merge step by step while there is work: at most *steps*, one process at a time.

        Each step is followed by a rest PACE times as long as it held the writers' lock. A
        round that finds another process's merger at work is skipped: that one merges.
        Return True if the round was cut short by `close` with work left.
        """
        try:
            if not self._merging.acquire():
                return False
            try:
                for _ in range(steps):
                    began: list[float] = []

                    def step(connection: apsw.Connection, began: list[float] = began) -> bool:
                        began.append(time.monotonic())
                        return merge_step(connection)

                    with self._gate:
                        merged = run_write_transaction(connection, lock, step, STEP_DEADLINE_S)
                    self.steps += 1
                    if not merged:
                        return False
                    if self._stopping and steps == MAX_STEPS:
                        return True
                    time.sleep((time.monotonic() - began[-1]) * PACE)
            finally:
                self._merging.release()
        except apsw.Error as error:
            logger.warning("full-text index merge failed: %s", error)
        except Exception as error:  # noqa: BLE001 - the writers must not notice
            logger.warning("full-text index merge skipped: %s", error)
        return False

    def close(self) -> None:
        """Stop the thread; it first runs a short last round if one is owed.

        The interval between a commit and its round is cut short: closing never waits for it.
        """
        with self._guard:
            self._owed_at_close = self._wanted.is_set()
            self._stopping = True
            thread, self._thread = self._thread, None
        self._stop.set()
        self._wanted.set()
        if thread is not None:
            thread.join()
        self._merging.close()
