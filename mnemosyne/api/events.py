"""The instance's event hub: a ring buffer of recent events that SSE subscribers read from.

Events are numbered per instance and never renumbered: the first id of a run is the start time
in milliseconds, so ids keep growing across restarts and a resuming client (Last-Event-ID) can
tell an old run's id from a current one. Subscribers do not get queues of their own; each
keeps a cursor into the shared ring, so a slow client costs nothing until it falls behind the
ring, and then it is told how many events it missed (`lagged`). Each event is rendered to its
SSE frame once, however many clients read it.
Must not: do I/O (sse.py writes the frames), or know where events come from.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any

from mnemosyne.api.responses import ENCODER
from mnemosyne.coord.registry import utc_timestamp

ENVELOPE_FIELDS = frozenset({"id", "type", "instance_id", "timestamp", "data"})


class HubFullError(Exception):
    """The subscriber cap is reached."""


class HubClosedError(Exception):
    """The hub stopped (the instance is shutting down)."""


@dataclasses.dataclass(frozen=True)
class Event:
    """One event: the envelope every client sees, with its payload under `data`."""

    id: int
    type: str
    instance_id: str
    timestamp: str
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        """Return the JSON envelope {id, type, instance_id, timestamp, data}."""
        return {"id": self.id, "type": self.type, "instance_id": self.instance_id,
                "timestamp": self.timestamp, "data": self.data}

    def frame(self) -> bytes:
        """Return the event as one SSE frame (id, event and data lines, blank line)."""
        body = ENCODER.encode(self.envelope())
        return f"id: {self.id}\nevent: {self.type}\ndata: {body}\n\n".encode()


@dataclasses.dataclass(frozen=True)
class Backlog:
    """What a subscriber gets next: the events after its cursor, and any gap before them."""

    events: list[tuple[Event, bytes]]
    missed: int | None = 0  # events lost before `events` (None: unknown, e.g. after a restart)
    reason: str | None = None  # why there is a gap: "overflow", "restart" or "unknown id"


class EventHub:
    """Recent events of one instance, and the subscribers reading them."""

    def __init__(self, instance_id: str, capacity: int, max_subscribers: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.instance_id = instance_id
        self.capacity = capacity
        self.max_subscribers = max_subscribers
        self.clock = clock
        self.first_id = int(clock() * 1000)
        self._next_id = self.first_id
        self._ring: collections.deque[tuple[Event, bytes]] = collections.deque(maxlen=capacity)
        self._changed = threading.Condition()
        self._subscribers = 0
        self._closed = False

    @property
    def subscribers(self) -> int:
        """Return how many SSE clients are connected now."""
        return self._subscribers

    @property
    def last_id(self) -> int:
        """Return the id of the newest event (first_id - 1 before any)."""
        return self._next_id - 1

    def publish(self, event_type: str, data: dict[str, Any] | None = None) -> Event:
        """Add an event and wake every subscriber; return it.

        Raises ValueError if the payload uses an envelope field name.
        """
        payload = dict(data or {})
        clash = ENVELOPE_FIELDS & payload.keys()
        if clash:
            raise ValueError(f"payload fields clash with the envelope: {sorted(clash)}")
        with self._changed:
            event = Event(self._next_id, event_type, self.instance_id,
                          utc_timestamp(self.clock()), payload)
            self._next_id += 1
            self._ring.append((event, event.frame()))
            self._changed.notify_all()
        return event

    def recent(self, limit: int | None = None) -> list[Event]:
        """Return the buffered events, oldest first (the newest *limit* of them if given)."""
        with self._changed:
            events = [event for event, _ in self._ring]
        return events if limit is None else events[-limit:] if limit else []

    def subscribe(self) -> None:
        """Count a new subscriber. Raises HubFullError at the cap, HubClosedError after close()."""
        with self._changed:
            if self._closed:
                raise HubClosedError
            if self._subscribers >= self.max_subscribers:
                raise HubFullError
            self._subscribers += 1

    def unsubscribe(self) -> None:
        """Forget one subscriber."""
        with self._changed:
            self._subscribers = max(0, self._subscribers - 1)

    def backlog(self, after: int | None) -> Backlog:
        """Return the events after id *after* (None: only events to come), gap included."""
        with self._changed:
            return self._backlog(after)

    def _backlog(self, after: int | None) -> Backlog:
        if after is None:
            return Backlog([])
        newest = self._next_id - 1
        if after > newest:
            return Backlog(list(self._ring), None, "unknown id")
        if after < self.first_id - 1:
            return Backlog(list(self._ring), None, "restart")
        oldest = self._ring[0][0].id if self._ring else self._next_id
        if after < oldest - 1:
            return Backlog(list(self._ring), oldest - 1 - after, "overflow")
        skip = max(0, after - oldest + 1)
        return Backlog([self._ring[index] for index in range(skip, len(self._ring))])

    def wait(self, after: int, timeout_s: float) -> Backlog:
        """Block until there are events after *after*, the timeout, or close(); return them.

        Raises HubClosedError once the hub is closed and the subscriber has read everything (so the
        last events, instance_stopping among them, still reach it).
        """
        with self._changed:
            if self._next_id - 1 <= after and not self._closed:
                self._changed.wait(timeout_s)
            backlog = self._backlog(after)
            if self._closed and not backlog.events:
                raise HubClosedError
            return backlog

    def close(self) -> None:
        """Stop: every waiting subscriber wakes up and ends its stream."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
