"""Run write transactions that never surface "database is locked" under normal contention.

Every write is `BEGIN IMMEDIATE` (a deferred transaction that reads then writes gets
SQLITE_BUSY at once, whatever the busy timeout). Before BEGIN, writers of this program queue on
an `flock` of `<db>-lock`: the kernel wakes a waiter the moment the holder releases it, where
SQLite's own busy handler sleep-polls with growing sleeps (one writer among 8 waited 0.6 s).
Writers that do not take the lock (the sqlite3 shell, a checkpoint) are still handled by the
busy timeout, and a BusyError retries the whole transaction with exponential backoff and jitter
until the deadline. A write is acknowledged only after COMMIT returns.
Must not: open connections or know about tables.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import apsw

from mnemosyne.errors import UnavailableError

logger = logging.getLogger(__name__)

Result = TypeVar("Result")

FIRST_BACKOFF_S = 0.001
MAX_BACKOFF_S = 0.05


class Backoff:
    """Exponential backoff with full jitter, bounded by a deadline."""

    def __init__(self, deadline_s: float) -> None:
        self.give_up_at = time.monotonic() + deadline_s
        self.delay = FIRST_BACKOFF_S
        self.attempts = 0

    def wait(self) -> bool:
        """Sleep before the next attempt; return False (without sleeping) once time is up."""
        self.attempts += 1
        remaining = self.give_up_at - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(random.uniform(0, self.delay), remaining))
        self.delay = min(self.delay * 2, MAX_BACKOFF_S)
        return True


class WriterLock:
    """An exclusive `flock` on `<db>-lock`, held only for the span of one write transaction.

    Each connection opens its own descriptor, so threads of one process queue too. When the lock
    file cannot be created (read-only directory), the lock is a no-op and SQLite decides.
    """

    def __init__(self, database_path: Path) -> None:
        self.path = database_path.with_name(database_path.name + "-lock")
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            logger.debug("writer lock %s unavailable (%s); relying on SQLite's locking",
                         self.path, error.strerror)

    def acquire(self) -> None:
        """Block until this process holds the writer lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def acquire_within(self, deadline_s: float) -> bool:
        """Try to take the writer lock for up to *deadline_s* seconds; return True if held.

        For maintenance that must not wait behind a long transaction forever.
        """
        if self._fd is None:
            return True
        backoff = Backoff(deadline_s)
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if not backoff.wait():
                    return False

    def release(self) -> None:
        """Let the next queued writer go."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the descriptor (which also releases the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def run_write_transaction(
    connection: apsw.Connection,
    lock: WriterLock,
    work: Callable[[apsw.Connection], Result],
    deadline_s: float,
) -> Result:
    """Run *work* inside `BEGIN IMMEDIATE` ... `COMMIT`, retrying it whole on BusyError.

    Any other exception rolls back and propagates.
    Raises UnavailableError if the database stays busy past *deadline_s* seconds.
    """
    backoff = Backoff(deadline_s)
    while True:
        lock.acquire()
        try:
            return _run_once(connection, work)
        except apsw.BusyError as error:
            busy_error = error
        finally:
            lock.release()
        if not backoff.wait():
            raise UnavailableError(
                f"the database stayed locked for {deadline_s:g} s "
                f"({backoff.attempts} attempts): {busy_error}; another program may hold a "
                "long transaction")
        logger.debug("write transaction busy (attempt %d), retrying", backoff.attempts)


def _run_once(connection: apsw.Connection, work: Callable[[apsw.Connection], Result]) -> Result:
    """One attempt: BEGIN IMMEDIATE, the work, COMMIT; roll back on any failure."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result
