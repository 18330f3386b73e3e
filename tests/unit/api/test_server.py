"""The cheroot server on a handed socket: serves it, and stops promptly with open streams."""

from __future__ import annotations

import logging
import socket
import threading

from mnemosyne.api.events import EventHub
from mnemosyne.api.gate import PREREAD_BYTES
from mnemosyne.api.server import ApiServer
from mnemosyne.api.sse import EventStream
from tests.helpers import SseClient, http_request


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def make_server(app=hello, max_subscribers=4):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    hub = EventHub("a1b2c3d4", 10, max_subscribers)
    return ApiServer(sock, app, hub), sock.getsockname()[1]


def test_serves_the_handed_socket():
    server, port = make_server()
    server.start()
    try:
        assert server.port == port
        assert http_request(f"http://127.0.0.1:{port}/").body == b"hello"
    finally:
        server.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # closed after stop


def test_stop_without_start_closes_the_socket():
    server, port = make_server()
    server.stop()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_pool_is_larger_than_the_subscriber_cap():
    server, _ = make_server(max_subscribers=50)
    assert server.server.requests.min > 50
    server.stop()


def test_stop_ends_open_streams():
    hub_holder = {}

    def app(environ, start_response):
        return hub_holder["stream"](environ, start_response)

    server, port = make_server(app, max_subscribers=20)
    hub_holder["stream"] = EventStream(server.hub, keepalive_s=60)
    server.start()
    clients = [SseClient(f"http://127.0.0.1:{port}/events") for _ in range(20)]
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    for client in clients:
        assert client.next_event() is None
        client.close()
    stopper.join(10)
    assert not stopper.is_alive()


def test_cheroot_errors_are_logged_on_one_line_without_traceback(caplog):
    server, _ = make_server()
    try:
        with caplog.at_level(logging.INFO, logger="mnemosyne.api.server"):
            try:
                raise ValueError("bad\nrequest")
            except ValueError as error:
                server.server.error_log(repr(error), logging.ERROR, traceback=True)
        (record,) = caplog.records
        assert record.getMessage() == "http server: ValueError('bad\\nrequest')"
        assert not record.exc_info
    finally:
        server.stop()


def test_cheroot_connections_offer_what_the_gate_relies_on():
    """The gate reads through the connection's buffered reader: peek, has_data, buffer_size
    (cheroot's StreamReader on _pyio, in cheroot 9 on Debian 12 as in cheroot 11)."""
    server, _ = make_server()
    left, right = socket.socketpair()
    try:
        conn = server.server.ConnectionClass(server.server, left)
        assert conn.rfile.buffer_size == PREREAD_BYTES and not conn.rfile.has_data()
        right.sendall(b"GET / HTTP/1.1\r\n")
        assert conn.rfile.peek(PREREAD_BYTES) == b"GET / HTTP/1.1\r\n"
        assert conn.rfile.has_data() and conn.rfile.readline() == b"GET / HTTP/1.1\r\n"
        assert conn.RequestHandlerClass(server.server, conn).close_connection is False
        conn.close()
    finally:
        right.close()
        server.stop()
