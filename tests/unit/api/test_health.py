"""GET /health: fields, the database probe, degraded answers."""

from __future__ import annotations

import os
import time

from mnemosyne import __version__
from mnemosyne.api.events import EventHub
from mnemosyne.api.health import ANSWER_REUSE_S, DatabaseProbe, HealthEndpoint
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from tests.helpers import SseClient, http_request


def test_health_reports_the_instance(running_api):
    result = http_request(running_api.url + "/health")
    assert result.status == 200
    body = result.json()
    assert body == {"status": "ok", "version": __version__, "instance_id": "a1b2c3d4",
                    "subscribers": 0, "uptime_s": body["uptime_s"],
                    "port": running_api.api.address.port, "db": "ok"}
    assert body["uptime_s"] >= 0


def test_subscribers_counts_open_streams(running_api):
    clients = [SseClient(running_api.url + "/events") for _ in range(3)]
    assert http_request(running_api.url + "/health").json()["subscribers"] == 3
    for client in clients:
        client.close()


def test_a_failing_check_makes_it_degraded(make_api):
    problems = [None]
    running = make_api(checks=(lambda: problems[0],))
    assert http_request(running.url + "/health").status == 200
    problems[0] = "main loop stalled for 9 s"
    time.sleep(ANSWER_REUSE_S * 2)  # the previous answer may be reused this long
    result = http_request(running.url + "/health")
    assert result.status == 503
    body = result.json()
    assert body["status"] == "degraded" and body["db"] == "ok"
    assert body["problems"] == ["main loop stalled for 9 s"]


def test_answer_is_reused_briefly():
    now = [0.0]
    checks = [None]
    endpoint = HealthEndpoint(EventHub("a1b2c3d4", 10, 10), 1, lambda: None,
                              (lambda: checks[0],), clock=lambda: now[0])
    statuses = []

    def ask():
        endpoint({"REQUEST_METHOD": "GET"}, lambda status, headers: statuses.append(status))
        return statuses[-1]

    assert ask() == "200 OK"
    checks[0] = "broken"
    assert ask() == "200 OK"  # within the reuse window
    now[0] += ANSWER_REUSE_S
    assert ask() == "503 Service Unavailable"


def test_head_and_wrong_method(running_api):
    assert http_request(running_api.url + "/health", "HEAD").status == 200
    wrong = http_request(running_api.url + "/health", "DELETE")
    assert wrong.status == 405 and wrong.headers["allow"] == "GET, HEAD"


def open_backend(path):
    return SqliteBackend(Database.open(path))


def test_probe_sees_a_removed_or_replaced_database(tmp_path):
    path = tmp_path / "m.db"
    with open_backend(path) as backend:  # SQLite keeps it open: its inode cannot be reused
        probe = DatabaseProbe(backend.health)
        assert probe.inspect() is None
        path.unlink()
        assert "was removed" in probe.inspect()
        path.write_bytes(b"y")
        assert "replaced" in probe.inspect()


def test_probe_sees_an_unwritable_directory(tmp_path):
    directory = tmp_path / "d"
    directory.mkdir()
    with open_backend(directory / "m.db") as backend:
        probe = DatabaseProbe(backend.health)
        directory.chmod(0o500)
        try:
            problem = probe.inspect()
        finally:
            directory.chmod(0o700)
    if os.geteuid() == 0:
        assert problem is None  # root may write anyway: the integration test remounts it
    else:
        assert "is not writable" in problem


def test_probe_caches_briefly(tmp_path):
    path = tmp_path / "m.db"
    now = [0.0]
    with open_backend(path) as backend:
        probe = DatabaseProbe(backend.health, clock=lambda: now[0])
        assert probe() is None
        path.unlink()
        assert probe() is None  # cached
        now[0] = 0.3
        assert "was removed" in probe()


def test_degraded_when_the_database_file_is_removed(running_api):
    running_api.store.database.path.rename(running_api.store.database.path.with_name("x"))
    for _ in range(50):
        result = http_request(running_api.url + "/health")
        if result.status == 503:
            break
        time.sleep(0.05)
    assert result.status == 503
    assert result.json()["db"] == "error" and "was removed" in result.json()["problems"][0]
