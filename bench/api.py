"""API figures: /health throughput next to bare cheroot, latency under 50 SSE clients, event
delivery, port binding, and shutdown with open streams.

Every figure comes from a real `mnemosyne serve --with-api` process on loopback.
- /health with wrk (16 connections), side by side in the same run with a bare cheroot WSGI
  server answering the same JSON: target /health >= 80 % of bare cheroot's requests/s.
- /health at a fixed 200 requests/s (latency counted from each request's scheduled time, so a
  stall is not hidden) with 50 SSE clients connected: target p99 <= 10 ms.
- Event delivery: a memory written to the database by another process (this one) until the
  SSE client holds its memory_stored event, p50/p99.
- /health while 200 slowloris connections are open (150 trickle a request head one byte a
  second, 50 send nothing): paced on one kept-alive connection, and on a fresh connection per
  request (which passes the request gate each time): target p99 <= 100 ms.
- Binding a port when the first ten are taken: target <= 5 ms.
- SIGTERM to exit with 50 open streams, and with 200 slowloris connections: target < 2 s.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import emit, latency_summary

WRK_SECONDS = 5
WRK_CONNECTIONS = 16
PACED_RATE = 200
PACED_SECONDS = 10
SSE_CLIENTS = 50
EVENTS = 300
BIND_REPEATS = 200
SLOWLORIS_CONNECTIONS = 200
SLOWLORIS_SILENT_EVERY = 4
FRESH_REQUESTS = 300

BARE_CHEROOT = """
import json, sys
from cheroot import wsgi
body = json.dumps({"status": "ok", "version": "0.1.0", "instance_id": "a1b2c3d4",
                   "subscribers": 0, "uptime_s": 1.0, "port": 0, "db": "ok"}).encode()
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
server = wsgi.Server(("127.0.0.1", int(sys.argv[1])), app, request_queue_size=128)
server.start()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hold_consecutive_ports(count: int) -> tuple[int, list[socket.socket]]:
    """Listen on *count* consecutive ports (the one after them free); return first and them."""
    while True:
        first = free_port()
        held: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                holder = socket.socket()
                held.append(holder)
                holder.bind(("127.0.0.1", port))
                holder.listen()
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", first + count))
        except OSError:
            for holder in held:
                holder.close()
            continue
        return first, held


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


class Instance:
    """A real `serve --with-api` process on a private database and coordination root."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.env = {**os.environ, "MNEMOSYNE_DB_PATH": str(directory / "m.db"),
                    "MNEMOSYNE_ROOT": str(directory / "coord"),
                    "MNEMOSYNE_SHARED_SECRET": "bench",
                    # Not the working directory itself: a `mnemosyne/` folder there would
                    # shadow the package for `python -m mnemosyne`.
                    "XDG_CONFIG_HOME": str(directory / "config")}
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mnemosyne", "serve", "--with-api", "--api-addr",
             f"127.0.0.1:{self.port}", "--worktree", "never"], env=self.env, cwd=directory,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}"
        # The API token: the per-user file the daemon made in its (private) config directory.
        self.token = (directory / "config" / "mnemosyne" / "api-token").read_text().strip()

    def stop(self) -> float:
        """SIGTERM; return the seconds until the process exited."""
        began = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)
        return time.perf_counter() - began


def parse_duration_ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(url: str) -> dict:
    """Run wrk against *url*; return requests/s and latency percentiles."""
    output = subprocess.run(["wrk", "-t", "2", "-c", str(WRK_CONNECTIONS), "-d",
                             f"{WRK_SECONDS}s", "--latency", url], capture_output=True,
                            text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": round(parse_duration_ms(percentiles["50"]), 3),
            "p99_ms": round(parse_duration_ms(percentiles["99"]), 3),
            "non_2xx": int(errors.group(1)) if errors else 0}


def measure_health_throughput(instance: Instance) -> dict:
    if shutil.which("wrk") is None:
        return {"error": "wrk not found: apt-get install wrk"}
    port = free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE_CHEROOT, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        rounds = []
        for _ in range(2):  # alternate, so that both see the same machine noise
            rounds.append({"mnemosyne_health": wrk(instance.url + "/health"),
                           "bare_cheroot": wrk(f"http://127.0.0.1:{port}/")})
    finally:
        bare.send_signal(signal.SIGTERM)
        bare.wait(10)
    ours = max(r["mnemosyne_health"]["requests_per_s"] for r in rounds)
    theirs = max(r["bare_cheroot"]["requests_per_s"] for r in rounds)
    return {"connections": WRK_CONNECTIONS, "seconds_each": WRK_SECONDS, "rounds": rounds,
            "best_health_rps": ours, "best_bare_cheroot_rps": theirs,
            "health_vs_bare_percent": round(100 * ours / theirs, 1)}


class SseReader:
    """One open /events stream, read in a thread; memory_stored arrivals are timed."""

    def __init__(self, url: str, token: str, arrivals: dict[str, float] | None = None) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        self.connection.request("GET", "/events", headers={"Authorization": f"Bearer {token}"})
        self.sock = self.connection.sock  # the response takes it over (Connection: close)
        self.response = self.connection.getresponse()
        self.arrivals = arrivals
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self) -> None:
        try:
            for line in iter(self.response.readline, b""):
                if self.arrivals is not None and line.startswith(b"data: ") \
                        and b'"memory_stored"' in line:
                    now = time.perf_counter()
                    self.arrivals[json.loads(line[6:])["data"]["memory_id"]] = now
        except (OSError, ValueError, http.client.HTTPException):
            return

    def close(self) -> None:
        """End the stream under the reading thread, then close the connection."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(5)
        self.response.close()
        self.sock.close()


