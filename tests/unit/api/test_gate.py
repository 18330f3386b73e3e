"""The request gate: judging buffered requests, its limits and caps, on a real server."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest

from mnemosyne.api.events import EventHub
from mnemosyne.api.gate import (
    LOG_LINES_PER_WINDOW,
    LOG_WINDOW_S,
    MAX_HEAD_BYTES,
    GateLimits,
    RateLimitedLog,
    Readiness,
    close_after_response,
    error_bytes,
    head_end,
    judge,
    take_close_request,
)
from mnemosyne.api.server import ApiServer
from tests.helpers import http_request

GET = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def post_head(*headers: str) -> bytes:
    lines = "".join(f"{header}\r\n" for header in headers)
    return f"POST /memories HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode("latin-1")


@pytest.mark.parametrize(("buffer", "readiness"), [
    (b"", Readiness.WAIT),
    (b"GET /health HTTP/1.1\r\nHost: 127", Readiness.WAIT),
    (GET, Readiness.COMPLETE),
    (b"\r\n" + GET, Readiness.COMPLETE),
    (b"GET / HTTP/1.0\n\n", Readiness.COMPLETE),
    (post_head("Content-Length: 2") + b"{}", Readiness.COMPLETE),
    (post_head("content-length: 2") + b"{", Readiness.WAIT),
    (post_head("Content-Length: 0"), Readiness.COMPLETE),
    (post_head("Transfer-Encoding: chunked") + b"2\r\n{}", Readiness.STREAMING),
    (post_head("Content-Length: 2", "Expect: 100-continue"), Readiness.STREAMING),
    (post_head("Content-Length: 100000"), Readiness.STREAMING),
])
def test_judge_waits_for_the_head_and_small_bodies(buffer, readiness):
    assert judge(buffer).readiness is readiness


@pytest.mark.parametrize(("headers", "fragment"), [
    (("Content-Length: -5",), "'-5' is not one non-negative whole number"),
    (("Content-Length: abc",), "'abc'"),
    (("Content-Length: \u00b2",), "is not one"),  # a digit to str.isdigit, not ASCII
    (("Content-Length: 1", "Content-Length: 2"), "'1, 2'"),
    (("Content-Length: 99999999999999999999",), "is not one"),
    (("Content-Length: 2", "Transfer-Encoding: chunked"), "both Content-Length"),
])
def test_judge_refuses_malformed_framing_headers(headers, fragment):
    verdict = judge(post_head(*headers))
    assert verdict.readiness is Readiness.REFUSE and verdict.status == 400
    assert fragment in verdict.message


def test_judge_refuses_a_head_over_the_limit():
    endless = b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES
    assert judge(endless).status == 431
    assert judge(endless + b"\r\n\r\n").status == 431
    assert judge(b"GET / HTTP/1.1\r\nX: aaaa", capacity=8).status == 431


def test_head_end_finds_the_blank_line():
    assert head_end(GET) == len(GET)
    assert head_end(b"\r\n\r\nGET / HTTP/1.1\r\n\r\nrest") == len(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n")
    assert head_end(b"GET / HTTP/1.1\r\n") == -1


def test_error_bytes_is_a_whole_json_response_that_closes():
    raw = error_bytes(503, "busy", [("Retry-After", "1")])
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert "Connection: close" in lines and "Retry-After: 1" in lines
    assert f"Content-Length: {len(body)}" in lines
    assert json.loads(body) == {"error": "busy", "status": 503}


def test_rate_limited_log_counts_what_it_leaves_out(caplog):
    now = [100.0]
    log = RateLimitedLog(clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="mnemosyne.api.gate"):
        logged = [log.info("refused %d", number) for number in range(LOG_LINES_PER_WINDOW + 3)]
        assert logged == [True] * LOG_LINES_PER_WINDOW + [False] * 3
        now[0] += LOG_WINDOW_S
        assert log.info("refused again")
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == LOG_LINES_PER_WINDOW + 2
    assert messages[-2] == "3 more refused connections or requests were not logged"
    assert messages[-1] == "refused again"


def echo_body(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def gated():
    """Start gated servers with the given limits; all are stopped at teardown."""
    servers = []

    def start(**limits):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        server = ApiServer(sock, echo_body, EventHub("a1b2c3d4", 10, 4), GateLimits(**limits))
        server.start()
        servers.append(server)
        return server, sock.getsockname()[1]

    yield start
    for server in servers:
        server.stop()


def connect(port: int, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    return sock


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket) -> bytes:
    """Read one response with a Content-Length from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def test_a_request_sent_in_pieces_is_served_once_complete(gated):
    _, port = gated()
    with connect(port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n") as sock:
        time.sleep(0.05)
        sock.sendall(b"Content-Length: 5\r\nConnection: close\r\n\r\nhel")
        time.sleep(0.05)
        sock.sendall(b"lo")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\nhello")


def test_kept_alive_connections_serve_request_after_request(gated):
    _, port = gated()
    with connect(port) as sock:
        for index in range(3):
            sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\n")
            time.sleep(0.02)  # the next request arrives in two pieces
            sock.sendall(str(index).encode())
            answer = read_response(sock)
            assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(str(index).encode())


def test_silent_and_slow_heads_are_closed_at_the_header_deadline(gated, caplog):
    server, port = gated(header_timeout_s=0.3)
    with caplog.at_level(logging.INFO, logger="mnemosyne.api.gate"):
        silent = connect(port)
        slow = connect(port, b"GET /health HTTP/1.1\r\n")
        started = time.monotonic()
        assert read_all(silent) == b""
        answer = read_all(slow)
        elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 2, elapsed
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["status"] == 408
    assert "sent nothing within 0.3 s" in caplog.text and "(408)" in caplog.text
    silent.close()
    slow.close()
    assert server.server.gate.open_connections() == 0


def test_a_late_body_is_cut_off_at_the_body_deadline(gated):
    _, port = gated(body_timeout_s=0.3)
    big = 100_000  # over the read buffer: the worker reads it, watched by the gate
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {big}\r\n\r\n"
    with connect(port, head.encode()
                 + b"x" * 10) as sock:
        started = time.monotonic()
        answer = read_all(sock)
        assert 0.25 < time.monotonic() - started < 3  # not the 10 s socket timeout
    # the echo application gets a short body; the point is that the thread was let go
    assert answer.startswith(b"HTTP/1.1 200 OK") or answer == b""


def test_over_the_client_cap_the_oldest_waiting_connection_is_closed(gated):
    server, port = gated(max_connections=4)  # two per client address
    first = connect(port, b"GET / HTTP/1.1\r\n")
    second = connect(port, b"GET / HTTP/1.1\r\n")
    time.sleep(0.1)
    with connect(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n") as third:
        assert read_all(third).startswith(b"HTTP/1.1 200 OK")
    assert read_all(first) == b""  # evicted
    second.settimeout(0.2)
    with pytest.raises(TimeoutError):
        second.recv(1)  # still waiting
    second.close()
    first.close()
    assert http_request(f"http://127.0.0.1:{port}/").status == 200
    assert server.server.gate.open_connections() <= 1


def test_a_malformed_content_length_is_refused_before_any_thread(gated):
    _, port = gated()
    with connect(port, post_head("Content-Length: -1")) as sock:
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request")
    assert "not one non-negative whole number" in json.loads(
        answer.partition(b"\r\n\r\n")[2])["error"]


def test_stop_closes_waiting_connections_at_once(gated):
    server, port = gated()
    waiting = [connect(port, b"GET / HT") for _ in range(20)]
    time.sleep(0.1)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 1
    for sock in waiting:
        assert read_all(sock) == b""
        sock.close()


def test_close_after_response_is_per_thread_and_taken_once():
    assert take_close_request() is False
    close_after_response()
    other = []
    thread = threading.Thread(target=lambda: other.append(take_close_request()))
    thread.start()
    thread.join()
    assert other == [False]
    assert take_close_request() is True
    assert take_close_request() is False


def closing_app(environ, start_response):
    environ["wsgi.input"].read(1)
    close_after_response()
    start_response("400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"no"]


def test_a_connection_is_closed_after_a_response_when_asked(gated):
    server, port = gated()
    server.server.wsgi_app = closing_app
    with connect(port, post_head("Content-Length: 3") + b"abcGET / HTTP/1.1\r\n\r\n") as sock:
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request") and answer.count(b"HTTP/1.1") == 1
    assert b"Connection: close" in answer


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_a_kept_alive_connection_the_client_closes_is_no_longer_counted(gated):
    server, port = gated()
    with connect(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as sock:
        assert read_response(sock).startswith(b"HTTP/1.1 200 OK")
        assert server.server.gate.open_connections() == 1
    assert wait_until(lambda: server.server.gate.open_connections() == 0)


def test_over_the_cap_with_nothing_waiting_the_new_connection_gets_503(gated):
    server, port = gated(max_connections=2)  # one per client address
    with connect(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as busy:
        assert read_response(busy).startswith(b"HTTP/1.1 200 OK")  # kept alive, idle
        with connect(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n") as refused:
            answer = read_all(refused)
        assert answer.startswith(b"HTTP/1.1 503 Service Unavailable")
        assert b"Retry-After: 1" in answer
        busy.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(busy).startswith(b"HTTP/1.1 200 OK")
    assert wait_until(lambda: server.server.gate.open_connections() == 0)
