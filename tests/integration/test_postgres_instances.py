"""Two instances sharing one real PostgreSQL server, as on two machines (real processes).

Each `serve --with-api` has its own coordination root (MNEMOSYNE_ROOT): only the database is
shared. A memory stored through one reaches the other's SSE stream within 100 ms (LISTEN /
NOTIFY); when the server stops, /health says 503 within a second while both instances keep
running, a client gets exit 3 in one line, and both come back by themselves (200) once the
server is back. The test starts its own server (tests/postgres_server.py), since it stops it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests import postgres_server
from tests.helpers import DaemonProcess, SseClient, http_request

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@pytest.fixture
def own_server():
    postgres_server.require()
    with postgres_server.running_server() as server:
        yield server


def start_instance(env, cwd) -> tuple[DaemonProcess, str]:
    daemon = DaemonProcess([sys.executable, "-m", "mnemosyne", "serve", "--with-api",
                            "--api-addr", "127.0.0.1:0"], env, cwd)
    url = LISTENING.search(daemon.wait_for_line("listening on", timeout=30)).group(1)
    daemon.wait_for_line("ready:", timeout=30)
    return daemon, url


def health_within(url: str, status: int, limit_s: float) -> float:
    """Return how long /health took to answer *status*; fail after *limit_s*."""
    started = time.monotonic()
    while True:
        answer = http_request(url + "/health", timeout=5)
        elapsed = time.monotonic() - started
        if answer.status == status:
            return elapsed
        assert elapsed < limit_s, f"/health still {answer.status} after {elapsed:.2f} s"
        time.sleep(0.02)


def test_two_instances_on_two_roots_share_memories_events_and_outages(
        own_server, isolated_env, tmp_path):
    database_url = own_server.create_database("shared")
    envs = [{**isolated_env, "DATABASE_URL": database_url,
             "MNEMOSYNE_ROOT": str(tmp_path / f"machine-{name}" / ".mnemosyne")}
            for name in ("a", "b")]
    daemons = []
    try:
        for env, name in zip(envs, ("a", "b"), strict=True):
            (tmp_path / f"machine-{name}").mkdir()
            daemons.append(start_instance(env, tmp_path / f"machine-{name}"))
        (a, url_a), (b, url_b) = daemons
        assert "postgresql://" in a.wait_for_line("ready:") and "***" not in url_a

        stream = SseClient(url_b + "/events")
        latencies = []
        for number in range(5):
            started = time.monotonic()
            stored = http_request(url_a + "/memories", "POST",
                                  {"content": f"shared across machines {number}"})
            assert stored.status == 201
            event = stream.events_until(lambda e: e.event == "memory_stored")[-1].json()
            latencies.append(time.monotonic() - started)
            assert event["data"]["memory_id"] == stored.json()["id"]
        assert max(latencies) < 0.1, latencies

        own_server.stop()
        for url in (url_a, url_b):
            assert health_within(url, 503, 1.0) < 1.0
        assert a.process.poll() is None and b.process.poll() is None

        cli_env = {**envs[0], "MNEMOSYNE_WRITE_DEADLINE_S": "2"}
        down = subprocess.run([sys.executable, "-m", "mnemosyne", "remember", "-c", "lost?"],
                              capture_output=True, text=True, env=cli_env, timeout=60,
                              cwd=tmp_path, check=False)
        assert down.returncode == 3, down.stderr
        assert len(down.stderr.strip().splitlines()) == 1
        assert down.stderr.startswith("mnemosyne: error:")

        own_server.start()
        for url in (url_a, url_b):
            health_within(url, 200, 15.0)
        assert a.process.poll() is None and b.process.poll() is None
        stored = http_request(url_a + "/memories", "POST", {"content": "after the outage"})
        assert stored.status == 201
        event = stream.events_until(lambda e: e.event == "memory_stored")[-1].json()
        assert event["data"]["memory_id"] == stored.json()["id"]
        stream.close()
    finally:
        for daemon, _ in daemons:
            daemon.stop()
