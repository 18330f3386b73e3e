"""The request gate: a connection reaches a server thread only once its request has arrived.

cheroot hands a connection to a worker thread as soon as it is readable, and the worker then
blocks reading the request line and headers, one socket timeout per byte: a hundred clients
trickling their headers held every thread. The gate reads instead, in one thread of its own and
never blocking: new connections, and kept-alive ones whose next request is not all there yet,
wait in its selector until the request head (and a body of up to PREREAD_BYTES) is buffered,
then go to the pool. Reading goes through the connection's own buffered reader (`peek`), so
cheroot parses exactly the bytes it would have read itself.

Limits: a request head must arrive within `header_timeout_s` of the connection becoming ready
for it (else 408 and close) and be at most MAX_HEAD_BYTES (else 431); the rest of a larger body
must arrive within `body_timeout_s` of the dispatch (else the read side is shut down and the
request fails with 400), and at most MAX_STREAMING such requests are in the pool at once (503
beyond). One client address holds at most half of `max_connections` open connections, all
clients together at most `max_connections`: over a cap the client's oldest connection still
waiting for its request is closed, else the new one is refused with 503. A malformed framing
header (Content-Length that is not one whole number, or both Content-Length and
Transfer-Encoding) is answered 400 here. Each refusal is one log line, rate-limited.
Must not: parse more than the framing headers (cheroot does), or touch cheroot's selector.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import enum
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from mnemosyne.api.responses import rendered

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 * 1024
PREREAD_BYTES = 64 * 1024  # the connection's read buffer: head plus a small body
MAX_STREAMING = 8
RETRY_AFTER_S = 1
LOG_WINDOW_S = 10.0
LOG_LINES_PER_WINDOW = 5
STOP_JOIN_S = 1.0


@dataclasses.dataclass(frozen=True)
class GateLimits:
    """How long a request may take to arrive, and how many connections may be open."""

    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 512

    @property
    def max_per_client(self) -> int:
        """Return how many open connections one client address may hold."""
        return max(1, self.max_connections // 2)


class Readiness(enum.Enum):
    """What the gate does with a connection, judged from the bytes buffered so far."""

    WAIT = "wait"              # the request head (or a small body) is still arriving
    COMPLETE = "complete"      # the whole request is buffered: a worker never waits on it
    STREAMING = "streaming"    # the head is buffered, the worker reads the rest (watched)
    REFUSE = "refuse"          # answer an error and close


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A readiness, with the status and message when the request is refused."""

    readiness: Readiness
    status: int = 0
    message: str = ""


WAIT = Verdict(Readiness.WAIT)
COMPLETE = Verdict(Readiness.COMPLETE)
STREAMING = Verdict(Readiness.STREAMING)


def head_end(buffer: bytes) -> int:
    """Return the offset just past the blank line ending the request head, or -1."""
    start = 0
    while buffer.startswith(b"\r\n", start):  # empty lines before a request are allowed
        start += 2
    crlf = buffer.find(b"\r\n\r\n", start)
    bare = buffer.find(b"\n\n", start)  # cheroot refuses bare LF heads; they end here too
    if bare >= 0 and (crlf < 0 or bare + 2 < crlf + 4):
        return bare + 2
    return crlf + 4 if crlf >= 0 else -1


FRAMING_HEADERS = (b"content-length", b"transfer-encoding", b"expect")