def paced_health(url: str) -> dict:
    """GET /health at a fixed rate on one keep-alive connection; latency from schedule."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    latencies, failures = [], 0
    interval = 1 / PACED_RATE
    start = time.perf_counter() + 0.1
    for index in range(PACED_RATE * PACED_SECONDS):
        scheduled = start + index * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        failures += response.status != 200
        latencies.append(time.perf_counter() - scheduled)
    connection.close()
    return {"rate_per_s": PACED_RATE, **latency_summary(latencies), "non_200": failures}


def measure_health_under_streams(instance: Instance) -> dict:
    quiet = paced_health(instance.url)
    readers = [SseReader(instance.url, instance.token) for _ in range(SSE_CLIENTS)]
    try:
        loaded = paced_health(instance.url)
    finally:
        for reader in readers:
            reader.close()
    return {"without_sse_clients": quiet, "with_50_sse_clients": loaded}


class Slowloris:
    """Connections that trickle a request head one byte a second, or send nothing at all."""

    def __init__(self, port: int, count: int = SLOWLORIS_CONNECTIONS) -> None:
        self.sockets = []
        for index in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if index % SLOWLORIS_SILENT_EVERY:
                sock.sendall(f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-a: "
                             .encode())
            sock.setblocking(False)
            self.sockets.append(sock)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self) -> None:
        while not self.stopped.wait(1.0):
            for index, sock in enumerate(self.sockets):
                if index % SLOWLORIS_SILENT_EVERY:
                    with contextlib.suppress(OSError):
                        sock.send(b"a")

    def still_open(self) -> int:
        """Return how many of the connections the server has neither answered nor closed."""
        count = 0
        for sock in self.sockets:
            try:
                sock.recv(1)  # an answer (408) or the end: the server is done with it
            except BlockingIOError:
                count += 1
            except OSError:
                pass
        return count

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        for sock in self.sockets:
            sock.close()


def fresh_connection_health(url: str) -> dict:
    """GET /health on a new connection each time, 50 a second; latency of each exchange."""
    host, port = url.removeprefix("http://").split(":")
    latencies, failures = [], 0
    for _ in range(FRESH_REQUESTS):
        began = time.perf_counter()
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", "/health")
        response = connection.getresponse()
        response.read()
        connection.close()
        latencies.append(time.perf_counter() - began)
        failures += response.status != 200
        time.sleep(0.02)
    return {**latency_summary(latencies), "non_200": failures}


def measure_health_under_slowloris(instance: Instance) -> dict:
    attack = Slowloris(instance.port)
    try:
        time.sleep(1.0)
        fresh = fresh_connection_health(instance.url)
        kept_alive = paced_health(instance.url)
        still_open = attack.still_open()
    finally:
        attack.close()
    return {"slow_connections": SLOWLORIS_CONNECTIONS,
            "of_which_silent": SLOWLORIS_CONNECTIONS // SLOWLORIS_SILENT_EVERY,
            "fresh_connection_each": fresh, "paced_kept_alive": kept_alive,
            "slow_connections_still_open_after": still_open}


def measure_event_delivery(instance: Instance) -> dict:
    from mnemosyne.config import resolve_settings  # noqa: PLC0415
    from mnemosyne.store import open_store  # noqa: PLC0415

    arrivals: dict[str, float] = {}
    reader = SseReader(instance.url, instance.token, arrivals)
    settings = resolve_settings({"db_path": instance.env["MNEMOSYNE_DB_PATH"]},
                                environ={"XDG_CONFIG_HOME": str(instance.directory)})
    written: dict[str, float] = {}
    with open_store(settings) as store:
        time.sleep(0.3)
        for index in range(EVENTS):
            memory = store.remember(f"delivery probe {index}")
            written[memory.id] = time.perf_counter()
            time.sleep(0.02)
    deadline = time.monotonic() + 10
    while len(arrivals) < EVENTS and time.monotonic() < deadline:
        time.sleep(0.05)
    reader.close()
    latencies = [max(0.0, arrivals[key] - written[key]) for key in written if key in arrivals]
    return {"from": "commit returned in another process", "to": "SSE client has the event",
            **latency_summary(latencies), "lost": EVENTS - len(latencies)}


def measure_port_binding() -> dict:
    from mnemosyne.api.ports import ApiAddress, bind_first_free  # noqa: PLC0415

    first, held = hold_consecutive_ports(10)
    timings = []
    try:
        for _ in range(BIND_REPEATS):
            began = time.perf_counter()
            sock = bind_first_free(ApiAddress("127.0.0.1", first), "bench000")
            timings.append(time.perf_counter() - began)
            sock.close()
    finally:
        for holder in held:
            holder.close()
    return {"ports_taken": 10, **latency_summary(timings)}


def measure_shutdown(directory: Path) -> dict:
    instance = Instance(directory)
    readers = [SseReader(instance.url, instance.token) for _ in range(SSE_CLIENTS)]
    time.sleep(0.5)
    seconds = instance.stop()
    for reader in readers:
        reader.thread.join(5)
    still_open = sum(reader.thread.is_alive() for reader in readers)
    for reader in readers:
        reader.close()
    instance = Instance(directory)
    attack = Slowloris(instance.port)
    try:
        time.sleep(1.5)
        slowloris_seconds = instance.stop()
    finally:
        attack.close()
    return {"open_streams": SSE_CLIENTS, "sigterm_to_exit_s": round(seconds, 3),
            "streams_left_open": still_open,
            "with_200_slowloris_connections_sigterm_to_exit_s": round(slowloris_seconds, 3)}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-api-") as name:
        directory = Path(name)
        instance = Instance(directory)
        try:
            throughput = measure_health_throughput(instance)
            under_streams = measure_health_under_streams(instance)
            under_slowloris = measure_health_under_slowloris(instance)
            delivery = measure_event_delivery(instance)
        finally:
            instance.stop()
        binding = measure_port_binding()
        shutdown = measure_shutdown(directory)
    emit("api", {"health_throughput": throughput, "health_latency_paced": under_streams,
                 "health_latency_with_slowloris": under_slowloris,
                 "event_delivery": delivery, "port_binding": binding, "shutdown": shutdown,
                 "targets": {"health_vs_bare_percent": ">= 80",
                             "health_p99_ms_with_50_sse_clients": "<= 10",
                             "health_p99_ms_with_200_slowloris_connections": "<= 100",
                             "bind_with_10_taken_ms": "<= 5",
                             "shutdown_with_50_streams_s": "< 2",
                             "shutdown_with_200_slowloris_connections_s": "< 2"}})


if __name__ == "__main__":
    main()
