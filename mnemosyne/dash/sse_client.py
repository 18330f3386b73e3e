"""A small Server-Sent Events client on http.client: parse frames from a response.

Follows the WHATWG parsing rules the dashboards need: `event`, `id` and `data` fields (data
lines joined with newlines), comments ignored, a blank line ends an event.
Must not: reconnect (watcher.py decides when and how).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any


@dataclasses.dataclass(frozen=True)
class ServerEvent:
    """One event as received."""

    event: str
    id: str | None
    data: str

    def envelope(self) -> dict[str, Any]:
        """Return the JSON envelope the data line carries. Raises ValueError if it is not."""
        value = json.loads(self.data)
        if not isinstance(value, dict):
            raise ValueError("event data is not a JSON object")
        return value


def parse_events(lines: Iterator[bytes]) -> Iterator[ServerEvent]:
    """Yield the events in a stream of raw lines (each ending in a newline)."""
    fields: dict[str, list[str]] = {}
    for raw in lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if "data" in fields:
                yield ServerEvent(fields.get("event", ["message"])[-1],
                                  fields.get("id", [None])[-1], "\n".join(fields["data"]))
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))


class Stream:
    """An open /events response, with the connection it came on (closed together)."""

    def __init__(self, connection: http.client.HTTPConnection,
                 response: http.client.HTTPResponse, sock: socket.socket) -> None:
        self.connection = connection
        self.response = response
        # Kept apart: for a "Connection: close" answer http.client hands the socket to the
        # response and forgets it (connection.sock becomes None).
        self.sock = sock

    def readline(self) -> bytes:
        """Return the next raw line (b'' at the end of the stream)."""
        return self.response.readline()

    def interrupt(self) -> None:
        """End the stream from another thread: the reader sees its end, then closes it."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the response and its connection (from the reading thread)."""
        self.response.close()
        self.connection.close()
        self.sock.close()


def open_stream(base_url: str, last_event_id: str | None, timeout_s: float,
                token: str | None = None) -> Stream:
    """Open GET /events; return the stream. Raises OSError or http.client.HTTPException.

    A non-200 answer raises ConnectionError carrying its status and error text.
    """
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request("GET", "/events", headers=headers)
    sock = connection.sock
    response = connection.getresponse()
    if response.status != 200:
        body = response.read(2048)
        connection.close()
        try:
            message = json.loads(body).get("error", "")
        except (ValueError, AttributeError):
            message = body.decode(errors="replace")[:200]
        raise ConnectionError(f"HTTP {response.status}: {message}")
    assert sock is not None  # request() connected it
    return Stream(connection, response, sock)


def get_json(base_url: str, path: str, timeout_s: float, token: str | None = None,
             method: str = "GET") -> Any:
    """GET (or *method*) a JSON document. Raises OSError, ValueError or HTTPException."""
    parts = urllib.parse.urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        if response.status not in (200, 201, 503):  # a degraded /health has its document
            raise ConnectionError(f"HTTP {response.status} from {path}")
        return json.loads(body)
    finally:
        connection.close()
