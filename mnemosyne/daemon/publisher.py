"""Turn what the instance sees into API events: its life, messages, peers, memory changes.

The main loop calls in here: after each heartbeat (a `heartbeat` event, and `peer_joined` /
`peer_left` from the difference in live peers), for each coordination message
(`message_received`) and whenever the store's change feed wakes (SQLite's WAL is written,
PostgreSQL sends a NOTIFY): `memory_stored`, `memory_updated`, `memory_deleted` from the
change journal, whoever made the change; and `task_started`, `task_finished`, `task_failed`
from the journal of orchestrated tasks (SQLite only: plans live in the SQLite database).
Must not: block (each call is a file read or one indexed query), or raise into the loop.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from mnemosyne.api.events import EventHub
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.queue import Message
from mnemosyne.errors import MnemosyneError
from mnemosyne.store.backend import CHANGE_BATCH, ChangeFeed
from mnemosyne.store.sqlite.tasks import TaskStore

TASK_EVENTS = {"running": "task_started", "done": "task_finished", "failed": "task_failed"}

logger = logging.getLogger(__name__)

CHANGE_EVENTS = {"stored": "memory_stored", "updated": "memory_updated",
                 "deleted": "memory_deleted"}


class EventPublisher:
    """Publishes one instance's events to its hub."""

    def __init__(self, hub: EventHub, coordinator: CrossProcessCoordinator,
                 feed: ChangeFeed, tasks: TaskStore | None = None) -> None:
        self.hub = hub
        self.coordinator = coordinator
        self.feed = feed
        self.tasks = tasks
        self.task_cursor = tasks.last_event() if tasks is not None else 0
        self.started = time.monotonic()
        self.peers: dict[str, dict[str, Any]] = {}

    def instance_started(self, details: dict[str, Any]) -> None:
        """Announce this instance (the first event of its run)."""
        self.hub.publish("instance_started", {"pid": os.getpid(), **details})
        self.peers = self.live_peers()

    def instance_stopping(self, reason: str) -> None:
        """Announce the stop (the last event streams deliver before they end)."""
        self.hub.publish("instance_stopping", {"reason": reason,
                                               "uptime_s": self.uptime_s()})

    def uptime_s(self) -> float:
        """Return seconds since the instance started publishing."""
        return round(time.monotonic() - self.started, 3)

    def live_peers(self, fresh: bool = True) -> dict[str, dict[str, Any]]:
        """Return the other live instances' registry views, by id (see active_processes)."""
        return {view.instance_id: view.to_dict()
                for view in self.coordinator.active_processes(fresh)}

    def after_heartbeat(self) -> None:
        """Publish peer arrivals and departures, then a heartbeat."""
        try:
            current = self.live_peers(fresh=False)
        except (OSError, MnemosyneError) as error:
            logger.warning("cannot read the registry for peer events: %s", error)
            return
        for peer_id in current.keys() - self.peers.keys():
            entry = current[peer_id]
            self.hub.publish("peer_joined", {"peer_id": peer_id, "pid": entry.get("pid"),
                                             "api_url": entry.get("api_url"),
                                             "systemd_unit": entry.get("systemd_unit")})
        for peer_id in self.peers.keys() - current.keys():
            self.hub.publish("peer_left", {"peer_id": peer_id})
        self.peers = current
        self.hub.publish("heartbeat", {"uptime_s": self.uptime_s(), "peers": len(current),
                                       "subscribers": self.hub.subscribers})

    def message_received(self, message: Message) -> None:
        """Publish a coordination message that arrived for this instance."""
        self.hub.publish("message_received", {
            "message_id": message.id, "from_agent": message.from_agent,
            "to_agent": message.to_agent, "message_type": message.message_type,
            "sent_at": message.timestamp, "payload": message.payload})

    def database_changed(self) -> bool:
        """Publish every memory change committed since the last call.

        Return True if a writer held the lock when this began: its commit may not have been
        visible yet, so the caller must call again shortly (see ChangeFeed).
        """
        writing = self.feed.writer_active()  # before reading: a commit seen free is visible
        while True:
            try:
                changes = self.feed.poll()
            except MnemosyneError as error:
                logger.warning("cannot read the change journal: %s", error)
                return writing
            for change in changes:
                self.hub.publish(CHANGE_EVENTS[change.op], change.to_event_data())
            if len(changes) < CHANGE_BATCH:
                self.tasks_changed()
                return writing

    def tasks_changed(self) -> None:
        """Publish the task transitions journaled since the last call (orchestrated plans)."""
        if self.tasks is None:
            return
        try:
            events = self.tasks.events_after(self.task_cursor)
        except MnemosyneError as error:
            logger.warning("cannot read the task journal: %s", error)
            return
        for event in events:
            self.task_cursor = event.seq
            kind = TASK_EVENTS.get(event.state)
            if kind is not None:
                self.hub.publish(kind, event.to_dict())
