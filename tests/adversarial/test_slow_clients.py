"""Slowloris: hundreds of slow or silent connections must not starve /health or delay a stop.

Each test starts a real `serve --with-api` on a port of its own (127.0.0.1:0), opens 200
connections from loopback (most trickle a partial request head one byte a second, the rest
connect and send nothing) and checks the instance while they are open and afterwards.
"""

from __future__ import annotations

import re
import signal
import socket
import threading
import time
import urllib.parse

from tests.helpers import auth_headers, http_request

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
CONNECTIONS = 200
SILENT_EVERY = 4  # one connection in four sends nothing at all


def api_url(daemon) -> str:
    return LISTENING.search(daemon.wait_for_line("listening on")).group(1)


class Slowloris:
    """Connections that trickle a request head they never finish, or send nothing."""

    def __init__(self, url: str, count: int = CONNECTIONS) -> None:
        parts = urllib.parse.urlsplit(url)
        self.address = (parts.hostname, parts.port)
        self.host = f"{parts.hostname}:{parts.port}"
        self.sockets: list[socket.socket] = []
        self.closed_at: dict[int, float] = {}
        self._stop = threading.Event()
        for index in range(count):
            sock = socket.create_connection(self.address, timeout=5)
            if index % SILENT_EVERY:
                sock.sendall(f"GET /health HTTP/1.1\r\nHost: {self.host}\r\nX-Slow: ".encode())
            sock.setblocking(False)
            self.sockets.append(sock)
        self.opened_at = time.monotonic()
        self._thread = threading.Thread(target=self._trickle, daemon=True)
        self._thread.start()

    def _trickle(self) -> None:
        """Send one more byte a second on each trickling connection; note when each closes."""
        while not self._stop.wait(1.0):
            for index, sock in enumerate(self.sockets):
                if index in self.closed_at:
                    continue
                try:
                    answer = sock.recv(4096)
                except BlockingIOError:
                    answer = None  # open, and nothing said
                except OSError:
                    answer = b""
                if answer is not None:  # closed, or answered (408): the server let go of it
                    self.closed_at[index] = time.monotonic()
                    continue
                if index % SILENT_EVERY:
                    try:
                        sock.send(b"a")
                    except OSError:
                        self.closed_at[index] = time.monotonic()

    def open_count(self) -> int:
        return len(self.sockets) - len(self.closed_at)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for sock in self.sockets:
            sock.close()


def health_latencies(url: str, count: int = 50) -> list[float]:
    """Return the latency of *count* GET /health on fresh connections, in seconds, sorted."""
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        answer = http_request(f"{url}/health", timeout=5)
        latencies.append(time.perf_counter() - started)
        assert answer.status == 200, answer.body
        time.sleep(0.02)
    return sorted(latencies)


def assert_stores_and_recalls(url: str, word: str) -> None:
    stored = http_request(f"{url}/memories", "POST", {"content": f"remember {word}"},
                          headers=auth_headers(url))
    assert stored.status == 201, stored.body
    hits = http_request(f"{url}/memories?q={word}", headers=auth_headers(url)).json()
    assert [hit["id"] for hit in hits] == [stored.json()["id"]]


def test_200_slowloris_connections_leave_health_fast_and_the_api_working(start_daemon):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0",
                          env={"MNEMOSYNE_API_HEADER_TIMEOUT_S": "60"})
    url = api_url(daemon)
    daemon.wait_for_line("ready:")
    attack = Slowloris(url)
    try:
        latencies = health_latencies(url)
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        # The strict figure (p99 <= 100 ms) is the benchmark's; this bound only catches
        # starvation (before the gate, every request waited out the whole attack).
        assert p99 < 1.0, latencies
        assert_stores_and_recalls(url, "slowloris")
        assert attack.open_count() == CONNECTIONS  # none was dropped to make room
    finally:
        attack.close()
    assert http_request(f"{url}/health").status == 200
    assert "Traceback" not in "\n".join(daemon.lines)


def test_sigterm_exits_within_2_s_while_200_slow_connections_are_open(start_daemon):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0")
    url = api_url(daemon)
    daemon.wait_for_line("ready:")
    attack = Slowloris(url)
    try:
        time.sleep(1.5)  # every connection has sent something or sat silent a while
        assert http_request(f"{url}/health").status == 200
        started = time.monotonic()
        daemon.send(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0, "\n".join(daemon.lines)
        assert time.monotonic() - started < 2.0
    finally:
        attack.close()
    assert "Traceback" not in "\n".join(daemon.lines)


def test_slow_and_silent_connections_are_closed_at_the_header_deadline(start_daemon):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0",
                          env={"MNEMOSYNE_API_HEADER_TIMEOUT_S": "2"})
    url = api_url(daemon)
    daemon.wait_for_line("ready:")
    attack = Slowloris(url)
    try:
        deadline = time.monotonic() + 10
        while attack.open_count() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert attack.open_count() == 0
        # Closed at the deadline (2 s), as seen by a client that looks once a second.
        waited = sorted(closed - attack.opened_at for closed in attack.closed_at.values())
        assert waited[0] >= 1.0 and waited[-1] < 2.0 + 3.0, waited
    finally:
        attack.close()
    assert http_request(f"{url}/health").status == 200
    assert_stores_and_recalls(url, "deadline")
    log = "\n".join(daemon.lines)
    assert "Traceback" not in log
    refusals = [line for line in daemon.lines if "API closed a connection" in line]
    assert 1 <= len(refusals) <= 5, log  # rate-limited, then counted


def test_slow_uploads_hold_no_more_than_a_few_threads_and_are_cut_off(start_daemon):
    """Bodies too large for the gate's buffer, sent one byte a second: a few reach a worker
    (and are cut off at the body deadline), the rest are refused at once; /health stays fast."""
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0",
                          env={"MNEMOSYNE_API_BODY_TIMEOUT_S": "2"})
    url = api_url(daemon)
    daemon.wait_for_line("ready:")
    parts = urllib.parse.urlsplit(url)
    uploads = []
    for _ in range(30):
        sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
        token = "".join(f"{name}: {value}\r\n" for name, value in auth_headers(url).items())
        sock.sendall(f"POST /memories HTTP/1.1\r\nHost: {parts.netloc}\r\n{token}"
                     "Content-Type: application/json\r\nContent-Length: 200000\r\n\r\n{"
                     .encode())
        uploads.append(sock)
    started = time.monotonic()
    try:
        latencies = health_latencies(url, count=30)
        assert latencies[-1] < 1.0, latencies
        statuses = []
        for sock in uploads:
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            statuses.append(int(answer.split()[1]) if answer else 0)
        assert time.monotonic() - started < 2.0 + 5.0
    finally:
        for sock in uploads:
            sock.close()
    assert set(statuses) <= {400, 503}, statuses
    assert statuses.count(400) <= 8  # at most that many bodies were arriving in the pool
    assert http_request(f"{url}/health").status == 200
    assert_stores_and_recalls(url, "uploads")
    assert "Traceback" not in "\n".join(daemon.lines)
