"""One maintenance pass over the shared database, by one optimizer at a time.

A pass merges duplicates, decays idle memories and archives the faded ones (rules.py), then
compacts the full-text index, runs `PRAGMA optimize` and a passive WAL checkpoint; every write
is a short transaction (store/sqlite/maintenance.py), so instances writing meanwhile keep
their latency. `--dry-run` finds the same changes and makes none. Exactly one optimizer works
on a database at a time, whichever instance or machine user starts it: an flock on
`<database>-optimize.lock` (the kernel drops it when the holder dies); a second one waits for
it, or with `no_wait` gets a ConflictError (exit 7). `run_every` repeats the pass until
SIGTERM/SIGINT, for a unit, holding the lock during each pass only (with `no_wait`, a pass
that finds it taken is skipped and logged). The pass's reading and comparing (the finders:
most of its CPU) runs in a thread that only gets a core no instance wants (SCHED_IDLE), so it
never delays the instances' writers; its write batches run at the process's own priority: a
batch holding the writers' lock must not wait for a core behind the very writers it keeps
waiting.
Must not: print (the CLI formats the report), or hold a write transaction across a batch.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import fcntl
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mnemosyne.config import Settings
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.errors import ConflictError, UnavailableError, UsageError
from mnemosyne.optimize import rules
from mnemosyne.store.sqlite import maintenance
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database

logger = logging.getLogger(__name__)

NICENESS = 10  # where SCHED_IDLE is refused

Found = TypeVar("Found")


def _lower_this_thread() -> None:
    """Make the calling thread run only when a core is idle (SCHED_IDLE), else nice it.

    Scheduling policy and nice value are per-thread attributes on Linux. With the EEVDF
    scheduler (Linux 6.6+) a thread at nice +10 still keeps a core for its whole time slice
    when a writer wakes, and 8 writers' p99 doubled beside one; a SCHED_IDLE thread is
    preempted at once. Any process may lower its own threads this way.
    """
    thread = threading.get_native_id()
    try:
        os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread,
                           min(19, os.getpriority(os.PRIO_PROCESS, thread) + NICENESS))


class LowPriority:
    """One thread at the lowest CPU priority (SCHED_IDLE) that runs the pass's finders.

    One thread, reused for every finder and pass: it keeps one database connection. While a
    finder runs, the database's background helpers are held back from the writers' lock
    (*gate*, `Database.helper_gate`): the finder holds the interpreter lock most of the time
    and may wait long for an idle core, and a helper holding the writers' lock must not wait
    behind it.
    """

    def __init__(self, gate: threading.Lock | None = None) -> None:
        self._gate = gate or threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="optimize-finder", initializer=_lower_this_thread)

    def __call__(self, find: Callable[[], Found]) -> Found:
        """Return *find*() computed in the low-priority thread (its exceptions propagate)."""
        with self._gate:
            return self._pool.submit(find).result()

    def close(self) -> None:
        """Stop the thread."""
        self._pool.shutdown()


def _here(find: Callable[[], Found]) -> Found:
    return find()


@dataclasses.dataclass
class PassReport:
    """What a pass found (and, unless a dry run, did)."""

    dry_run: bool
    groups: list[maintenance.DuplicateGroup]
    merged: int = 0
    decay: int = 0
    archive: int = 0
    compacted: dict[str, Any] | None = None

    def summary(self) -> str:
        """Return the one-line account of the pass."""
        duplicates = sum(len(group.merged) for group in self.groups)
        verb = "would merge" if self.dry_run else "merged"
        line = (f"{verb} {duplicates} duplicate(s) into {len(self.groups)} memories, "
                f"{'would decay' if self.dry_run else 'decayed'} {self.decay}, "
                f"{'would archive' if self.dry_run else 'archived'} {self.archive}")
        if self.compacted is not None:
            line += (f"; full-text index merged in {self.compacted['fts_merge_rounds']} "
                     f"step(s), WAL checkpointed")
        return line

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"dry_run": self.dry_run, "duplicates": [g.to_dict() for g in self.groups],
                "merged": self.merged, "decayed": self.decay, "archived": self.archive,
                "compacted": self.compacted}


class OptimizerLock:
    """The flock that makes one optimizer at a time, beside the database file."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + "-optimize.lock")
        self.fd: int | None = None

    def acquire(self, wait: bool) -> None:
        """Take the lock, waiting for another optimizer unless not *wait*.

        Raises ConflictError if another optimizer holds it and *wait* is false;
        UnavailableError if the lock file cannot be opened.
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise UnavailableError(f"cannot open {self.path}: {error.strerror or error}",
                                   error.errno) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise ConflictError(f"another optimize is running on this database (it holds "
                                f"{self.path}): try again later, or leave out --no-wait to "
                                "wait for it") from None
        self.fd = fd

    def release(self) -> None:
        """Drop the lock."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def run_pass(store: SqliteBackend, *, dry_run: bool, now: datetime.datetime | None = None,
             find: Callable[[Callable[[], Any]], Any] = _here) -> PassReport:
    """Run one pass over *store* (the caller holds the lock unless *dry_run*).

    *find* runs each finder (reading and comparing only): a `LowPriority` in the command.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    decay_before = rules.idle_before(now, rules.DECAY_IDLE_DAYS)
    archive_before = rules.idle_before(now, rules.ARCHIVE_IDLE_DAYS)
    groups = find(
        lambda: maintenance.duplicate_groups(store, rules.normalise, rules.survivor_rank))
    if dry_run:
        return PassReport(True, groups, decay=len(find(
                              lambda: maintenance.decay_candidates(store, decay_before))),
                          archive=len(find(
                              lambda: maintenance.archive_candidates(store, archive_before))))
    merged = maintenance.merge_groups(store, groups)
    # Archive first: a memory decayed to 1 by this pass has just changed, so it is not idle.
    archived = maintenance.apply_archive(store, find(
        lambda: maintenance.archive_candidates(store, archive_before)), archive_before)
    decayed = maintenance.apply_decay(store, find(
        lambda: maintenance.decay_candidates(store, decay_before)), decay_before)
    report = PassReport(False, groups, merged, decayed, archived, maintenance.compact(store))
    logger.info("optimize: %s", report.summary())
    return report


def sqlite_path(settings: Settings) -> Path:
    """Return the SQLite database file. Raises UsageError for a PostgreSQL database."""
    if settings.db_path is None:
        raise UsageError("the maintenance pass works on the embedded SQLite database only; "
                         "PostgreSQL keeps its own upkeep (autovacuum)")
    return settings.db_path


def optimize_once(settings: Settings, *, dry_run: bool, wait: bool) -> PassReport:
    """Open the database, take the lock (not for a dry run), run one pass."""
    path = sqlite_path(settings)
    lock = OptimizerLock(path)
    database = Database.open(path, settings.busy_timeout_ms, settings.write_deadline_s)
    find = LowPriority(database.helper_gate)
    with SqliteBackend(database, settings.max_content_bytes) as store:
        if not dry_run:
            lock.acquire(wait)
        try:
            return run_pass(store, dry_run=dry_run, find=find)
        finally:
            lock.release()
            find.close()


def run_every(settings: Settings, interval_s: float, *, wait: bool,
              report: Callable[[PassReport], None]) -> int:
    """Run a pass every *interval_s* seconds until SIGTERM (exit 0) or SIGINT (130)."""
    if not interval_s > 0:
        raise UsageError(f"--interval must be more than 0 seconds, not {interval_s}")
    path = sqlite_path(settings)
    signals = SignalQueue()
    signals.install((signal.SIGTERM, signal.SIGINT))
    lock = OptimizerLock(path)
    find: LowPriority | None = None
    try:
        database = Database.open(path, settings.busy_timeout_ms, settings.write_deadline_s)
        find = LowPriority(database.helper_gate)
        with SqliteBackend(database, settings.max_content_bytes) as store:
            while True:
                try:  # the lock is held for each pass, not between them
                    lock.acquire(wait)
                except ConflictError as error:
                    logger.warning("optimize: pass skipped: %s", error)
                else:
                    try:
                        report(run_pass(store, dry_run=False, find=find))
                    finally:
                        lock.release()
                signum = signals.wait(interval_s)
                if signum is not None:
                    return 130 if signum == signal.SIGINT else 0
    finally:
        if find is not None:
            find.close()
        signals.restore()


def maintain(settings: Settings, *, dry_run: bool, wait: bool, interval_s: float | None,
             report: Callable[[PassReport], None]) -> int:
    """Run one pass (or one every *interval_s* seconds); give each to *report*; exit status."""
    if interval_s is None:
        report(optimize_once(settings, dry_run=dry_run, wait=wait))
        return 0
    if dry_run:
        raise UsageError("--dry-run and --interval do not go together")
    return run_every(settings, interval_s, wait=wait, report=report)
