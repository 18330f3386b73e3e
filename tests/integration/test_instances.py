"""Real `mnemosyne serve` processes sharing one coordination directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnemosyne.coord import signing
from mnemosyne.coord.identity import process_start_time, this_host
from mnemosyne.coord.registry import utc_timestamp
from tests.helpers import assert_one_line_error, run_git

FAST = {"MNEMOSYNE_HEARTBEAT_INTERVAL_S": "0.2"}


def instances(cli, *args, env=None):
    return {view["instance_id"]: view
            for view in json.loads(cli("instances", "--format", "json", *args,
                                       env=env).ok().stdout)}


def wait_until(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_serve_registers_heartbeats_and_leaves(start_daemon, cli):
    daemon = start_daemon("--instance-id", "a1b2c3d4", env=FAST)
    daemon.wait_for_line("ready:")
    view = instances(cli)["a1b2c3d4"]
    assert (view["state"], view["pid"]) == ("live", daemon.process.pid)
    first_beat = view["last_heartbeat"]
    wait_until(lambda: instances(cli)["a1b2c3d4"]["last_heartbeat"] != first_beat)
    assert "[a1b2c3d4]" in daemon.wait_for_line("ready:")
    text = cli("instances").ok().stdout.splitlines()
    assert text[0].split()[:3] == ["ID", "PID", "STATE"]
    assert text[1].split()[:3] == ["a1b2c3d4", str(daemon.process.pid), "live"]
    daemon.send(signal.SIGTERM)
    assert daemon.wait() == 0
    assert instances(cli, "--all") == {}


def test_sixteen_instances_heartbeating_lose_no_entry(start_daemon, cli):
    daemons = [start_daemon(env=FAST) for _ in range(16)]
    for daemon in daemons:
        daemon.wait_for_line("ready:")
    time.sleep(1.0)  # five heartbeats each, all rewriting the same registry file
    views = instances(cli)
    assert len(views) == 16
    assert {view["state"] for view in views.values()} == {"live"}
    assert {view["pid"] for view in views.values()} == {d.process.pid for d in daemons}
    for daemon in daemons:
        daemon.send(signal.SIGTERM)
    assert [daemon.wait() for daemon in daemons] == [0] * 16
    assert instances(cli, "--all") == {}


def test_sigkill_is_seen_by_the_next_reader(start_daemon, cli):
    daemon = start_daemon("--instance-id", "0000dead")
    daemon.wait_for_line("ready:")
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.wait()
    assert "0000dead" not in instances(cli)
    assert instances(cli, "--all")["0000dead"]["state"] == "dead"


def test_serve_removes_dead_entries_when_it_starts(start_daemon, cli):
    crashed = start_daemon("--instance-id", "0000dead")
    crashed.wait_for_line("ready:")
    os.kill(crashed.process.pid, signal.SIGKILL)
    crashed.wait()
    fresh = start_daemon("--instance-id", "0000beef")
    fresh.wait_for_line("ready:")
    assert any("removed 1 dead instance(s) from the registry: 0000dead" in line
               for line in fresh.lines)
    assert list(instances(cli, "--all")) == ["0000beef"]


def test_a_second_instance_with_a_live_id_is_refused(start_daemon, cli):
    first = start_daemon("--instance-id", "a1b2c3d4")
    first.wait_for_line("ready:")
    second = start_daemon("--instance-id", "a1b2c3d4")
    assert second.wait() == 7
    assert second.lines[-1] == ("mnemosyne: error: instance a1b2c3d4 is already running "
                                f"(its lock {cli.root}/locks/a1b2c3d4.lock is held)")
    assert instances(cli)["a1b2c3d4"]["pid"] == first.process.pid


def signed_entry(isolated_env, **fields):
    key = signing.load_key(None, Path(isolated_env["XDG_CONFIG_HOME"]) / "mnemosyne")
    now = utc_timestamp(time.time())
    entry = {"instance_id": "deadbeef", "pid": 1, "pid_start_time": 1,
             "hostname": this_host(), "registered_at": now, "last_heartbeat": now,
             "api_url": None, "worktree_path": None, "branch": None, "systemd_unit": None,
             "version": "t", **fields}
    return signing.signed(entry, key), key


def write_registry(root: Path, entries):
    (root / "process_registry.json").write_text(json.dumps(
        {"version": 1, "instances": {entry["instance_id"]: entry for entry in entries}}))


def test_a_reused_pid_is_not_shown_as_live(cli, isolated_env):
    cli("instances").ok()  # creates the root and the secret
    unrelated = subprocess.Popen(["sleep", "30"])
    try:
        start = process_start_time(unrelated.pid)
        entry, _ = signed_entry(isolated_env, pid=unrelated.pid, pid_start_time=start + 1)
        write_registry(cli.root, [entry])
        assert instances(cli, "--all")["deadbeef"]["state"] == "dead"
        entry, _ = signed_entry(isolated_env, pid=unrelated.pid, pid_start_time=start)
        write_registry(cli.root, [entry])
        assert instances(cli)["deadbeef"]["state"] == "live"  # same process: believed
    finally:
        unrelated.kill()
        unrelated.wait()


def test_forged_and_tampered_entries_are_unverified(cli, isolated_env):
    cli("instances").ok()
    good, _ = signed_entry(isolated_env, instance_id="600d600d", pid=os.getpid(),
                           pid_start_time=process_start_time(os.getpid()))
    tampered = {**good, "instance_id": "7a7a7a7a", "api_url": "http://127.0.0.1:9"}
    forged = signing.signed({**good, "instance_id": "f0f0f0f0"}, b"attacker")
    write_registry(cli.root, [good, tampered, forged])
    states = {key: view["state"] for key, view in instances(cli).items()}
    assert states == {"600d600d": "live", "7a7a7a7a": "unverified", "f0f0f0f0": "unverified"}


def test_two_secrets_coexist_without_erasing_each_other(start_daemon, cli):
    one = start_daemon("--instance-id", "aaaa0001", env={**FAST, "MNEMOSYNE_SHARED_SECRET": "1"})
    two = start_daemon("--instance-id", "bbbb0002", env={**FAST, "MNEMOSYNE_SHARED_SECRET": "2"})
    one.wait_for_line("ready:")
    two.wait_for_line("ready:")
    time.sleep(1.0)
    seen_by_one = instances(cli, env={"MNEMOSYNE_SHARED_SECRET": "1"})
    assert {key: view["state"] for key, view in seen_by_one.items()} == {
        "aaaa0001": "live", "bbbb0002": "unverified"}
    seen_by_two = instances(cli, env={"MNEMOSYNE_SHARED_SECRET": "2"})
    assert seen_by_two["bbbb0002"]["state"] == "live"


def test_a_corrupt_registry_is_set_aside_and_rebuilt_by_live_instances(start_daemon, cli):
    daemons = [start_daemon("--instance-id", f"c0c0c0c{index}", env=FAST) for index in range(3)]
    for daemon in daemons:
        daemon.wait_for_line("ready:")
    (cli.root / "process_registry.json").write_text('{"version": 1, "instan')
    wait_until(lambda: len(instances(cli)) == 3)
    assert len(list(cli.root.glob("process_registry.json.corrupt-*"))) == 1
    assert any("was corrupt" in line for daemon in daemons for line in daemon.lines)


def test_unsafe_root_and_bad_ids_fail_cleanly(cli, start_daemon, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert_one_line_error(cli("instances", "--root", str(tmp_path / "link")), 6,
                          "symbolic link")
    bad = start_daemon("--instance-id", "NOT-HEX")
    assert bad.wait() == 2
    assert bad.lines == ["mnemosyne: error: invalid instance id 'NOT-HEX': use 8 lowercase "
                         "hex digits, e.g. a1b2c3d4"]


def test_root_is_found_from_a_linked_worktree(cli, git_repo, tmp_path):
    linked = tmp_path / "linked"
    run_git("worktree", "add", "-q", "-b", "other", str(linked), cwd=git_repo)
    no_root = {"MNEMOSYNE_ROOT": ""}  # empty counts as unset
    cli("instances", env=no_root, cwd=linked / "src" / "deep").ok()
    assert (git_repo / ".mnemosyne" / "locks").is_dir()
    assert not (linked / ".mnemosyne").exists()
    assert run_git("status", "--porcelain", cwd=git_repo) == ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_releases_the_id_for_a_restart(start_daemon, cli, signum):
    first = start_daemon("--instance-id", "5a5a5a5a")
    first.wait_for_line("ready:")
    first.send(signum)
    assert first.wait() == 0
    again = start_daemon("--instance-id", "5a5a5a5a")
    again.wait_for_line("ready:")


def test_every_file_an_instance_writes_is_private_under_umask_000(cli, isolated_env, tmp_path):
    umask_000 = ("sh", "-c", "umask 000; exec \"$@\"", "sh")
    env = {**isolated_env, **FAST}
    command = [*umask_000, sys.executable, "-m", "mnemosyne", "--db",
               str(tmp_path / "d" / "m.db"), "serve", "--instance-id", "a0a0a0a0"]
    daemon = subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        wait_until(lambda: "a0a0a0a0" in instances(cli))
        cli("send", "--to", "b0b0b0b0", "--type", "Note", "--allow-offline",
            prefix=umask_000).ok()
        time.sleep(0.5)
        secret = Path(isolated_env["XDG_CONFIG_HOME"]) / "mnemosyne" / "secret"
        paths = [*cli.root.rglob("*"), secret]
        for path in paths:
            mode = path.stat().st_mode & 0o777
            assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
        assert len(paths) > 8
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        assert daemon.wait(10) == 0
        daemon.stderr.close()
