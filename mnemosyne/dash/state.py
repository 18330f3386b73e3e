"""What the dashboard knows: the instances it watches and the events they sent, merged.

Events from every watched instance go into one bounded list in arrival order, each with the
instance it came from. The filter shows one event type, or every type but heartbeats (which
arrive every two seconds per instance and would drown the rest) unless asked for.
Must not: do I/O.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from typing import Any

MAX_EVENTS = 1000


@dataclasses.dataclass(frozen=True)
class EventRow:
    """One received event, as the dashboard lists it."""

    source: str  # the instance URL it came from
    envelope: dict[str, Any]

    @property
    def type(self) -> str:
        """Return the event type."""
        return str(self.envelope.get("type", "?"))

    def summary(self) -> str:
        """Return a one-line description of the payload."""
        return summarize(self.type, self.envelope.get("data") or {})


def summarize(event_type: str, data: dict[str, Any]) -> str:
    """Return the interesting part of an event's payload as one line."""
    if event_type.startswith("memory_") and event_type != "memory_recalled":
        preview = data.get("preview") or ""
        return f"{data.get('namespace')} {str(data.get('memory_id'))[:8]} {preview}".strip()
    if event_type == "memory_recalled":
        return f"{data.get('query')!r} -> {data.get('results')} result(s)"
    if event_type == "message_received":
        return f"{data.get('message_type')} from {data.get('from_agent')}"
    if event_type in ("peer_joined", "peer_left"):
        return str(data.get("peer_id"))
    if event_type.startswith("task_"):
        return f"{data.get('plan')}/{data.get('task')} {data.get('state') or 'running'} " \
            f"on {data.get('worker')}"
    if event_type == "lagged":
        missed = data.get("missed")
        count = "an unknown number of" if missed is None else str(missed)
        return f"missed {count} event(s) ({data.get('reason')})"
    if event_type == "heartbeat":
        return f"uptime {data.get('uptime_s')} s, {data.get('peers')} peer(s)"
    return ", ".join(f"{key}={value}" for key, value in data.items())


@dataclasses.dataclass
class EventFilter:
    """Which events are listed."""

    event_type: str | None = None
    show_heartbeats: bool = False

    def shows(self, row: EventRow) -> bool:
        """Return True if *row* is listed."""
        if self.event_type is not None:
            return row.type == self.event_type
        return self.show_heartbeats or row.type != "heartbeat"

    def describe(self) -> str:
        """Return the filter in words, for the panel title."""
        shown = self.event_type or "all types"
        if self.event_type is None and not self.show_heartbeats:
            shown += ", heartbeats hidden"
        return shown


class DashboardState:
    """Events from every watched instance; safe to fill from watcher threads."""

    def __init__(self, initial_filter: EventFilter | None = None) -> None:
        self.filter = initial_filter or EventFilter()
        self._events: collections.deque[EventRow] = collections.deque(maxlen=MAX_EVENTS)
        self._types: list[str] = []
        self._lock = threading.Lock()

    def add(self, source: str, envelope: dict[str, Any]) -> None:
        """Record one event from *source*."""
        row = EventRow(source, envelope)
        with self._lock:
            self._events.append(row)
            if row.type not in self._types:
                self._types.append(row.type)

    def visible(self, limit: int | None = None) -> list[EventRow]:
        """Return the listed events, newest first."""
        with self._lock:
            rows = [row for row in reversed(self._events) if self.filter.shows(row)]
        return rows if limit is None else rows[:limit]

    def cycle_type(self) -> None:
        """Show the next event type seen so far (after the last one: all types again)."""
        with self._lock:
            types = sorted(self._types)
        current = self.filter.event_type
        if current is None:
            self.filter.event_type = types[0] if types else None
        elif current in types and types.index(current) + 1 < len(types):
            self.filter.event_type = types[types.index(current) + 1]
        else:
            self.filter.event_type = None

    def toggle_heartbeats(self) -> None:
        """Show or hide heartbeats."""
        self.filter.show_heartbeats = not self.filter.show_heartbeats
