"""The entry points of `review`: one pass (`run_once`), or `--watch` as commits arrive.

Both route SIGTERM and SIGINT to a signal queue whose wake-up pipe stops a running check, so
its worktree is always removed. One pass exits 0 when every review passed or nothing was
new, 1 when any failed; a stop gives 0 (SIGTERM) or 130 (SIGINT).

The watcher registers a new instance id (kind "review"), so `instances` shows it and peers'
results come from a known sender, then reviews what is pending and waits in `poll` on:
the signal queue's wake-up pipe (SIGTERM/SIGINT: stop within a second, a running check is
killed and its worktree removed), and inotify watches on the repository's git directory
(`packed-refs`) and on `refs/heads` and its subdirectories (a branch moved by a rename of its
lock file), so a new commit is noticed at once. A rescan every poll_interval_s is the safety
net for missed events and new directories; the registry heartbeat runs every
heartbeat_interval_s, also from inside a long check. Reviews run one at a time, so there is
never more than one per branch. A pass that fails (git cannot check a commit out, the
database is busy past its deadline) is logged, at most once a minute, and tried again at the
next rescan. Messages sent to the watcher are received and dropped (it
only sends), so they do not wait in the queue until they expire.
Must not: print; results go to the caller's callback.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import stat
import time
from collections.abc import Callable
from pathlib import Path

from mnemosyne.config import Settings
from mnemosyne.coord.context import make_coordinator
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.identity import new_instance_id
from mnemosyne.coord.inotify import QUEUE_EVENTS, DirectoryWatch
from mnemosyne.coord.safefile import RateLimitedWarnings
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.errors import ExitCode, MnemosyneError
from mnemosyne.logs import set_instance_context
from mnemosyne.review.checkrun import CheckStopped
from mnemosyne.review.record import ReviewResult
from mnemosyne.review.reviewer import Reviewer, ReviewOptions

logger = logging.getLogger(__name__)

INSTANCE_KIND = "review"
MAX_WATCHED_DIRECTORIES = 256
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def ref_directories(common_dir: Path) -> list[Path]:
    """Return the directories whose changes may move a branch: the git dir, refs/heads/**."""
    found = [common_dir]
    pending = [common_dir / "refs" / "heads"]
    while pending and len(found) < MAX_WATCHED_DIRECTORIES:
        directory = pending.pop()
        try:
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                continue
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        found.append(directory)
        pending += [directory / name for name in names]
    return found


class RefWatches:
    """inotify watches on the ref directories, renewed when directories come and go."""

    def __init__(self, common_dir: Path) -> None:
        self.common_dir = common_dir
        self.watches: dict[Path, DirectoryWatch] = {}
        self.refresh()

    def refresh(self) -> None:
        """Watch every ref directory that exists now; stop watching the ones that are gone."""
        wanted = set(ref_directories(self.common_dir))
        for directory in list(self.watches):
            if directory not in wanted:
                self.watches.pop(directory).close()
        for directory in sorted(wanted - set(self.watches)):
            # In the git directory itself only packed-refs matters (not the index, HEAD...).
            only = "packed-refs" if directory == self.common_dir else None
            watch = DirectoryWatch.open(directory, QUEUE_EVENTS, only)
            if watch is not None:
                self.watches[directory] = watch

    def descriptors(self) -> list[int]:
        """Return the descriptors to poll."""
        return [watch.fileno() for watch in self.watches.values()]

    def drain(self, ready: set[int]) -> bool:
        """Consume the events of the *ready* descriptors; return True if there were any."""
        seen = False
        for watch in self.watches.values():
            if watch.fileno() in ready:
                seen = watch.drain() or seen
        return seen

    def close(self) -> None:
        """Stop watching."""
        for watch in self.watches.values():
            watch.close()
        self.watches.clear()


class Heartbeat:
    """Refresh the coordinator's registry entry at most every *interval_s*."""

    def __init__(self, coordinator: CrossProcessCoordinator, interval_s: float) -> None:
        self.coordinator = coordinator
        self.interval_s = interval_s
        self.last = time.monotonic()

    def __call__(self) -> None:
        """Heartbeat if due; receive (and drop) messages sent to the watcher."""
        if time.monotonic() - self.last < self.interval_s:
            return
        self.last = time.monotonic()
        try:
            self.coordinator.heartbeat()
            for message in self.coordinator.receive_messages():
                logger.debug("ignored %s message from %s", message.message_type,
                             message.from_agent)
        except MnemosyneError as error:
            logger.warning("heartbeat failed: %s", error)


def run_once(settings: Settings, options: ReviewOptions,
             on_result: Callable[[ReviewResult], None], start: Path | None = None) -> int:
    """Review every pending tip once; return the exit status.

    Raises UsageError outside a git repository, UnsafeError or UnavailableError if the root
    or the store cannot be used.
    """
    signals = SignalQueue()
    signals.install(STOP_SIGNALS)
    try:
        reviewer = Reviewer(settings, options, start, stop_fd=signals.fileno())
        try:
            results = reviewer.run_pass(on_result)
        except CheckStopped:
            received = signals.pending()
            return _exit_status(received[0]) if received else int(ExitCode.INTERRUPTED)
        finally:
            reviewer.close()
    finally:
        signals.restore()
    return int(ExitCode.OK if all(result.passed for result in results) else ExitCode.ERROR)


def run_watch(settings: Settings, options: ReviewOptions,
              on_result: Callable[[ReviewResult], None],
              on_ready: Callable[[str], None] | None = None, start: Path | None = None) -> int:
    """Review pending and arriving tips until SIGTERM (exit status 0) or SIGINT (130).

    Raises UsageError outside a git repository, ConflictError, UnsafeError or
    UnavailableError if the watcher cannot register or open the store.
    """
    instance_id = new_instance_id()
    set_instance_context(instance_id)
    signals = SignalQueue()
    signals.install(STOP_SIGNALS)
    try:
        coordinator = make_coordinator(settings, instance_id, start)
        reviewer = Reviewer(settings, options, start, sender_id=instance_id,
                            stop_fd=signals.fileno())
        try:
            coordinator.register(kind=INSTANCE_KIND)
            try:
                heartbeat = Heartbeat(coordinator, settings.heartbeat_interval_s)
                reviewer.tick = heartbeat
                return _watch(settings, reviewer, signals, heartbeat, on_result=on_result,
                              on_ready=on_ready)
            finally:
                coordinator.unregister()
        finally:
            reviewer.close()
    finally:
        signals.restore()
        set_instance_context(None)


def _watch(settings: Settings, reviewer: Reviewer, signals: SignalQueue, heartbeat: Heartbeat,
           *, on_result: Callable[[ReviewResult], None],
           on_ready: Callable[[str], None] | None) -> int:
    watches = RefWatches(reviewer.location.common_dir)
    warnings = RateLimitedWarnings(logger)
    try:
        if on_ready is not None:
            on_ready(reviewer.queue.instance_id)
        due = 0.0  # review at once
        while True:
            if time.monotonic() >= due:
                watches.refresh()
                try:
                    reviewer.run_pass(on_result)
                except CheckStopped:
                    pass
                except MnemosyneError as error:  # e.g. git could not check a commit out
                    warnings.warn("pass", "review pass failed (retried every %g s): %s",
                                  settings.poll_interval_s, error)
                # Another reviewer holds a commit: look again soon, it may die mid-review.
                due = time.monotonic() + settings.poll_interval_s
            received = signals.pending()
            if received:
                return _exit_status(received[0])
            heartbeat()
            wait_s = max(0.0, min(due - time.monotonic(), heartbeat.interval_s))
            ready = _poll([signals.fileno(), *watches.descriptors()], wait_s)
            if signals.fileno() in ready:
                received = signals.pending()
                if received:
                    return _exit_status(received[0])
            if watches.drain(ready):
                due = 0.0
    finally:
        watches.close()


def _poll(descriptors: list[int], timeout_s: float) -> set[int]:
    poller = select.poll()
    for fd in descriptors:
        poller.register(fd, select.POLLIN)
    return {fd for fd, _ in poller.poll(timeout_s * 1000)}


def _exit_status(signum: int) -> int:
    logger.info("stopping on %s", signal.Signals(signum).name)
    return int(ExitCode.INTERRUPTED if signum == signal.SIGINT else ExitCode.OK)