def judge(buffer: bytes, capacity: int = PREREAD_BYTES) -> Verdict:
    """Return what to do with a connection whose read buffer holds *buffer*.

    *capacity* is how much the buffer can hold: a request that does not fit is STREAMING.
    """
    end = head_end(buffer)
    if end < 0:
        if len(buffer) >= min(MAX_HEAD_BYTES, capacity):
            return Verdict(Readiness.REFUSE, 431, f"request head is over {MAX_HEAD_BYTES} bytes")
        return WAIT
    if end > MAX_HEAD_BYTES:
        return Verdict(Readiness.REFUSE, 431, f"request head is over {MAX_HEAD_BYTES} bytes")
    head = buffer[:end].lower()
    if not any(name in head for name in FRAMING_HEADERS):
        return COMPLETE  # the common case, a request without a body: no need to parse
    lengths: list[str] = []
    chunked = expects_continue = False
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            continue
        key = name.strip()
        if key == b"content-length":
            lengths.append(value.strip().decode("latin-1"))
        elif key == b"transfer-encoding":
            chunked = True
        elif key == b"expect":
            expects_continue = b"100-continue" in value
    if lengths and (len(set(lengths)) > 1 or not lengths[0].isdigit()
                    or not lengths[0].isascii() or len(lengths[0]) > 18):
        shown = ", ".join(lengths)[:40]
        return Verdict(Readiness.REFUSE, 400,
                       f"Content-Length {shown!r} is not one non-negative whole number")
    if lengths and chunked:
        return Verdict(Readiness.REFUSE, 400,
                       "a request may not have both Content-Length and Transfer-Encoding")
    length = int(lengths[0]) if lengths else 0
    if chunked or expects_continue or end + length > capacity:
        return STREAMING
    return COMPLETE if len(buffer) - end >= length else WAIT


def error_bytes(status: int, message: str, headers: list[tuple[str, str]] | None = None,
                ) -> bytes:
    """Return a whole HTTP/1.1 JSON error response that closes the connection."""
    status_line, all_headers, data = rendered(status, {"error": message},
                                              [("Connection", "close"), *(headers or [])])
    head = "".join(f"{name}: {value}\r\n" for name, value in all_headers)
    return f"HTTP/1.1 {status_line}\r\n{head}\r\n".encode("latin-1") + data


_request_state = threading.local()


def close_after_response() -> None:
    """Have the connection of the request this thread serves closed after its response.

    For a request whose body could not be read to its end: what follows on the connection is
    not the start of a request, and must not be parsed as one.
    """
    _request_state.close = True


def take_close_request() -> bool:
    """Return whether close_after_response() was called for this thread's request; reset it."""
    wanted = getattr(_request_state, "close", False)
    _request_state.close = False
    return wanted


class RateLimitedLog:
    """Log at most LOG_LINES_PER_WINDOW lines per LOG_WINDOW_S; count and report the rest."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.window_start = -LOG_WINDOW_S
        self.lines = 0
        self.suppressed = 0
        self.lock = threading.Lock()

    def info(self, message: str, *args: Any) -> bool:
        """Log one INFO line unless over the rate; return True if it was logged."""
        with self.lock:
            now = self.clock()
            if now - self.window_start >= LOG_WINDOW_S:
                if self.suppressed:
                    logger.info("%d more refused connections or requests were not logged",
                                self.suppressed)
                self.window_start, self.lines, self.suppressed = now, 0, 0
            if self.lines >= LOG_LINES_PER_WINDOW:
                self.suppressed += 1
                return False
            self.lines += 1
        logger.info(message, *args)
        return True


def peer_of(conn: Any) -> str:
    """Return the client address of a cheroot connection (its IP, or '' for none)."""
    return str(getattr(conn, "remote_addr", "") or "")


def buffered(conn: Any) -> bytes:
    """Return what the connection's reader has buffered, without reading the socket."""
    return conn.rfile.peek(1) if conn.rfile.has_data() else b""


