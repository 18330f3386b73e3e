"""The instance's main loop: one thread that waits for whatever comes first and acts on it.

It sleeps in `poll` on the signal self-pipe, the queue's inotify descriptor and any further
watches (the database's WAL, when the API publishes memory events), with a timeout set by the
next due timer: the registry heartbeat, the queue rescan (every poll interval without inotify,
a rare safety net with it) and the systemd watchdog. WATCHDOG=1 is sent from this loop only
while the last heartbeat succeeded and the health check passes, so systemd kills and restarts
an instance that hangs or breaks. A watch's callback that returns True (a write was still
committing when it looked) is called again after 2 ms, then at doubling intervals up to
0.25 s, until it returns False. SIGTERM and SIGINT end the loop (STOPPING=1, exit status 0);
SIGHUP reloads. A wake-up by inotify hands the queue only the names that arrived, so a queue
full of other files costs nothing per message. No file in `.mnemosyne/` can stop the loop: a
failure to read the queue or write the heartbeat is logged (at most once a minute per kind,
with a count) and the loop goes on; /health and the watchdog report a failing heartbeat.
Must not: start threads, or do slow work inline (each step is a few file operations).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import select
import signal
import time
from collections.abc import Callable
from typing import Protocol

from mnemosyne.config import Settings
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.inotify import DirectoryWatch
from mnemosyne.coord.queue import Message, MessageQueue
from mnemosyne.coord.safefile import RateLimitedWarnings
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.daemon.systemd import ServiceManager
from mnemosyne.errors import ExitCode, MnemosyneError

logger = logging.getLogger(__name__)


class Watch(Protocol):
    """A descriptor the loop polls besides the queue (the store's change feed)."""

    def fileno(self) -> int:
        """Return the descriptor, readable when something happened."""

    def drain(self) -> bool:
        """Consume what happened; return whether the watch's callback should run."""


SAFETY_RESCAN_S = 30.0
RECHECK_FIRST_S = 0.002
RECHECK_MAX_S = 0.25


@dataclasses.dataclass
class LoopHealth:
    """Whether the main loop is healthy: it turns, and its last heartbeat succeeded.

    Its own object, made before the loop, so that the API's /health can be given it when the
    daemon is assembled; the loop updates it at each turn and heartbeat.
    """

    settings: Settings
    heartbeat_ok: bool = True
    last_turn: float = dataclasses.field(default_factory=time.monotonic)

    def problem(self) -> str | None:
        """Return why the loop is unhealthy (for /health, from another thread), or None."""
        stalled_s = time.monotonic() - self.last_turn
        limit_s = 3 * max(self.settings.heartbeat_interval_s, self.settings.poll_interval_s)
        if stalled_s > limit_s:
            return f"main loop stalled for {stalled_s:.0f} s"
        if not self.heartbeat_ok:
            return "registry heartbeat failing"
        return None


@dataclasses.dataclass
class InstanceLoop:
    """Everything the loop drives, and the callbacks it reports to."""

    settings: Settings
    signals: SignalQueue
    coordinator: CrossProcessCoordinator
    messages: MessageQueue
    watch: DirectoryWatch | None
    reload_settings: Callable[[Settings], Settings]
    on_message: Callable[[Message], None]
    manager: ServiceManager = dataclasses.field(default_factory=ServiceManager)
    check_health: Callable[[], bool] = lambda: True
    describe: Callable[[], str] | None = None
    watches: tuple[tuple[Watch, Callable[[], bool | None]], ...] = ()
    on_heartbeat: Callable[[], None] | None = None
    on_rescan: Callable[[], None] | None = None
    health: LoopHealth | None = None
    last_full_scan: float | None = None
    _last_status: str = ""
    warnings: RateLimitedWarnings = dataclasses.field(
        default_factory=lambda: RateLimitedWarnings(logger))

    def __post_init__(self) -> None:
        if self.health is None:
            self.health = LoopHealth(self.settings)

    @property
    def heartbeat_ok(self) -> bool:
        """Return whether the last heartbeat succeeded (kept in `health`)."""
        assert self.health is not None
        return self.health.heartbeat_ok

    @heartbeat_ok.setter
    def heartbeat_ok(self, value: bool) -> None:
        assert self.health is not None
        self.health.heartbeat_ok = value

    @property
    def last_turn(self) -> float:
        """Return when the loop last turned (monotonic; kept in `health`)."""
        assert self.health is not None
        return self.health.last_turn

    @last_turn.setter
    def last_turn(self, value: float) -> None:
        assert self.health is not None
        self.health.last_turn = value

    def run(self) -> int:
        """Loop until SIGTERM or SIGINT; return the exit status."""
        signal_fd = self.signals.fileno()
        descriptors = [signal_fd, *([self.watch.fileno()] if self.watch is not None else []),
                       *(watch.fileno() for watch, _ in self.watches)]
        poller = select.poll()
        for fd in descriptors:
            poller.register(fd, select.POLLIN)
        now = time.monotonic()
        # A random phase, so that instances started together do not heartbeat in lockstep.
        next_heartbeat = now + random.uniform(0.5, 1.0) * self.settings.heartbeat_interval_s
        rescan_s = self.rescan_interval_s()
        # A full scan just before the loop (the start-up delivery) counts as the first one:
        # with a crowded queue, a second one at once would hold up the first arrivals.
        next_rescan = now if self.last_full_scan is None else self.last_full_scan + rescan_s
        watchdog_s = self.manager.watchdog_interval_s
        next_watchdog = now if watchdog_s else math.inf
        again: list[Callable[[], bool | None]] = []  # watch callbacks to call again
        next_again, again_delay = math.inf, RECHECK_FIRST_S
        # Each turn reads only the descriptors poll reported (an empty read is still a system
        # call, and an idle instance's CPU time is mostly system calls); the first reads all.
        ready = set(descriptors)
        while True:
            for signum in self.signals.pending(read_pipe=signal_fd in ready):
                if signum in (signal.SIGTERM, signal.SIGINT):
                    self.manager.stopping()
                    logger.info("stopping on %s", signal.Signals(signum).name)
                    return int(ExitCode.OK)
                if signum == signal.SIGHUP:
                    self.settings = self.reload_settings(self.settings)
                    assert self.health is not None
                    self.health.settings = self.settings
            now = self.last_turn = time.monotonic()
            if self.watch is not None and self.watch.fileno() in ready \
                    and not self.deliver_arrivals():
                next_rescan = now
            woken = [on_change for watch, on_change in self.watches
                     if watch.fileno() in ready and watch.drain()]
            due = again if now >= next_again else []
            if woken or due:
                calls = list(dict.fromkeys([*woken, *due]))
                again = [call for call in calls if call()] + \
                    [call for call in again if call not in calls]
                again_delay = RECHECK_FIRST_S if woken else min(again_delay * 2, RECHECK_MAX_S)
                next_again = now + again_delay if again else math.inf
            if now >= next_rescan:
                self.deliver_messages()
                if self.on_rescan is not None:
                    self.on_rescan()
                next_rescan = now + rescan_s
            if now >= next_heartbeat:
                self.heartbeat_ok = self.send_heartbeat()
                if self.on_heartbeat is not None:
                    self.on_heartbeat()
                self.update_status()
                next_heartbeat = now + self.settings.heartbeat_interval_s
            if watchdog_s and now >= next_watchdog:
                self.feed_watchdog()
                next_watchdog = now + watchdog_s
            wait_s = max(0.0, min(next_heartbeat, next_rescan, next_watchdog, next_again)
                         - time.monotonic())
            ready = {fd for fd, _ in poller.poll(wait_s * 1000)}

    def deliver_arrivals(self) -> bool:
        """Hand over the messages the queue's watch reported; return False if events were lost.

        After an inotify overflow the names are unknown, and the caller rescans everything.
        """
        assert self.watch is not None
        arrived = self.watch.drain_names()
        if arrived is None:
            return False
        if arrived:
            self.deliver_messages(arrived)
        return True

    def rescan_interval_s(self) -> float:
        """Return how often the queue is read without being woken.

        Without inotify: every poll_interval_s, the reference system's polling. With it, a
        message wakes the loop at once and an overflow forces a rescan, so the timer is only a
        safety net and runs rarely: an idle instance then wakes up for its heartbeat alone.
        """
        if self.watch is None or self.on_rescan is not None:
            return self.settings.poll_interval_s
        return max(self.settings.poll_interval_s, SAFETY_RESCAN_S)

    def health_problem(self) -> str | None:
        """Return why the loop is unhealthy (for /health, from another thread), or None."""
        assert self.health is not None
        return self.health.problem()

    def feed_watchdog(self) -> bool:
        """Send WATCHDOG=1 if the instance is healthy; return whether it was sent."""
        if self.heartbeat_ok and self.check_health():
            self.manager.watchdog()
            return True
        logger.warning("unhealthy: not feeding the watchdog")
        return False

    def update_status(self) -> None:
        """Keep systemd's STATUS= line current (sent only when it changes)."""
        if self.describe is None or self.manager.notifier is None:
            return  # nobody to tell: skip judging every registry entry
        text = self.describe()
        if text != self._last_status:
            self.manager.status(text)
            self._last_status = text

    def deliver_messages(self, names: list[str] | None = None) -> None:
        """Receive what arrived and hand each message over; failures are logged.

        *names* are the files inotify reported; without them the whole queue is scanned.
        """
        if names is None:
            self.last_full_scan = time.monotonic()
        try:
            received = self.messages.receive(names)
        except Exception as error:  # noqa: BLE001 - no file in the queue may stop the loop
            self.warnings.warn("queue", "cannot read the coordination queue: %s: %s",
                               type(error).__name__, error)
            return
        for message in received:
            self.on_message(message)

    def send_heartbeat(self) -> bool:
        """Refresh the registry entry; a failure is logged, and the loop goes on."""
        try:
            self.coordinator.heartbeat()
        except MnemosyneError as error:
            self.warnings.warn("heartbeat", "heartbeat failed: %s", error)
            return False
        except Exception as error:  # noqa: BLE001 - no registry file may stop the loop
            self.warnings.warn("heartbeat", "heartbeat failed: %s: %s", type(error).__name__,
                               error)
            return False
        return True
