import json
import os
import subprocess
import sys

import pytest

from mnemosyne.coord import signing
from mnemosyne.coord.identity import process_start_time, this_host
from mnemosyne.coord.registry import ProcessRegistry, parse_timestamp, utc_timestamp
from mnemosyne.coord.root import prepare_root

KEY = b"k" * 32


@pytest.fixture
def root(tmp_path):
    return prepare_root(tmp_path / "coord", start=tmp_path)


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def entry(instance_id, pid, clock, **changes):
    fields = {"instance_id": instance_id, "pid": pid,
              "pid_start_time": process_start_time(pid) or 1,
              "hostname": this_host(), "registered_at": utc_timestamp(clock()),
              "last_heartbeat": utc_timestamp(clock()), "api_url": None,
              "worktree_path": None, "branch": None, "systemd_unit": None, "version": "t"}
    fields.update(changes)
    return fields


def test_timestamps_round_trip():
    assert parse_timestamp(utc_timestamp(1_800_000_000.25)) == 1_800_000_000.25
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(None) is None


def test_live_then_stale_by_heartbeat_age(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    registry.put(entry("a1b2c3d4", os.getpid(), clock))
    assert [view.state for view in registry.views()] == ["live"]
    clock.now += 31
    assert [view.state for view in registry.views()] == ["stale"]
    assert registry.remove_dead() == []


def test_dead_process_is_dead_and_removed(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    gone = dead_pid()
    registry.put(entry("deadbeef", gone, clock, pid_start_time=12345))
    assert registry.views()[0].state == "dead"
    assert registry.remove_dead() == ["deadbeef"]
    assert registry.entries() == {}


def test_reused_pid_is_not_taken_for_the_instance(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    start = process_start_time(os.getpid())
    registry.put(entry("0badc0de", os.getpid(), clock, pid_start_time=start - 1))
    assert registry.views()[0].state == "dead"


def test_tampered_and_forged_entries_are_unverified_and_never_live(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    good = registry.put(entry("a1b2c3d4", os.getpid(), clock))
    tampered = {**good, "api_url": "http://evil:1"}
    forged = signing.signed(entry("f0f0f0f0", os.getpid(), clock), b"wrong key")
    registry.document.update(lambda d: d["instances"].update(a1b2c3d4=tampered,
                                                              f0f0f0f0=forged))
    assert {view.instance_id: view.state for view in registry.views()} == {
        "a1b2c3d4": "unverified", "f0f0f0f0": "unverified"}
    # Alive (our own PID): never removed just because they cannot be verified.
    assert registry.remove_dead() == []


def test_unverified_entries_are_never_removed_even_when_provably_dead(root):
    """They may belong to instances sharing another secret (issue 10)."""
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    forged = signing.signed(entry("f0f0f0f0", dead_pid(), clock, pid_start_time=1), b"other")
    registry.document.update(lambda d: d["instances"].update(f0f0f0f0=forged))
    view = registry.views()[0]
    assert (view.state, view.provably_dead) == ("unverified", True)
    assert registry.remove_dead() == []
    assert list(registry.entries()) == ["f0f0f0f0"]


def test_other_hosts_are_judged_by_heartbeat_only(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    registry.put(entry("0e0e0e0e", dead_pid(), clock, hostname="elsewhere"))
    assert registry.views()[0].state == "live"
    clock.now += 100
    assert registry.views()[0].state == "stale"
    assert registry.remove_dead() == []


def test_view_json_has_state_and_no_signature(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    registry.put(entry("a1b2c3d4", os.getpid(), clock))
    clock.now += 2
    data = registry.views()[0].to_dict()
    assert "signature" not in data
    assert (data["state"], data["heartbeat_age_s"], data["age_s"]) == ("live", 2.0, 2.0)


def test_hostile_instance_ids_never_reach_the_filesystem(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    hostile = signing.signed(entry("../../etc", dead_pid(), clock, pid_start_time=1), KEY)
    with pytest.raises(ValueError, match="invalid entry"):
        registry.put(hostile)
    (root.path / "process_registry.json").write_text(
        json.dumps({"version": 1, "instances": {"../../etc": hostile}}))
    assert registry.views() == []
    assert "invalid item" in registry.problems[0]


@pytest.mark.parametrize(("key", "changes", "problem"), [
    ("a1b2c3d4", {"pid": 10**20}, "pid is not an integer"),
    ("a1b2c3d4", {"pid": 0}, "pid is not an integer"),
    ("a1b2c3d4", {"pid": True}, "pid is not an integer"),
    ("a1b2c3d4", {"pid_start_time": None}, "pid_start_time"),
    ("a1b2c3d4", {"pid_start_time": -1}, "pid_start_time"),
    ("deadbeef", {}, "key other than its instance_id"),
    ("a1b2c3d4", {"hostname": "a b"}, "hostname"),
    ("a1b2c3d4", {"last_heartbeat": "soon"}, "last_heartbeat"),
    ("a1b2c3d4", {"api_url": "javascript:alert(1)"}, "api_url"),
    ("a1b2c3d4", {"api_url": "http://user@evil.example/"}, "api_url"),
    ("a1b2c3d4", {"api_url": "http://127.0.0.1:3000/ x"}, "api_url"),
    ("a1b2c3d4", {"worktree_path": "x" * 5000}, "worktree_path"),
    ("a1b2c3d4", {"signature": 7}, "signature"),
    ("a1b2c3d4", {"extra": [[1]]}, "unknown fields"),
])
def test_entry_problems(key, changes, problem):
    from mnemosyne.coord.registry import entry_problem  # noqa: PLC0415

    fields = {**entry("a1b2c3d4", os.getpid(), Clock(), api_url="http://127.0.0.1:3000"),
              **changes}
    assert problem in entry_problem(key, fields)
    assert entry_problem("a1b2c3d4", entry("a1b2c3d4", os.getpid(), Clock())) is None


def test_invalid_entries_are_ignored_then_set_aside_once(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    registry.put(entry("a1b2c3d4", os.getpid(), clock))
    good = registry.entries()["a1b2c3d4"]
    path = root.path / "process_registry.json"
    data = json.loads(path.read_text())
    data["instances"]["deadbeef"] = good  # filed under another key
    data["instances"]["0badf00d"] = {**good, "instance_id": "0badf00d", "pid": 10**20}
    path.write_text(json.dumps(data))
    assert [view.instance_id for view in registry.views()] == ["a1b2c3d4"]
    assert "2 invalid item(s)" in registry.problems[0]
    registry.put(entry("b1b2c3d4", os.getpid(), clock))
    aside = list(root.path.glob("process_registry.json.invalid-*"))
    assert len(aside) == 1
    assert {item["key"] for item in json.loads(aside[0].read_text())["dropped"]} == {
        "deadbeef", "0badf00d"}
    assert set(json.loads(path.read_text())["instances"]) == {"a1b2c3d4", "b1b2c3d4"}
    assert registry.set_aside_files() == [aside[0].name]


def test_a_linked_registry_is_refused_by_readers_and_set_aside_by_writers(root, tmp_path):
    from mnemosyne.errors import UnsafeError  # noqa: PLC0415

    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    (tmp_path / "target.json").write_text('{"version": 1, "instances": {}}')
    os.symlink(tmp_path / "target.json", root.path / "process_registry.json")
    with pytest.raises(UnsafeError, match="symbolic link"):
        registry.entries(refuse_unsafe=True)
    with pytest.raises(UnsafeError, match="symbolic link"):
        registry.put(entry("a1b2c3d4", os.getpid(), clock), refuse_unsafe=True)
    assert registry.entries() == {}
    registry.put(entry("a1b2c3d4", os.getpid(), clock))
    assert not (root.path / "process_registry.json").is_symlink()
    assert (tmp_path / "target.json").read_text() == '{"version": 1, "instances": {}}'


def test_remove_dead_can_be_limited_to_named_entries(root):
    clock = Clock()
    registry = ProcessRegistry(root, KEY, 30.0, clock)
    registry.put(entry("d1d1d1d1", dead_pid(), clock, pid_start_time=1))
    registry.put(entry("d2d2d2d2", dead_pid(), clock, pid_start_time=1))
    assert registry.remove_dead(only={"d2d2d2d2", "ffffffff"}) == ["d2d2d2d2"]
    assert list(registry.entries()) == ["d1d1d1d1"]
