"""Helpers shared by tests (importable, unlike conftest)."""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@dataclasses.dataclass
class CliResult:
    """What one CLI run produced."""

    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> CliResult:
        assert self.returncode == 0, f"exit {self.returncode}\nstdout:\n{self.stdout}\n" \
                                     f"stderr:\n{self.stderr}"
        return self


def assert_one_line_error(result: CliResult, code: int, *fragments: str) -> None:
    """Assert a clean failure: exit *code*, one `mnemosyne: error:` line, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mnemosyne: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# The token of each API a test started, by "host:port": http_request and SseClient send it
# unless told not to (auth=False). DaemonProcess fills it in when its API reports its URL.
API_TOKENS: dict[str, str] = {}
LISTENING_URL = re.compile(r"listening on (http://[^\s/]+)")


def token_file(env: dict[str, str]) -> Path:
    """Return the API token file of the (isolated) home in *env*."""
    return Path(env["XDG_CONFIG_HOME"]) / "mnemosyne" / "api-token"


def read_api_token(env: dict[str, str]) -> str:
    """Return the API token a daemon started with *env* uses (its file, made at start)."""
    return env.get("MNEMOSYNE_API_TOKEN") or token_file(env).read_text().strip()


def remember_api(url: str, token: str) -> None:
    """Send *token* with every request to the API at *url* from now on."""
    API_TOKENS[urllib.parse.urlsplit(url).netloc] = token


def auth_headers(url: str) -> dict[str, str]:
    """Return the Authorization header for the API at *url*, if its token is known."""
    token = API_TOKENS.get(urllib.parse.urlsplit(url).netloc)
    return {"Authorization": f"Bearer {token}"} if token else {}


class DaemonProcess:
    """A `mnemosyne serve` child: read its stderr lines, signal it, always reap it."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.env = env

        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True, cwd=cwd)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, fragment: str, timeout: float = 15.0) -> str:
        """Return the first stderr line containing *fragment*; fail with all output if none."""

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if fragment in line:
                        self._remember_api(line)
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None
                                      and not self._reader.is_alive()):
                    raise AssertionError(f"no line with {fragment!r}; stderr so far:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(min(remaining, 0.1))

    def _remember_api(self, line: str) -> None:
        match = LISTENING_URL.search(line)
        if match:
            remember_api(match.group(1), read_api_token(self.env))

    @property
    def token(self) -> str:
        """Return this daemon's API token."""
        return read_api_token(self.env)

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        """TERM the whole process group, then KILL it if it lingers; always reap."""
        stop_process_group(self.process)
        self._reader.join(5)


def stop_process_group(process: subprocess.Popen) -> None:
    """TERM the process group a child leads (started with start_new_session), then KILL it if
    it lingers; always reap the child."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def run_git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity; return its stdout."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout


@dataclasses.dataclass
class HttpResult:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(url: str, method: str = "GET", body: bytes | dict | None = None,
         headers: dict[str, str] | None = None, timeout: float = 10.0,
         auth: bool = True) -> HttpResult:
    """Send one request with http.client (no redirects, no retries) and read the answer.

    The API's known token is sent unless *auth* is False or *headers* set Authorization.
    """
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = {**(auth_headers(url) if auth else {}), **(headers or {})}
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request(method, target, body=body, headers=headers,
                           encode_chunked="Transfer-Encoding" in headers)
        response = connection.getresponse()
        return HttpResult(response.status, {k.lower(): v for k, v in response.getheaders()},
                          response.read())
    finally:
        connection.close()


@dataclasses.dataclass
class SseEvent:
    """One event as a client parses it."""

    event: str | None
    id: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


class SseClient:
    """A real EventSource-like client on http.client: read events with a timeout."""

    def __init__(self, url: str, last_event_id: str | None = None, timeout: float = 10.0,
                 headers: dict[str, str] | None = None, auth: bool = True) -> None:
        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port,
                                                     timeout=timeout)
        headers = {"Accept": "text/event-stream", **(auth_headers(url) if auth else {}),
                   **(headers or {})}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        target = (parts.path or "/events") + (f"?{parts.query}" if parts.query else "")
        self.connection.request("GET", target, headers=headers)
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.comments: list[str] = []

    def next_event(self) -> SseEvent | None:
        """Return the next event, or None when the stream ends. Raises TimeoutError."""
        fields: dict[str, list[str]] = {}
        while True:
            raw = self.response.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if not line:
                if "data" in fields:
                    return SseEvent(fields.get("event", [None])[-1], fields.get("id", [None])[-1],
                                    "\n".join(fields["data"]))
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))

    def events_until(self, predicate, limit: int = 10_000) -> list[SseEvent]:
        """Read events until one satisfies *predicate* (included); return them all."""
        seen = []
        for _ in range(limit):
            event = self.next_event()
            if event is None:
                raise AssertionError(f"stream ended before the event; saw {seen}")
            seen.append(event)
            if predicate(event):
                return seen
        raise AssertionError("no matching event")

    def close(self) -> None:
        # The response holds the socket too (with Connection: close, http.client hands it
        # the connection): close both, or the server never sees the client leave.
        self.response.close()
        self.connection.close()


def ephemeral_port_range() -> tuple[int, int]:
    """Return the kernel's range of ports for outgoing connections (first, last)."""
    try:
        first, last = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(first), int(last)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_range(length: int) -> int:
    """Return a first port such that *length* ports from it are free right now.

    A machine-wide resource: the range is picked at random below the kernel's ephemeral range
    (so no outgoing connection of this or another test run can take one of its ports before
    the daemon binds it) and probed; two test runs at once pick different ranges.
    """
    low_ephemeral, _ = ephemeral_port_range()
    candidates = random.Random()
    for _ in range(200):
        first = candidates.randrange(10_000, max(10_001, low_ephemeral - length))
        holders = []
        try:
            for port in range(first, first + length):
                holder = socket.socket()
                holders.append(holder)
                # As the daemon binds (api/ports.py): a port whose old connections linger in
                # TIME_WAIT is free.
                holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                holder.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for holder in holders:
                holder.close()
        return first
    raise AssertionError("no free port range")


def occupy(first: int, count: int) -> list[socket.socket]:
    sockets = []
    for port in range(first, first + count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        sockets.append(sock)
    return sockets


def collect_datagrams(server, until, timeout=15.0):
    """Read datagrams from *server* until one satisfies *until*; return them all."""
    got = []
    deadline = time.monotonic() + timeout
    while not got or not until(got[-1]):
        assert time.monotonic() < deadline, got
        try:
            got.append(server.recv(4096).decode("latin-1"))
        except TimeoutError:
            continue
    return got


def notify_server(tmp_path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp_path / "notify.sock"))
    server.settimeout(0.5)
    return server


@contextlib.contextmanager
def small_tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of *size* (e.g. "1m") at *mountpoint*, mode 0700; unmount it after.

    Needs root. The mount point is the caller's own temporary directory: no machine-wide
    resource is shared with another test run.
    """
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    mountpoint.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                    str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill_file_system(path: Path) -> None:
    """Write zeros to the new file *path* until its file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0"):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)
