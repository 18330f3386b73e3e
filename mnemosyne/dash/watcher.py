"""Follow one instance: its event stream (resumed after every drop) and its health.

The stream thread reconnects with exponential backoff and jitter (0.5 s doubling to 10 s),
sending the last event id it saw so the instance replays what was missed, or says how much it
cannot (`lagged`). While it cannot connect, the watcher says so, why, and when it retries. A
second thread asks /health every couple of seconds.
Must not: draw anything, or touch another instance's state.
"""

from __future__ import annotations

import dataclasses
import http.client
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from mnemosyne.dash.sse_client import Stream, get_json, open_stream, parse_events

logger = logging.getLogger(__name__)

FIRST_RETRY_S = 0.5
MAX_RETRY_S = 10.0
HEALTH_EVERY_S = 2.0
READ_TIMEOUT_S = 40.0  # > the server's 15 s keep-alive: silence this long means it is gone
REQUEST_TIMEOUT_S = 2.0


def retry_delay(attempt: int, rand: Callable[[], float] = random.random) -> float:
    """Return the wait before reconnect *attempt* (1, 2, ...): doubling, capped, +-20 %."""
    base = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** (attempt - 1))
    return base * (0.8 + 0.4 * rand())


@dataclasses.dataclass
class WatcherStatus:
    """What the dashboard shows about one instance's connection."""

    url: str
    connected: bool = False
    health: dict[str, Any] | None = None
    problem: str | None = None
    retry_at: float | None = None  # monotonic time of the next reconnect attempt
    last_event_id: str | None = None
    reconnects: int = 0


class InstanceWatcher:
    """Background threads following one instance; events go to *on_event*."""

    def __init__(self, url: str, on_event: Callable[[str, dict[str, Any]], None],
                 token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.on_event = on_event
        self.token = token
        self.status = WatcherStatus(self.url)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._response: Stream | None = None
        self._threads = [threading.Thread(target=self._follow_stream, daemon=True,
                                          name=f"dash-events {self.url}"),
                         threading.Thread(target=self._follow_health, daemon=True,
                                          name=f"dash-health {self.url}")]

    def start(self) -> None:
        """Start following."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop following and close the stream."""
        self._stop.set()
        with self._lock:
            if self._response is not None:
                self._response.interrupt()

    def _follow_stream(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                response = open_stream(self.url, self.status.last_event_id, READ_TIMEOUT_S,
                                       self.token)
            except (OSError, http.client.HTTPException) as error:
                attempt += 1
                self._wait_to_retry(attempt, describe_failure(error))
                continue
            with self._lock:
                self._response = response
            if attempt:
                self.status.reconnects += 1
            attempt = 0
            self.status.connected, self.status.problem, self.status.retry_at = True, None, None
            try:
                self._read(response)
                reason = "the instance closed the stream"
            except (OSError, http.client.HTTPException) as error:
                reason = describe_failure(error)
            finally:
                response.close()
            self.status.connected = False
            if not self._stop.is_set():
                attempt += 1
                self._wait_to_retry(attempt, reason)

    def _read(self, response: Stream) -> None:
        for event in parse_events(iter(response.readline, b"")):
            if self._stop.is_set():
                return
            try:
                envelope = event.envelope()
            except ValueError:
                continue
            if event.id is not None:
                self.status.last_event_id = event.id
            self.on_event(self.url, envelope)

    def _wait_to_retry(self, attempt: int, reason: str) -> None:
        delay = retry_delay(attempt)
        self.status.connected = False
        self.status.health = None  # the health thread confirms within HEALTH_EVERY_S
        self.status.problem = reason
        self.status.retry_at = time.monotonic() + delay
        self._stop.wait(delay)

    def _follow_health(self) -> None:
        while not self._stop.is_set():
            self.status.health = self.fetch_health()
            self._stop.wait(HEALTH_EVERY_S)

    def fetch_health(self) -> dict[str, Any] | None:
        """Return the instance's /health document, or None if it does not answer."""
        return fetch_health(self.url, self.token)


def fetch_health(url: str, token: str | None) -> dict[str, Any] | None:
    """Return an instance's /health document, or None if it does not answer."""
    try:
        health = get_json(url, "/health", REQUEST_TIMEOUT_S, token)
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return health if isinstance(health, dict) else None


def describe_failure(error: BaseException) -> str:
    """Return a short reason for a failed connection."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (instance down?)"
    if isinstance(error, TimeoutError):
        return "timed out"
    if isinstance(error, ConnectionError) and str(error).startswith("HTTP "):
        return str(error)
    return str(error) or type(error).__name__
