"""Receive coordination messages as a short-lived participant (`mnemosyne inbox`).

For scripts and agents with no daemon: takes the id's liveness lock and registers (so peers
see it, and a daemon with the same id cannot race it for messages), hands over what is
waiting, and with *follow* keeps receiving, woken by inotify, until SIGINT or SIGTERM.
Must not: print; the caller decides how messages are shown.
"""

from __future__ import annotations

from collections.abc import Callable

from mnemosyne.config import Settings
from mnemosyne.coord.context import make_coordinator
from mnemosyne.coord.identity import validate_instance_id
from mnemosyne.coord.inotify import DirectoryWatch
from mnemosyne.coord.queue import Message
from mnemosyne.daemon.loop import InstanceLoop
from mnemosyne.daemon.signals import SignalQueue


def run_inbox(settings: Settings, instance_id: str, follow: bool,
              on_message: Callable[[Message], None]) -> int:
    """Deliver *instance_id*'s messages to *on_message*; return the exit status.

    Raises ConflictError if a live instance holds the id, UsageError for a bad id.
    """
    validate_instance_id(instance_id)
    coordinator = make_coordinator(settings, instance_id)
    messages = coordinator.messages
    coordinator.register()
    try:
        if not follow:
            for message in messages.receive():
                on_message(message)
            return 0
        signals = SignalQueue()
        signals.install()
        watch = DirectoryWatch.open(coordinator.root.queue)
        try:
            return InstanceLoop(settings, signals, coordinator, messages, watch,
                                lambda current: current, on_message).run()
        finally:
            signals.restore()
            if watch is not None:
                watch.close()
    finally:
        coordinator.unregister()
