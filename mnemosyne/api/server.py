"""Run the API on cheroot (CherryPy's HTTP server) from a socket that is already listening.

The pool has one thread per allowed SSE subscriber plus spare threads, so a full house of
event streams never makes /health or the memory routes wait. A connection reaches the pool
only once its request has arrived (gate.py), so slow or silent clients hold no thread, and
the gate's deadlines and connection caps bound what they can hold at all. Stopping closes the
event hub first, which ends every open stream at once, then the gate, then the server: a
shutdown with 50 open streams, or 200 half-open connections, takes well under two seconds.
From cheroot it uses only what Debian 12's cheroot 9 and cheroot 11 share, and tests check:
the ConnectionClass/RequestHandlerClass/rbufsize attributes, process_conn, put_conn,
HTTPRequest.send_headers and close_connection, and the buffered reader's peek and has_data.
Must not: choose the port (ports.py does), or start CherryPy's engine.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi

from mnemosyne.api.events import EventHub
from mnemosyne.api.gate import PREREAD_BYTES, GateLimits, RequestGate, take_close_request

logger = logging.getLogger(__name__)

SPARE_THREADS = 16
CONNECTION_TIMEOUT_S = 10
SHUTDOWN_TIMEOUT_S = 1.5
KEEP_ALIVE_LIMIT = 64


class GatedRequest(cheroot_server.HTTPRequest):
    """A cheroot request that closes its connection when the application asked for that."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        take_close_request()  # nothing left over from an earlier request on this thread

    def send_headers(self) -> None:
        """Send the response head, with `Connection: close` if the body was not read whole."""
        if take_close_request():
            self.close_connection = True
        super().send_headers()


class GatedConnection(cheroot_server.HTTPConnection):
    """A cheroot connection that buffers a whole small request and reports its closing."""

    rbufsize = PREREAD_BYTES
    RequestHandlerClass = GatedRequest

    def close(self) -> None:
        """Close the connection and stop counting it."""
        gate = getattr(self.server, "gate", None)
        if gate is not None:
            gate.forget(self)
        super().close()


class HandedSocketServer(wsgi.Server):
    """A cheroot WSGI server that serves a socket bound elsewhere instead of binding one."""

    # How often idle keep-alive connections are checked for expiry (their timeout is 10 s): the
    # server's only periodic wake-up when idle. stop() wakes the loop itself.
    expiration_interval = 10.0
    ConnectionClass = GatedConnection

    def __init__(self, sock: socket.socket, app: Any, threads: int,
                 limits: GateLimits | None = None) -> None:
        host, port = sock.getsockname()[:2]
        super().__init__((host, port), app, numthreads=threads, server_name=host,
                         request_queue_size=128, timeout=CONNECTION_TIMEOUT_S,
                         shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        self.handed_socket = sock
        limits = limits or GateLimits()
        self.gate = RequestGate(super().process_conn, limits, CONNECTION_TIMEOUT_S)
        # cheroot keeps at most this many idle connections alive (its default, 10, made a
        # client with 16 connections reconnect for every request). Idle ones cannot be closed
        # to make room, so they stay well under the gate's per-client cap.
        self.keep_alive_conn_limit = max(1, min(KEEP_ALIVE_LIMIT, limits.max_per_client // 2))

    def prepare(self) -> None:
        """Prepare cheroot, then start the gate connections pass through."""
        super().prepare()
        self.gate.start()

    def process_conn(self, conn: Any) -> None:
        """Hand a new or readable connection to the gate, which dispatches it when ready."""
        self.gate.admit(conn)

    def bind(self, family: int, type: int, proto: int = 0) -> socket.socket:
        """Adopt the handed socket (called by prepare() in place of binding a new one)."""
        del family, type, proto
        self.socket = self.handed_socket
        # As cheroot does for sockets it binds: accepted connections inherit TCP_NODELAY, so a
        # response written in two pieces is not held back by Nagle's algorithm.
        with contextlib.suppress(OSError):
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.bind_addr = self.handed_socket.getsockname()[:2]
        return self.socket

    def stop(self) -> None:
        """Stop without waiting out the selector's timeout: ask its loop to end, then wake it.

        cheroot's own stop() waits for the loop to notice, which takes up to
        expiration_interval; a connection to our own socket makes select() return now.
        """
        self.gate.stop()
        connections = getattr(self, "_connections", None)
        if self.ready and hasattr(connections, "_stop_requested"):
            connections._stop_requested = True  # the flag stop() sets
            with contextlib.suppress(OSError), \
                    socket.create_connection(self.bind_addr[:2], timeout=0.5):
                pass
        super().stop()

    def put_conn(self, conn: Any) -> None:
        """Return a keep-alive connection to the selector, or close it if stop() closed that.

        A request that finishes while stop() runs can find the selector already closed
        (cheroot checks `ready` first, but not atomically with stop()).
        """
        self.gate.returned(conn)
        try:
            super().put_conn(conn)
        except ValueError:
            conn.close()

    def error_log(self, msg: str = "", level: int = logging.INFO,
                  traceback: bool = False) -> None:
        """Send cheroot's complaints to our log, one line each (no client may flood it).

        The traceback of an unexpected error is logged only at debug level.
        """
        logger.log(level, "http server: %s", " ".join(str(msg).split())[:500],
                   exc_info=traceback and logger.isEnabledFor(logging.DEBUG))


class ApiServer:
    """The HTTP server of one instance, serving *app* in background threads."""

    def __init__(self, sock: socket.socket, app: Any, hub: EventHub,
                 limits: GateLimits | None = None) -> None:
        self.hub = hub
        self.server = HandedSocketServer(sock, app, hub.max_subscribers + SPARE_THREADS,
                                         limits)
        self.port: int = sock.getsockname()[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start serving (the socket already accepts connections)."""
        self.server.prepare()
        self._thread = threading.Thread(target=self.server.serve, name="api-server",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End open event streams, then stop accepting and wait for the workers."""
        self.hub.close()
        if self._thread is None:
            self.server.gate.stop()
            self.server.handed_socket.close()
            return
        self.server.stop()
        self._thread.join(timeout=SHUTDOWN_TIMEOUT_S)
        self._thread = None
