"""GET /events: the hub's events as Server-Sent Events, with resume, lag signal and keep-alive.

A client resumes with `Last-Event-ID` (the header browsers send on reconnect, or the
`last_event_id` query parameter): it first gets what it missed from the ring buffer, or a
`lagged` event saying how many events it lost when the ring no longer holds them. A comment
line every keep-alive interval keeps proxies from closing an idle stream and lets the server
notice a client that went away. The stream ends as soon as the hub closes, so shutdown is not
held up by open streams. Each stream holds one server thread: the hub caps their number.
Must not: buffer per client (the hub's ring is shared), or block without a timeout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

from mnemosyne.api.events import Backlog, EventHub, HubClosedError, HubFullError
from mnemosyne.api.responses import json_response
from mnemosyne.coord.registry import utc_timestamp

RETRY_MS = 2000
RETRY_AFTER_S = 5
MAX_WRITE_BYTES = 64 * 1024

StartResponse = Callable[..., Any]


def requested_resume(environ: dict[str, Any]) -> int | None:
    """Return the Last-Event-ID the client sent (header, else query), or None.

    Raises ValueError if it is not a whole number.
    """
    raw = environ.get("HTTP_LAST_EVENT_ID")
    if raw is None:
        values = parse_qs(environ.get("QUERY_STRING", "")).get("last_event_id")
        raw = values[-1] if values else None
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    if not text.isdigit() or len(text) > 18:
        raise ValueError(f"Last-Event-ID {raw[:40]!r} is not an event id")
    return int(text)


def lagged_frame(hub: EventHub, backlog: Backlog) -> bytes:
    """Return the `lagged` frame for a gap (no `id:` line: it is not one of the hub's events)."""
    oldest = backlog.events[0][0].id if backlog.events else None
    envelope = {"id": None, "type": "lagged", "instance_id": hub.instance_id,
                "timestamp": utc_timestamp(hub.clock()),
                "data": {"missed": backlog.missed, "reason": backlog.reason,
                         "oldest_id": oldest}}
    body = json.dumps(envelope, separators=(",", ":"))
    return f"event: lagged\ndata: {body}\n\n".encode()


class EventStream:
    """The WSGI application behind GET /events."""

    def __init__(self, hub: EventHub, keepalive_s: float) -> None:
        self.hub = hub
        self.keepalive_s = keepalive_s

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        """Answer one /events request: 200 and a stream, or a JSON error."""
        if environ.get("REQUEST_METHOD") != "GET":
            return json_response(start_response, 405, {"error": "use GET for /events"},
                                 [("Allow", "GET")])
        try:
            resume = requested_resume(environ)
        except ValueError as error:
            return json_response(start_response, 400, {"error": str(error)})
        try:
            self.hub.subscribe()
        except HubFullError:
            return json_response(
                start_response, 503,
                {"error": f"too many event subscribers (limit {self.hub.max_subscribers})"},
                [("Retry-After", str(RETRY_AFTER_S))])
        except HubClosedError:
            return json_response(start_response, 503, {"error": "the instance is stopping"},
                                 [("Retry-After", str(RETRY_AFTER_S))])
        # Connection: close - a stream is the connection's last response anyway, and the
        # server then closes it instead of handing it back to a selector that may be stopping.
        start_response("200 OK", [("Content-Type", "text/event-stream; charset=utf-8"),
                                  ("Cache-Control", "no-cache"),
                                  ("Connection", "close"),
                                  ("X-Accel-Buffering", "no")])
        return Subscription(self.hub, resume, self.keepalive_s)


class Subscription:
    """One open stream: an iterable of byte chunks whose close() always unsubscribes."""

    def __init__(self, hub: EventHub, resume: int | None, keepalive_s: float) -> None:
        self.hub = hub
        self.keepalive_s = keepalive_s
        self.backlog = hub.backlog(resume)
        self.cursor = hub.last_id if resume is None else resume
        self._open = True

    def __iter__(self) -> Iterator[bytes]:
        """Yield the greeting, the backlog, then events as they come, until the hub closes."""
        yield f"retry: {RETRY_MS}\n: connected to {self.hub.instance_id}\n\n".encode()
        backlog = self.backlog
        while self._open:
            if backlog.reason is not None:
                yield lagged_frame(self.hub, backlog)
            yield from self._chunks(backlog)
            try:
                backlog = self.hub.wait(self.cursor, self.keepalive_s)
            except HubClosedError:
                return
            if not backlog.events and backlog.reason is None:
                yield b": keepalive\n\n"

    def _chunks(self, backlog: Backlog) -> Iterator[bytes]:
        """Yield the backlog's frames joined into writes of at most ~64 KiB."""
        pending: list[bytes] = []
        size = 0
        for event, frame in backlog.events:
            pending.append(frame)
            size += len(frame)
            self.cursor = event.id
            if size >= MAX_WRITE_BYTES:
                yield b"".join(pending)
                pending, size = [], 0
        if pending:
            yield b"".join(pending)

    def close(self) -> None:
        """End the subscription (called by the server when the stream ends, however it ends)."""
        if self._open:
            self._open = False
            self.hub.unsubscribe()
