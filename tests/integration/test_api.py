"""The API of real `serve --with-api` processes: ports, registry, events, health, shutdown."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from tests.helpers import (
    SseClient,
    collect_datagrams,
    free_port_range,
    http_request,
    notify_server,
    occupy,
)

LISTENING = re.compile(r"API server \[([0-9a-f]{8})\] listening on (http://127\.0\.0\.1:(\d+))")


def api_url(daemon) -> str:
    return LISTENING.search(daemon.wait_for_line("listening on")).group(2)


def test_serve_with_api_registers_its_url_and_answers(start_daemon, cli):
    first = free_port_range(11)
    daemon = start_daemon("--with-api", "--api-addr", f"127.0.0.1:{first}")
    line = daemon.wait_for_line("listening on")
    daemon.wait_for_line("ready:")
    assert LISTENING.search(line).group(2) == f"http://127.0.0.1:{first}"
    (entry,) = json.loads(cli("instances", "--format", "json").ok().stdout)
    assert entry["api_url"] == f"http://127.0.0.1:{first}"
    health = http_request(f"http://127.0.0.1:{first}/health").json()
    assert health["status"] == "ok" and health["instance_id"] == entry["instance_id"]
    assert health["port"] == first
    via_api = http_request(f"http://127.0.0.1:{first}/instances").json()
    assert [view["instance_id"] for view in via_api] == [entry["instance_id"]]


def test_second_instance_falls_back_to_the_next_port(start_daemon):
    first = free_port_range(11)
    one = start_daemon("--with-api", "--api-addr", f"127.0.0.1:{first}")
    assert api_url(one).endswith(f":{first}")
    two = start_daemon("--with-api", "--api-addr", f"127.0.0.1:{first}", "--log-level",
                       "debug")
    two.wait_for_line(f"Port {first} in use, trying alternative ports...")
    assert api_url(two).endswith(f":{first + 1}")


def test_twelve_instances_at_once_get_eleven_ports_and_one_runs_without(start_daemon, cli):
    first = free_port_range(11)
    daemons = [start_daemon("--with-api", "--api-addr", f"127.0.0.1:{first}")
               for _ in range(12)]
    for daemon in daemons:
        daemon.wait_for_line("ready:", timeout=60)
    ports = []
    without = []
    for daemon in daemons:
        match = next((LISTENING.search(line) for line in daemon.lines
                      if LISTENING.search(line)), None)
        if match:
            ports.append(int(match.group(3)))
        else:
            without.append(daemon)
    assert sorted(ports) == list(range(first, first + 11))
    assert len(without) == 1
    without[0].wait_for_line(f"All ports ({first}\N{EN DASH}{first + 10}) are in use. API "
                             "server unavailable for instance")
    assert all(daemon.process.poll() is None for daemon in daemons)
    entries = json.loads(cli("instances", "--format", "json").ok().stdout)
    assert len(entries) == 12
    assert sum(entry["api_url"] is None for entry in entries) == 1


def test_status_line_names_the_port(start_daemon, tmp_path):
    server = notify_server(tmp_path)
    try:
        first = free_port_range(11)
        start_daemon("--instance-id", "a1b2c3d4", "--with-api", "--api-addr",
                     f"127.0.0.1:{first}", env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        ready = collect_datagrams(server, lambda datagram: "READY=1" in datagram)[-1]
        assert f"STATUS=instance a1b2c3d4: serving on 127.0.0.1:{first}, no worktree" in ready
    finally:
        server.close()


def test_exposed_address_without_a_token_refuses_to_start(start_daemon):
    daemon = start_daemon("--with-api", "--api-addr", "0.0.0.0:0")
    assert daemon.wait() == 2
    assert len(daemon.lines) == 1
    assert "reachable from other machines: set MNEMOSYNE_API_TOKEN" in daemon.lines[0]


def test_exposed_address_with_a_token_requires_it(start_daemon):
    daemon = start_daemon("--with-api", "--api-addr", "0.0.0.0:0",
                          env={"MNEMOSYNE_API_TOKEN": "s3cret"})
    port = re.search(r"listening on http://0\.0\.0\.0:(\d+)",
                     daemon.wait_for_line("listening on")).group(1)
    assert http_request(f"http://127.0.0.1:{port}/memories").status == 401
    assert http_request(f"http://127.0.0.1:{port}/health").status == 200  # open, no details
    authorized = http_request(f"http://127.0.0.1:{port}/memories",
                              headers={"Authorization": "Bearer s3cret"})
    assert authorized.status == 200


def test_taken_address_outside_the_range_is_not_fatal(start_daemon):
    first = free_port_range(11)
    held = occupy(first, 11)
    try:
        daemon = start_daemon("--with-api", "--api-addr", f"127.0.0.1:{first}")
        daemon.wait_for_line("Core functionality not affected.")
        daemon.wait_for_line("ready:")
        assert daemon.process.poll() is None
    finally:
        for holder in held:
            holder.close()


def test_memories_stored_through_the_cli_are_events(start_daemon, cli):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0")
    url = api_url(daemon)
    daemon.wait_for_line("ready:")
    client = SseClient(url + "/events")
    memory_id = cli("remember", "-c", "event from the cli", "-n", "project:dash").ok()
    event = client.events_until(lambda e: e.event == "memory_stored")[-1].json()
    assert event["data"]["memory_id"] == memory_id.stdout.strip()
    assert event["data"]["preview"] == "event from the cli"
    assert event["data"]["namespace"] == "project:dash"
    cli("forget", memory_id.stdout.strip()).ok()
    client.events_until(lambda e: e.event == "memory_deleted")
    client.close()


def test_peer_events_and_messages(start_daemon, cli):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0", "--instance-id",
                          "a1b2c3d4")
    url = api_url(daemon)
    client = SseClient(url + "/events")
    peer = start_daemon("--instance-id", "bbbbbbbb")
    peer.wait_for_line("ready:")
    joined = client.events_until(lambda e: e.event == "peer_joined")[-1].json()
    assert joined["data"]["peer_id"] == "bbbbbbbb"
    cli("send", "--from", "bbbbbbbb", "--to", "a1b2c3d4", "--type", "JoinRequest",
        "--payload", '{"n": 1}').ok()
    message = client.events_until(lambda e: e.event == "message_received")[-1].json()
    assert message["data"]["from_agent"] == "bbbbbbbb" and message["data"]["payload"] == {"n": 1}
    peer.send(signal.SIGTERM)
    assert peer.wait() == 0
    left = client.events_until(lambda e: e.event == "peer_left")[-1].json()
    assert left["data"]["peer_id"] == "bbbbbbbb"
    client.close()


def test_stop_with_fifty_open_streams(start_daemon):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0")
    url = api_url(daemon)
    daemon.wait_for_line("ready:")
    clients = [SseClient(url + "/events") for _ in range(50)]
    assert http_request(url + "/health").json()["subscribers"] == 50
    daemon.send(signal.SIGTERM)
    for client in clients:
        seen = []
        while (event := client.next_event()) is not None:
            seen.append(event.event)
        assert seen[-1] == "instance_stopping"
        client.close()
    assert daemon.wait() == 0
    daemon.wait_for_line("unregistered instance")


@pytest.fixture
def unwritable_switch(db_path):
    """(prefix for the daemon, function that makes its database unwritable while it runs).

    As a user: the directory loses its write permission. As root, whom permissions do not
    stop (and a read-only remount is refused while SQLite has the file open for writing):
    the daemon gets a small private tmpfs for the database directory, which is then filled.
    """
    directory = db_path.parent
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        def take_write_permission(_pid):
            directory.chmod(0o500)

        yield (), take_write_permission
        directory.chmod(0o700)
        return
    if not shutil.which("unshare") or not shutil.which("nsenter"):
        pytest.skip("root without unshare/nsenter cannot fill a private file system")
    script = f'mount -t tmpfs -o size=4m tmpfs {directory} && exec "$@"'

    def fill(pid):
        subprocess.run(["nsenter", "--target", str(pid), "--mount", "sh", "-c",
                        f"cat /dev/zero > {directory}/filler"],
                       capture_output=True, check=False)  # ends with ENOSPC, as intended

    yield ("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"), fill


def test_health_turns_degraded_when_the_database_becomes_unwritable(start_daemon,
                                                                      unwritable_switch):
    prefix, make_unwritable = unwritable_switch
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0", prefix=prefix)
    url = api_url(daemon)
    daemon.wait_for_line("ready:")
    stored = http_request(url + "/memories", "POST", {"content": "kept safe"})
    assert stored.status == 201
    assert http_request(url + "/health").status == 200
    make_unwritable(daemon.process.pid)
    changed = time.monotonic()
    while (result := http_request(url + "/health")).status != 503:
        assert time.monotonic() - changed < 10, result.body
        time.sleep(0.05)
    body = result.json()
    assert body["status"] == "degraded" and body["db"] == "error"
    assert re.search("no space left|not writable", body["problems"][0]), body
    refused = http_request(url + "/memories", "POST", {"content": "x" * 60000})
    assert refused.status == 503, refused.body
    kept = http_request(url + "/memories?q=kept").json()
    assert [memory["content"] for memory in kept] == ["kept safe"]
    assert daemon.process.poll() is None


def test_bad_requests_never_crash_the_daemon(start_daemon):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0")
    url = api_url(daemon)
    for method, path, body in [("GET", "/memories?limit=-5", None),
                               ("POST", "/memories", b"\x00\x01"),
                               ("GET", "/memories/%00", None),
                               ("GET", "/../../etc/passwd", None),
                               ("DELETE", "/", None)]:
        result = http_request(url + path, method, body,
                              headers={"Content-Type": "application/json"})
        assert 400 <= result.status < 500, (method, path, result.status)
        assert "error" in result.json()
    assert http_request(url + "/health").status == 200
