"""Run one instance: open the store, report ready, loop until told to stop.

The loop wakes on signals or every heartbeat interval; SIGTERM and SIGINT stop it cleanly
(exit 0), SIGHUP re-reads the configuration and applies what can change at run time (the log
level). The store keeps its WAL bounded by itself (store/checkpoint.py).
Must not: parse the command line, or install signal handlers anywhere but `run`.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable

from mnemosyne.config import Settings
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.errors import ExitCode, MnemosyneError
from mnemosyne.logs import set_log_level
from mnemosyne.store import open_memory_store

logger = logging.getLogger(__name__)


def run(settings: Settings, reload_settings: Callable[[], Settings]) -> int:
    """Serve until SIGTERM/SIGINT; return the exit status.

    *reload_settings* re-resolves the configuration on SIGHUP.
    Raises UnavailableError if the store cannot be opened (exit status 3).
    """
    signals = SignalQueue()
    signals.install()
    try:
        with open_memory_store(settings) as store:
            logger.info("ready: database %s (%d memories)", settings.db_path, store.count())
            return _loop(settings, signals, reload_settings)
    finally:
        signals.restore()


def _loop(settings: Settings, signals: SignalQueue,
          reload_settings: Callable[[], Settings]) -> int:
    while True:
        signum = signals.wait(timeout=settings.heartbeat_interval_s)
        if signum in (signal.SIGTERM, signal.SIGINT):
            logger.info("stopping on %s", signal.Signals(signum).name)
            return int(ExitCode.OK)
        if signum == signal.SIGHUP:
            settings = handle_sighup(settings, reload_settings)


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