class RequestGate:
    """Hold connections until their request has arrived, then *dispatch* them to the pool."""

    def __init__(self, dispatch: Callable[[Any], None], limits: GateLimits,
                 socket_timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.dispatch = dispatch
        self.limits = limits
        self.socket_timeout = socket_timeout
        self.clock = clock
        self.log = RateLimitedLog(clock)
        self.lock = threading.RLock()
        self.incoming: collections.deque[Any] = collections.deque()
        self.open_by_client: collections.Counter[str] = collections.Counter()
        self.streaming: dict[Any, float] = {}  # dispatched before the body arrived: deadline
        self.stopped = False
        self._waker, self._wake_target = socket.socketpair()
        self._waker.setblocking(False)
        self._wake_target.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_target, selectors.EVENT_READ, None)
        self._waiting: dict[Any, float] = {}  # gate thread only: connection -> deadline
        self._thread = threading.Thread(target=self._run, name="api-request-gate", daemon=True)

    # -- any thread -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the gate's thread."""
        self._thread.start()

    def admit(self, conn: Any) -> None:
        """Take a connection that is new or readable; dispatch it now if its request is here.

        Called by cheroot's selector thread (a new or readable connection) and by a worker
        (a kept-alive connection with bytes already buffered).
        """
        if getattr(conn, "gate_counted", False) and not self.stopped:
            if not conn.rfile.has_data():
                # From cheroot's selector, so readable: this read returns at once.
                try:
                    if not conn.rfile.peek(PREREAD_BYTES):
                        conn.close()  # readable with nothing to read: the client closed
                        return
                except OSError:
                    conn.close()
                    return
            if judge(buffered(conn), conn.rfile.buffer_size).readiness is Readiness.COMPLETE:
                self.dispatch(conn)
                return
        with self.lock:
            if self.stopped:
                conn.close()
                return
            self.incoming.append(conn)
        try:
            self._waker.send(b"\0")
        except BlockingIOError:
            pass  # the gate already has wake-ups pending
        except OSError:
            conn.close()  # stopped meanwhile

    def returned(self, conn: Any) -> None:
        """Note that a worker finished a request on *conn* and keeps it alive."""
        with self.lock:
            self.streaming.pop(conn, None)

    def forget(self, conn: Any) -> None:
        """Note that *conn* is being closed (idempotent)."""
        with self.lock:
            self.streaming.pop(conn, None)
            if getattr(conn, "gate_counted", False):
                conn.gate_counted = False
                client = peer_of(conn)
                self.open_by_client[client] -= 1
                if self.open_by_client[client] <= 0:
                    del self.open_by_client[client]

    def open_connections(self) -> int:
        """Return how many connections the gate counts as open."""
        with self.lock:
            return sum(self.open_by_client.values())

    def stop(self) -> None:
        """Stop the gate thread and close every connection still waiting for its request."""
        with self.lock:
            self.stopped = True
        with contextlib.suppress(OSError):
            self._waker.send(b"\0")
        if self._thread.is_alive():
            self._thread.join(STOP_JOIN_S)
        if not self._thread.is_alive():
            self._close_all()
            self._close_plumbing()

    # -- the gate thread --------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self.stopped:
                try:
                    self._turn()
                except Exception:  # a bug here must not stop the API: log it, go on
                    logger.exception("request gate: unexpected error")
                    time.sleep(0.05)
        finally:
            self._close_all()
            self._close_plumbing()

    def _turn(self) -> None:
        now = self.clock()
        deadlines = [deadline for deadline in (next(iter(self._waiting.values()), None),
                                               self._next_streaming_deadline()) if deadline]
        timeout = max(0.0, min(deadlines) - now) if deadlines else None
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._take_incoming()
            elif key.data in self._waiting:
                self._read(key.data)
        self._expire(self.clock())

    def _next_streaming_deadline(self) -> float | None:
        with self.lock:
            return next(iter(self.streaming.values()), None)

    def _take_incoming(self) -> None:
        try:
            while self._wake_target.recv(4096):
                pass
        except BlockingIOError:
            pass
        while True:
            with self.lock:
                if not self.incoming:
                    return
                conn = self.incoming.popleft()
            if not getattr(conn, "gate_counted", False) and not self._count(conn):
                continue
            self._consider(conn)

    def _count(self, conn: Any) -> bool:
        """Count a new connection against the caps; return False if it was refused."""
        client = peer_of(conn)
        with self.lock:
            over_client = self.open_by_client[client] >= self.limits.max_per_client
            over_total = sum(self.open_by_client.values()) >= self.limits.max_connections
        if over_client or over_total:
            victim = next((waiting for waiting in self._waiting
                           if over_total or peer_of(waiting) == client), None)
            if victim is None:
                what = f"client {client}" if over_client else "all clients"
                self.log.info("API refused a connection from %s: %s already hold the most "
                              "open connections allowed (%d)", client or "?", what,
                              self.limits.max_per_client if over_client
                              else self.limits.max_connections)
                self._refuse(conn, 503, "too many open connections; retry later",
                             [("Retry-After", str(RETRY_AFTER_S))])
                return False
            self.log.info("API closed the oldest connection waiting for a request from %s "
                          "to admit a new one (connection cap)", peer_of(victim) or "?")
            self._drop(victim)
        with self.lock:
            self.open_by_client[client] += 1
            conn.gate_counted = True
        return True

    def _consider(self, conn: Any) -> None:
        """Dispatch, refuse or (keep) waiting, from what *conn* has buffered."""
        verdict = judge(buffered(conn), conn.rfile.buffer_size)
        if verdict.readiness is Readiness.WAIT:
            if conn not in self._waiting:
                try:
                    conn.socket.settimeout(0)
                    self._selector.register(conn.socket, selectors.EVENT_READ, conn)
                except (OSError, ValueError, KeyError):
                    conn.close()
                    return
                self._waiting[conn] = self.clock() + self.limits.header_timeout_s
            return
        self._release(conn)
        if verdict.readiness is Readiness.REFUSE:
            self.log.info("API refused a request from %s: %s (%d)", peer_of(conn) or "?",
                          verdict.message, verdict.status)
            self._refuse(conn, verdict.status, verdict.message)
            return
        if verdict.readiness is Readiness.STREAMING:
            with self.lock:
                busy = len(self.streaming) >= MAX_STREAMING
                if not busy:
                    self.streaming[conn] = self.clock() + self.limits.body_timeout_s
            if busy:
                self.log.info("API refused a request from %s: %d request bodies are already "
                              "arriving (503)", peer_of(conn) or "?", MAX_STREAMING)
                self._refuse(conn, 503, "too many request bodies arriving at once; retry",
                             [("Retry-After", str(RETRY_AFTER_S))])
                return
        conn.socket.settimeout(self.socket_timeout)
        self.dispatch(conn)

    def _read(self, conn: Any) -> None:
        """Buffer what a waiting connection sent; close it if the client went away."""
        before = len(buffered(conn))
        try:
            grown = len(conn.rfile.peek(PREREAD_BYTES)) > before
            if not grown and conn.socket.recv(1, socket.MSG_PEEK) == b"":
                self._drop(conn)
                return
        except BlockingIOError:
            return
        except OSError:
            self._drop(conn)
            return
        self._consider(conn)

    def _release(self, conn: Any) -> None:
        """Take *conn* out of the waiting set (if it is there)."""
        if self._waiting.pop(conn, None) is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(conn.socket)

    def _drop(self, conn: Any) -> None:
        self._release(conn)
        conn.close()

    def _refuse(self, conn: Any, status: int, message: str,
                headers: list[tuple[str, str]] | None = None) -> None:
        """Send a short JSON error without blocking, then close."""
        self._release(conn)
        try:
            conn.socket.settimeout(0)
            conn.socket.send(error_bytes(status, message, headers))
        except OSError:
            pass
        conn.close()

    def _expire(self, now: float) -> None:
        """Close connections whose request head is late; cut off bodies that are late."""
        while self._waiting:
            conn, deadline = next(iter(self._waiting.items()))
            if deadline > now:
                break
            if buffered(conn):
                self.log.info("API closed a connection from %s: no complete request within "
                              "%g s (408)", peer_of(conn) or "?", self.limits.header_timeout_s)
                self._refuse(conn, 408, "the request did not arrive in time")
            else:
                self.log.info("API closed a connection from %s that sent nothing within %g s",
                              peer_of(conn) or "?", self.limits.header_timeout_s)
                self._drop(conn)
        with self.lock:
            late = [conn for conn, deadline in self.streaming.items() if deadline <= now]
            for conn in late:
                del self.streaming[conn]
                self.log.info("API cut off a request body from %s: not received within %g s",
                              peer_of(conn) or "?", self.limits.body_timeout_s)
                with contextlib.suppress(OSError):
                    conn.socket.shutdown(socket.SHUT_RD)  # the worker's read ends at once

    def _close_all(self) -> None:
        for conn in list(self._waiting):
            self._drop(conn)
        with self.lock:
            leftover = list(self.incoming)
            self.incoming.clear()
        for conn in leftover:
            conn.close()
        self._waiting.clear()

    def _close_plumbing(self) -> None:
        with self.lock:
            if self._selector.get_map() is None:
                return  # closed already
            self._selector.close()
            self._waker.close()
            self._wake_target.close()
