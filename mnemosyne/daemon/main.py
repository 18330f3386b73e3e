"""Run one instance: open the store, register, report ready, loop until told to stop.

Start-up: open the store -> take the instance id and its liveness lock -> register in the
process registry -> ready. The loop wakes on signals or when the next heartbeat is due;
SIGTERM and SIGINT stop it cleanly (exit 0) after unregistering, SIGHUP re-reads the
configuration and applies what can change at run time (the log level). The store keeps its WAL
bounded by itself (store/checkpoint.py).
Must not: parse the command line, or install signal handlers anywhere but `run`.
"""

from __future__ import annotations

import dataclasses
import logging
import signal
import time
from collections.abc import Callable

from mnemosyne.config import Settings
from mnemosyne.coord.context import open_root, signing_key
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.identity import new_instance_id, validate_instance_id
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.errors import ExitCode, MnemosyneError
from mnemosyne.logs import set_instance_context, set_log_level
from mnemosyne.store import open_memory_store

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """What `serve` was asked for beyond the settings."""

    instance_id: str | None = None


def run(settings: Settings, options: ServeOptions,
        reload_settings: Callable[[], Settings]) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status.

    *reload_settings* re-resolves the configuration on SIGHUP.
    Raises UnavailableError if the store cannot be opened (exit status 3), ConflictError if
    a live instance holds the id (7), UnsafeError for an unsafe coordination root (6).
    """
    instance_id = validate_instance_id(options.instance_id) if options.instance_id \
        else new_instance_id()
    set_instance_context(instance_id)
    signals = SignalQueue()
    signals.install()
    try:
        with open_memory_store(settings) as store:
            root = open_root(settings)
            coordinator = CrossProcessCoordinator(root, instance_id, signing_key(settings),
                                                  settings.stale_threshold_s)
            coordinator.register()
            try:
                logger.info("ready: database %s (%d memories), coordination root %s",
                            settings.db_path, store.count(), root.path)
                return _loop(settings, signals, coordinator, reload_settings)
            finally:
                coordinator.unregister()
    finally:
        signals.restore()


def _loop(settings: Settings, signals: SignalQueue, coordinator: CrossProcessCoordinator,
          reload_settings: Callable[[], Settings]) -> int:
    next_heartbeat = time.monotonic() + settings.heartbeat_interval_s
    while True:
        signum = signals.wait(timeout=max(0.0, next_heartbeat - time.monotonic()))
        if signum in (signal.SIGTERM, signal.SIGINT):
            logger.info("stopping on %s", signal.Signals(signum).name)
            return int(ExitCode.OK)
        if signum == signal.SIGHUP:
            settings = handle_sighup(settings, reload_settings)
        if time.monotonic() >= next_heartbeat:
            send_heartbeat(coordinator)
            next_heartbeat = time.monotonic() + settings.heartbeat_interval_s


def send_heartbeat(coordinator: CrossProcessCoordinator) -> bool:
    """Refresh the registry entry; a failure is logged, and the loop goes on."""
    try:
        coordinator.heartbeat()
    except (OSError, MnemosyneError) as error:
        logger.error("heartbeat failed: %s", error)
        return False
    return True


def handle_sighup(settings: Settings, reload_settings: Callable[[], Settings]) -> Settings:
    """Re-read the configuration; keep the old one if the new one is invalid."""
    try:
        fresh = reload_settings()
    except MnemosyneError as error:
        logger.error("reload failed, keeping the current configuration: %s", error)
        return settings
    if fresh.log_level != settings.log_level:
        set_log_level(fresh.log_level)
    logger.info("reloaded configuration (log level %s)", fresh.log_level)
    return fresh
