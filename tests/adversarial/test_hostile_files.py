"""Hostile files dropped into the live coordination directory of two running instances.

Each test plants one file (or a crowd of them) in `.mnemosyne/` while two `serve` processes
run on it (one with the API), then checks that nothing stopped: both still run and heartbeat,
/health answers 200, a direct message is delivered exactly once, `mnemosyne instances` exits
0 with at most one warning line, and a new instance can start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from mnemosyne.coord import signing
from mnemosyne.coord.identity import this_host
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.coord.registry import utc_timestamp
from mnemosyne.coord.root import prepare_root
from tests.helpers import assert_one_line_error, fill_file_system, small_tmpfs

SECRET = "hostile-files-test-secret"
KEY = SECRET.encode()
ENV = {"MNEMOSYNE_SHARED_SECRET": SECRET, "MNEMOSYNE_HEARTBEAT_INTERVAL_S": "0.2",
       "MNEMOSYNE_POLL_INTERVAL_S": "0.5"}
API_ID, PLAIN_ID, NEW_ID, SENDER_ID = "a1a1a1a1", "b2b2b2b2", "c3c3c3c3", "e5e5e5e5"
DEEP = b"[" * 100_000 + b"]" * 100_000  # 200 KB, well-formed


def wait_until(condition, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached in time")


class Cluster:
    """Two running instances on one root, and the checks every test ends with."""

    def __init__(self, start_daemon, cli, tmp_path: Path) -> None:
        self.start_daemon, self.cli, self.tmp_path = start_daemon, cli, tmp_path
        self.root = cli.root
        self.api = start_daemon("--instance-id", API_ID, "--with-api", "--api-addr",
                                "127.0.0.1:0", env=ENV)
        self.plain = start_daemon("--instance-id", PLAIN_ID, env=ENV)
        line = self.api.wait_for_line("listening on")
        self.url = re.search(r"listening on (\S+)", line)[1].rstrip("/")
        self.api.wait_for_line("ready:")
        self.plain.wait_for_line("ready:")
        self.sent = 0

    def run(self, *args, env=None):
        return self.cli(*args, env={**ENV, **(env or {})})

    def views(self):
        result = self.run("instances", "--format", "json")
        assert result.returncode == 0, result
        assert len(result.stderr.strip().splitlines()) <= 1, result.stderr
        assert "Traceback" not in result.stderr
        return {view["instance_id"]: view for view in json.loads(result.stdout)}

    def health(self) -> int:
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
            return response.status

    def deliver_once(self, daemon=None, instance_id=PLAIN_ID) -> None:
        """Send a direct message; it must be handled once, and only once."""
        daemon = daemon or self.plain
        self.sent += 1
        token = f"check-{self.sent}-{time.monotonic_ns()}"
        self.run("send", "--to", instance_id, "--type", "Note", "--payload",
                 json.dumps(token), "--from", SENDER_ID).ok()
        daemon.wait_for_line(token)
        time.sleep(0.3)
        assert sum(token in line for line in daemon.lines) == 1

    def assert_healthy(self) -> None:
        for daemon in (self.api, self.plain):
            assert daemon.process.poll() is None, "\n".join(daemon.lines)
        beats = {key: view["last_heartbeat"] for key, view in self.views().items()}
        assert set(beats) >= {API_ID, PLAIN_ID}, beats
        wait_until(lambda: all(self.views()[key]["last_heartbeat"] != beats[key]
                               for key in (API_ID, PLAIN_ID)), what="new heartbeats")
        assert {view["state"] for view in self.views().values()} == {"live"}
        assert self.health() == 200
        self.deliver_once()
        newcomer = self.start_daemon("--instance-id", NEW_ID, env=ENV)
        newcomer.wait_for_line("ready:")
        newcomer.send(signal.SIGTERM)
        assert newcomer.wait() == 0, "\n".join(newcomer.lines)

    def log_lines(self, fragment: str) -> int:
        return sum(fragment in line for daemon in (self.api, self.plain)
                   for line in daemon.lines)


@pytest.fixture
def cluster(start_daemon, cli, tmp_path):
    return Cluster(start_daemon, cli, tmp_path)


def plant(path: Path, content: bytes) -> None:
    """Publish *content* at *path* by rename, as any process of the user could."""
    temporary = path.with_name(f".plant-{path.name}")
    temporary.write_bytes(content)
    os.rename(temporary, path)


def signed_entry(instance_id: str, **changes) -> dict:
    now = utc_timestamp(time.time())
    fields = {"instance_id": instance_id, "pid": os.getpid(), "pid_start_time": 1,
              "hostname": this_host(), "registered_at": now, "last_heartbeat": now,
              "version": "x", "api_url": None, "worktree_path": None, "branch": None,
              "systemd_unit": None, **changes}
    return signing.signed(fields, KEY)


def add_entries(root: Path, entries: dict) -> None:
    """Write *entries* into the live registry under its lock (as a rogue writer would)."""
    from mnemosyne.coord.jsonfile import LockedJsonFile  # noqa: PLC0415

    document = LockedJsonFile(root / "process_registry.json",
                              root / "locks" / "process_registry.json.lock",
                              lambda: {"version": 1, "instances": {}},
                              lambda data: isinstance(data, dict))
    document.update(lambda data: data["instances"].update(entries))


def test_deeply_nested_process_registry(cluster):
    plant(cluster.root / "process_registry.json", DEEP)
    wait_until(lambda: list(cluster.root.glob("process_registry.json.corrupt-*")))
    cluster.assert_healthy()
    assert len(list(cluster.root.glob("process_registry.json.corrupt-*"))) == 1
    warning = cluster.run("instances").ok().stderr
    assert warning.startswith("mnemosyne: warning:") and "set aside" in warning, warning


def test_instances_warns_about_a_corrupt_registry_nobody_repaired_yet(cli):
    cli("instances", env=ENV).ok()
    plant(cli.root / "process_registry.json", DEEP)
    result = cli("instances", env=ENV).ok()
    assert result.stdout.splitlines()[1:] == []
    lines = result.stderr.strip().splitlines()
    assert lines[1:] == [f"mnemosyne: coordination root {cli.root} (0 instance(s))"], lines
    assert "nested more than 32 levels" in lines[0], result.stderr


def test_deeply_nested_branch_registry(cluster):
    plant(cluster.root / "branch_registry.json", DEEP)
    cluster.assert_healthy()
    cluster.plain.send(signal.SIGTERM)  # stopping releases its branches: the file is read
    assert cluster.plain.wait() == 0, "\n".join(cluster.plain.lines)
    assert list(cluster.root.glob("branch_registry.json.corrupt-*"))


def test_deeply_nested_cursor(cluster):
    plant(cluster.root / "cursors" / f"{NEW_ID}.json", DEEP)
    plant(cluster.root / "cursors" / f"{PLAIN_ID}.json", DEEP)
    cluster.assert_healthy()  # the newcomer starts on its deep cursor
    cluster.plain.send(signal.SIGTERM)
    assert cluster.plain.wait() == 0
    plant(cluster.root / "cursors" / f"{PLAIN_ID}.json", DEEP)
    cluster.plain = cluster.start_daemon("--instance-id", PLAIN_ID, env=ENV)
    cluster.plain.wait_for_line("ready:")
    cluster.plain.wait_for_line("cursor")
    cluster.assert_healthy()


@pytest.mark.parametrize("changes", [{"pid": 10**20}, {"pid_start_time": None}],
                         ids=["pid-10e20", "pid-start-time-null"])
def test_entry_with_values_out_of_range(cluster, changes):
    entry = signed_entry("d4d4d4d4", **changes)
    unsigned = {key: value for key, value in entry.items() if key != "signature"}
    add_entries(cluster.root, {"d4d4d4d4": entry, "d5d5d5d5": {**unsigned,
                                                               "instance_id": "d5d5d5d5"}})
    wait_until(lambda: list(cluster.root.glob("process_registry.json.invalid-*")))
    views = cluster.views()
    assert "d4d4d4d4" not in views and "d5d5d5d5" not in views
    cluster.assert_healthy()


def test_entry_filed_under_another_key(cluster):
    copy = json.loads(json.dumps(cluster.views()[API_ID]))
    entry = json.loads((cluster.root / "process_registry.json").read_text())["instances"][API_ID]
    assert copy["pid"] == entry["pid"]
    add_entries(cluster.root, {"deadbeef": entry})
    wait_until(lambda: list(cluster.root.glob("process_registry.json.invalid-*")))
    views = cluster.views()
    assert "deadbeef" not in views
    assert [view["pid"] for view in views.values()].count(entry["pid"]) == 1
    cluster.assert_healthy()


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status)[1])


def test_oversized_registry_of_valid_shape(cluster):
    padding = "x" * (20 * 1024 * 1024)
    plant(cluster.root / "process_registry.json",
          json.dumps({"version": 1, "instances": {}, "padding": padding}).encode())
    wait_until(lambda: list(cluster.root.glob("process_registry.json.corrupt-*")))
    cluster.assert_healthy()
    assert len(list(cluster.root.glob("process_registry.json.corrupt-*"))) == 1
    assert (cluster.root / "process_registry.json").stat().st_size < 64 * 1024
    for daemon in (cluster.api, cluster.plain):
        assert rss_kib(daemon.process.pid) < 150 * 1024


def test_empty_directory_named_like_a_message(cluster):
    now = time.time_ns()
    for name in (f"{now:019d}-{SENDER_ID}-{PLAIN_ID}-00000001.json",
                 f"{now:019d}-{SENDER_ID}-99999999-00000002.json",
                 f"{now:019d}-{SENDER_ID}-all-00000003.json"):
        (cluster.root / "coordination_queue" / name).mkdir()
    cluster.assert_healthy()
    broadcast = cluster.root / "coordination_queue" / f"{now:019d}-{SENDER_ID}-all-00000003.json"
    wait_until(lambda: not broadcast.exists(), what="the directory set aside")
    assert any(path.is_dir() for path in (cluster.root / "rejected").iterdir())
    cluster.deliver_once()


def test_fifo_named_like_a_broadcast(cluster):
    name = f"{time.time_ns():019d}-{SENDER_ID}-all-00000004.json"
    os.mkfifo(cluster.root / "coordination_queue" / name, 0o600)
    direct = f"{time.time_ns():019d}-{SENDER_ID}-{PLAIN_ID}-00000005.json"
    os.mkfifo(cluster.root / "coordination_queue" / direct, 0o600)
    cluster.run("send", "--broadcast", "--type", "Note", "--from", SENDER_ID).ok()  # a wake-up
    cluster.assert_healthy()
    wait_until(lambda: not (cluster.root / "coordination_queue" / name).exists())


def test_symlink_in_the_queue_is_not_followed(cluster, tmp_path):
    other = prepare_root(tmp_path / "elsewhere", start=tmp_path)
    message = MessageQueue(other, SENDER_ID, KEY, max_bytes=1024, ttl_s=300).send(
        PLAIN_ID, "Note", "followed-the-link")
    outside = tmp_path / "outside.json"
    shutil.move(other.queue / f"{message.id}.json", outside)
    os.symlink(outside, cluster.root / "coordination_queue" / f"{message.id}.json")
    cluster.assert_healthy()
    assert cluster.log_lines("followed-the-link") == 0
    assert (cluster.root / "rejected" / f"{message.id}.json").is_symlink()
    assert outside.exists()


def test_symlinks_in_locks_never_create_files_outside(cluster, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in ("process_registry.json.lock", "branch_registry.json.lock",
                 f"{NEW_ID}.lock"):
        link = cluster.root / "locks" / name
        link.unlink(missing_ok=True)
        os.symlink(outside / name, link)
    cluster.assert_healthy()
    cluster.plain.send(signal.SIGTERM)
    assert cluster.plain.wait() == 0
    assert list(outside.iterdir()) == []


def test_ten_thousand_bad_broadcasts_make_a_few_log_lines(cluster):
    queue = cluster.root / "coordination_queue"
    now = time.time_ns()
    forged = signing.signed({"id": "x"}, b"another secret")["signature"]
    for index in range(10_000):
        name = f"{now + index:019d}-{SENDER_ID}-all-{index:08x}"
        if index % 2:
            body = b"{not json"
        else:
            body = json.dumps({"id": name, "from_agent": SENDER_ID, "to_agent": None,
                               "message_type": "Note", "timestamp": "t", "payload": index,
                               "signature": forged}).encode()
        (queue / f".{name}").write_bytes(body)
        os.rename(queue / f".{name}", queue / f"{name}.json")
    cluster.assert_healthy()
    time.sleep(1.0)
    noisy = [line for daemon in (cluster.api, cluster.plain) for line in daemon.lines
             if "broadcast" in line or "rejected" in line]
    assert len(noisy) <= 12, "\n".join(noisy[:20])


def test_a_replayed_direct_message_is_delivered_once(cluster, tmp_path):
    other = prepare_root(tmp_path / "elsewhere", start=tmp_path)
    message = MessageQueue(other, SENDER_ID, KEY, max_bytes=1024, ttl_s=300).send(
        PLAIN_ID, "Note", "replay-me")
    body = (other.queue / f"{message.id}.json").read_bytes()
    target = cluster.root / "coordination_queue" / f"{message.id}.json"
    plant(target, body)
    first = cluster.plain
    first.wait_for_line("replay-me")
    for _ in range(2):
        plant(target, body)  # the same file put back: a replay within its TTL
        cluster.plain.wait_for_line("replayed copy")
        wait_until(lambda: not target.exists())
    cluster.plain.send(signal.SIGTERM)  # and after a restart
    assert cluster.plain.wait() == 0
    restarted = cluster.start_daemon("--instance-id", PLAIN_ID, env=ENV)
    restarted.wait_for_line("ready:")
    plant(target, body)
    restarted.wait_for_line("replayed copy")
    cluster.plain = restarted
    cluster.assert_healthy()
    assert sum("replay-me" in line for line in first.lines) == 1
    assert not any("replay-me" in line for line in restarted.lines)


def test_linked_registry_is_refused_by_readers_and_set_aside_by_instances(cluster, tmp_path):
    target = tmp_path / "elsewhere.json"
    target.write_text('{"version": 1, "instances": {}}')
    registry = cluster.root / "process_registry.json"
    temporary = cluster.root / ".link"
    os.symlink(target, temporary)
    os.rename(temporary, registry)
    result = cluster.run("instances")
    if result.returncode == 6:  # before the next heartbeat: refused in one line
        assert result.stderr.startswith("mnemosyne: error: refusing")
        assert len(result.stderr.strip().splitlines()) == 1
    wait_until(lambda: not registry.is_symlink(), what="the link set aside")
    assert target.read_text() == '{"version": 1, "instances": {}}'
    cluster.assert_healthy()


def test_serve_refuses_a_linked_registry_in_one_line(start_daemon, cli, tmp_path):
    cli("instances", env=ENV).ok()  # prepares the root
    target = tmp_path / "elsewhere.json"
    target.write_text('{"version": 1, "instances": {}}')
    os.symlink(target, cli.root / "process_registry.json")
    daemon = start_daemon("--instance-id", NEW_ID, env=ENV)
    assert daemon.wait() == 6
    errors = [line for line in daemon.lines if "error" in line]
    assert len(errors) == 1 and "symbolic link" in errors[0], daemon.lines
    result = cli("instances", env=ENV)
    assert result.returncode == 6 and len(result.stderr.strip().splitlines()) == 1, result


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: chown to another user")
def test_registry_of_another_user_is_refused_then_set_aside_as_root(cluster):
    registry = cluster.root / "process_registry.json"
    copy = cluster.root / ".foreign"
    shutil.copyfile(registry, copy)
    os.chown(copy, 65534, 65534)
    os.rename(copy, registry)
    result = cluster.run("instances")
    if result.returncode == 6:  # before the next heartbeat: refused in one line
        assert "belongs to user id 65534" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    wait_until(lambda: registry.stat().st_uid == os.geteuid(), what="the file set aside")
    cluster.assert_healthy()


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs mounted at a private path (needs root), unmounted at teardown."""
    with small_tmpfs(tmp_path / "small", "1m") as mountpoint:
        yield mountpoint


def test_a_full_disk_gives_exit_3_in_one_line_as_root(cli, start_daemon, full_disk):
    """Mounts a private tmpfs (root only); no machine-wide resource is shared."""
    env = {**ENV, "MNEMOSYNE_ROOT": str(full_disk / "coord")}
    cli("instances", env=env).ok()
    fill_file_system(full_disk / "filler")
    result = cli("send", "--to", NEW_ID, "--type", "Note", "--allow-offline", env=env)
    assert_one_line_error(result, 3, "coordination queue")
    daemon = start_daemon("--instance-id", NEW_ID, env=env)
    assert daemon.wait() == 3
    errors = [line for line in daemon.lines if "error" in line.lower()]
    assert len(errors) == 1 and "No space left" in errors[0], daemon.lines
    assert not any("Traceback" in line for line in daemon.lines)
