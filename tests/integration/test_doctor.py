"""`mnemosyne doctor` beside real instances, real git worktrees and files crashes leave behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mnemosyne.coord import signing
from mnemosyne.coord.identity import process_start_time, this_host
from mnemosyne.coord.registry import utc_timestamp
from tests.helpers import assert_one_line_error, run_git

FAST = {"MNEMOSYNE_HEARTBEAT_INTERVAL_S": "0.2", "MNEMOSYNE_STALE_THRESHOLD_S": "3"}
IN_REPO = {**FAST, "MNEMOSYNE_ROOT": ""}  # the root is the repository's .mnemosyne
DAY_S = 86400


def doctor(cli, *args, cwd=None, env=None):
    return cli("doctor", "--json", *args, cwd=cwd, env={**IN_REPO, **(env or {})})


def report(result):
    return json.loads(result.stdout)


def statuses(document, check):
    return [(item["status"], item["message"]) for item in document["checks"]
            if item["name"] == check]


def snapshot(root: Path) -> dict[str, tuple[int, float]]:
    """Every path under the root with its mode and modification time (but the registry,
    which the live instances' heartbeats rewrite)."""
    return {str(path.relative_to(root)): (path.lstat().st_mode, path.lstat().st_mtime)
            for path in root.rglob("*")
            if ".git" not in path.parts and path.name != "process_registry.json"}


def heartbeats(root: Path) -> dict[str, str]:
    data = json.loads((root / "process_registry.json").read_text())
    return {key: entry["last_heartbeat"] for key, entry in data["instances"].items()}


def crash(daemon):
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.wait()


def test_doctor_repairs_what_crashes_leave_and_never_touches_live_or_hung_instances(
        start_daemon, cli, git_repo, isolated_env):
    root = git_repo / ".mnemosyne"
    # The instances keep messages an hour, doctor (default TTL) five minutes: the expired
    # messages planted below are left for doctor, not deleted on sight by a live instance.
    start = {"env": {**IN_REPO, "MNEMOSYNE_MESSAGE_TTL_S": "3600"}, "cwd": git_repo}
    live = start_daemon("--instance-id", "11111111", "--worktree", "always", "--with-api",
                        "--api-addr", "127.0.0.1:0", **start)
    hung = start_daemon("--instance-id", "22222222", "--worktree", "always", **start)
    clean = start_daemon("--instance-id", "d1d1d1d1", "--worktree", "always", **start)
    dirty = start_daemon("--instance-id", "d2d2d2d2", "--worktree", "always", **start)
    committed = start_daemon("--instance-id", "d3d3d3d3", "--worktree", "always", **start)
    plain = start_daemon("--instance-id", "d4d4d4d4", "--worktree", "never", **start)
    for daemon in (live, hung, clean, dirty, committed, plain):
        daemon.wait_for_line("ready:")
    # Unsaved work in two worktrees of instances about to crash.
    (root / "worktrees" / "d2d2d2d2" / "notes.txt").write_text("unsaved\n")
    (root / "worktrees" / "d3d3d3d3" / "new.txt").write_text("committed\n")
    run_git("add", "new.txt", cwd=root / "worktrees" / "d3d3d3d3")
    run_git("commit", "-q", "-m", "work", cwd=root / "worktrees" / "d3d3d3d3")
    for daemon in (clean, dirty, committed, plain):
        crash(daemon)
    # A message waiting for a crashed instance, within its TTL (an expired one is planted).
    cli("send", "--to", "d1d1d1d1", "--type", "Waiting", "--allow-offline", cwd=git_repo,
        env=IN_REPO).ok()
    hung.send(signal.SIGSTOP)
    try:
        _plant_leftovers(root, isolated_env)
        time.sleep(3.5)  # the hung one's heartbeat goes stale
        before = snapshot(root)

        found = doctor(cli, cwd=git_repo)
        assert found.returncode == 4, found.stdout + found.stderr
        assert snapshot(root) == before  # report-only changes nothing
        document = report(found)
        assert document["status"] == "problems"
        registry = statuses(document, "registry")
        assert any(status == "problem" and "5 dead" in message for status, message in registry), \
            found.stdout
        assert any(status == "warn" and "22222222" in message and "hung" in message
                   for status, message in registry)
        assert any(status == "warn" and "does not verify" in message
                   for status, message in registry)

        fixed = doctor(cli, "--fix", cwd=git_repo)
        document = report(fixed)
        assert fixed.returncode == 1, fixed.stdout  # only kept things and warnings remain
        assert any(status == "fixed" and "4 message(s) older than the message TTL" in message
                   for status, message in statuses(document, "queue")), fixed.stdout
        worktrees = statuses(document, "worktrees")
        assert any(status == "fixed" and "d1d1d1d1" in message for status, message in worktrees)
        kept = {message.split()[1]: message for status, message in worktrees
                if status == "kept"}
        assert "uncommitted" in kept[str(root / "worktrees" / "d2d2d2d2")]
        assert "on branch mnemosyne/d3d3d3d3 and no other branch" in \
            kept[str(root / "worktrees" / "d3d3d3d3")]
        assert (root / "worktrees" / "d2d2d2d2" / "notes.txt").read_text() == "unsaved\n"
        assert not (root / "worktrees" / "d1d1d1d1").exists()
        assert "mnemosyne/d1d1d1d1" in run_git("branch", "--list", cwd=git_repo)  # kept
        left = json.loads((root / "process_registry.json").read_text())["instances"]
        assert {"11111111", "22222222", "0badf00d"} <= set(left)
        assert not {"d1d1d1d1", "d4d4d4d4", "deadbeef"} & set(left)
        assert not (root / "cursors" / "d4d4d4d4.json").exists()
        assert not (root / "locks" / "d4d4d4d4.lock").exists()
        assert (root / "locks" / "11111111.lock").exists()
        assert (root / "locks" / "22222222.lock").exists()
        assert (root / "worktrees" / "22222222").is_dir()
        queue = sorted(os.listdir(root / "coordination_queue"))
        assert len(queue) == 1 and "-d1d1d1d1-" in queue[0]  # waiting, within its TTL
        assert sorted(os.listdir(root / "rejected")) == ["junk.txt", "recent"]
        assert oct((root / "rejected" / "junk.txt").stat().st_mode & 0o777) == "0o600"
        assert "branch_registry" not in "".join(os.listdir(root)) or \
            "d1d1d1d1" not in (root / "branch_registry.json").read_text()

        again = doctor(cli, "--fix", cwd=git_repo)
        assert not [item for item in report(again)["checks"] if item["fixed"]], again.stdout
    finally:
        hung.send(signal.SIGCONT)
    # Live instances kept working all along: heartbeats, API, worktree, messages.
    first = heartbeats(root)["11111111"]
    time.sleep(0.5)
    assert heartbeats(root)["11111111"] != first
    cli("send", "--to", "11111111", "--type", "After", cwd=git_repo, env=IN_REPO).ok()
    live.wait_for_line("message After")
    assert (root / "worktrees" / "11111111").is_dir()
    assert report(doctor(cli, "api", cwd=git_repo))["status"] == "healthy"


def _plant_leftovers(root: Path, isolated_env):
    """A reused PID's entry, a forged one, old and odd files in the queue and rejected/."""
    key = signing.load_key(None, Path(isolated_env["XDG_CONFIG_HOME"]) / "mnemosyne")
    now = utc_timestamp(time.time())
    me = os.getpid()
    base = {"hostname": this_host(), "registered_at": now, "last_heartbeat": now,
            "api_url": None, "worktree_path": None, "branch": None, "systemd_unit": None,
            "version": "t"}
    reused = signing.signed({**base, "instance_id": "deadbeef", "pid": me,
                             "pid_start_time": process_start_time(me) + 1}, key)
    forged = signing.signed({**base, "instance_id": "0badf00d", "pid": 999999,
                             "pid_start_time": 1}, b"another secret")
    path = root / "process_registry.json"
    data = json.loads(path.read_text())
    data["instances"].update(deadbeef=reused, **{"0badf00d": forged})
    path.write_text(json.dumps(data))
    queue = root / "coordination_queue"
    old_ns = time.time_ns() - 2000 * 10**9
    (queue / f"{old_ns:019d}-aaaaaaaa-d4d4d4d4-00000001.json").write_text("{}")
    # Forged, oversized and foreign-mode messages to a crashed instance, long expired: doctor
    # judges messages by name and age only, never by reading them.
    forged_name = f"{old_ns + 1:019d}-aaaaaaaa-d4d4d4d4-00000002"
    (queue / f"{forged_name}.json").write_text(json.dumps(signing.signed(
        {"id": forged_name, "from_agent": "aaaaaaaa", "to_agent": "d4d4d4d4",
         "message_type": "X", "timestamp": "t", "payload": None}, b"another secret")))
    (queue / f"{old_ns + 2:019d}-aaaaaaaa-d4d4d4d4-00000003.json").write_bytes(b"x" * 10**6)
    foreign = queue / f"{old_ns + 3:019d}-aaaaaaaa-d4d4d4d4-00000004.json"
    foreign.write_text("{}")
    foreign.chmod(0o666)
    (queue / "junk.txt").write_text("not a message")
    (queue / "junk.txt").chmod(0o644)
    (root / "rejected" / "ancient").write_text("x")
    os.utime(root / "rejected" / "ancient", (time.time() - 8 * DAY_S,) * 2)
    (root / "rejected" / "recent").write_text("x")
    (root / "cursors" / "d4d4d4d4.json").write_text("{}")


def test_cleanup_stale_only_touches_the_registry_side(start_daemon, cli, git_repo):
    root = git_repo / ".mnemosyne"
    crashed = start_daemon("--instance-id", "d1d1d1d1", "--worktree", "always", env=IN_REPO,
                           cwd=git_repo)
    crashed.wait_for_line("ready:")
    crash(crashed)
    result = doctor(cli, "--cleanup-stale", cwd=git_repo)
    document = report(result)
    assert {item["name"] for item in document["checks"]} == {"registry", "branches", "queue"}
    assert "d1d1d1d1" not in json.loads((root / "process_registry.json").read_text())["instances"]
    assert (root / "worktrees" / "d1d1d1d1").is_dir()  # worktrees are --fix's
    assert not (root / "locks" / "d1d1d1d1.lock").exists()
    assert result.returncode == 0, result.stdout


def test_corrupt_registries_and_hostile_files_are_findings_not_tracebacks(cli, git_repo):
    root = git_repo / ".mnemosyne"
    cli("instances", cwd=git_repo, env=IN_REPO).ok()
    (root / "process_registry.json").write_bytes(b"{not json")
    (root / "branch_registry.json").write_bytes(b"\xff" * 10)
    os.mkfifo(root / "coordination_queue" / "fifo.json")
    os.symlink("/etc/passwd", root / "rejected" / "link")
    (root / "worktrees" / "notanid").mkdir()
    result = doctor(cli, cwd=git_repo)
    assert result.returncode == 4 and "Traceback" not in result.stdout + result.stderr
    messages = " ".join(item["message"] for item in report(result)["checks"])
    assert "process_registry.json is unusable" in messages
    assert "branch_registry.json is unusable" in messages
    fixed = doctor(cli, "--fix", cwd=git_repo)
    assert "Traceback" not in fixed.stdout + fixed.stderr
    assert list(root.glob("process_registry.json.corrupt-*"))
    assert list(root.glob("branch_registry.json.corrupt-*"))
    assert not (root / "coordination_queue" / "fifo.json").exists()
    assert Path("/etc/passwd").exists()
    assert (root / "worktrees" / "notanid").is_dir()


def test_exit_status_text_report_and_usage_errors(cli, tmp_path, isolated_env):
    plain = tmp_path / "plain"
    plain.mkdir()
    healthy = cli("doctor", cwd=plain)
    assert healthy.returncode == 0, healthy.stdout
    assert healthy.stdout.splitlines()[-1].startswith("doctor: healthy (")
    assert "\033[" not in healthy.stdout  # colour only on a terminal
    listed = cli("doctor", "--list-checks").ok().stdout.split()
    assert {"root", "registry", "branches", "queue", "worktrees", "systemd", "api",
            "config"} <= set(listed)
    assert_one_line_error(cli("doctor", "nosuchcheck"), 2, "unknown check 'nosuchcheck'")
    assert_one_line_error(cli("doctor", "--fixx"), 2, "unrecognized arguments")
    config = Path(isolated_env["XDG_CONFIG_HOME"]) / "mnemosyne" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("heartbeat_interval_s = 'often'\n")
    broken = cli("doctor", "config", cwd=plain)
    assert broken.returncode == 4, broken.stdout + broken.stderr
    assert "invalid configuration: heartbeat_interval_s" in broken.stdout
    verbose = cli("doctor", "-v", "root", cwd=plain)
    assert verbose.returncode == 0


def test_the_json_document_keeps_its_schema(cli, tmp_path):
    document = json.loads(cli("doctor", "--json", cwd=tmp_path).stdout)
    assert set(document) == {"version", "status", "checks", "summary"}
    assert document["version"] == 1
    assert document["status"] in ("healthy", "warnings", "problems")
    assert set(document["summary"]) == {"ok", "skipped", "fixed", "warn", "kept", "problem"}
    for item in document["checks"]:
        assert set(item) == {"name", "status", "message", "details", "fixed", "root"}
        assert isinstance(item["details"], dict) and isinstance(item["fixed"], bool)


def test_two_doctors_at_once_are_safe(cli, start_daemon, git_repo, isolated_env):
    root = git_repo / ".mnemosyne"
    for index in range(6):
        daemon = start_daemon("--instance-id", f"d{index}d{index}d{index}d{index}",
                              "--worktree", "always", env=IN_REPO, cwd=git_repo)
        daemon.wait_for_line("ready:")
        crash(daemon)
    children = [subprocess.Popen([sys.executable, "-m", "mnemosyne", "doctor", "--json",
                                  "--fix"], cwd=git_repo, env={**isolated_env, **IN_REPO},
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
    outputs = [child.communicate(timeout=60) for child in children]
    assert all("Traceback" not in out + err for out, err in outputs)
    assert [child.returncode for child in children] == [0, 0], outputs
    assert os.listdir(root / "worktrees") == []
    assert json.loads((root / "process_registry.json").read_text())["instances"] == {}


def test_all_roots_reaches_the_roots_of_instances_started_elsewhere(start_daemon, cli, git_repo,
                                                                    isolated_env, tmp_path):
    """As the timer does: started in the home directory, it still cleans a repository's root
    and the state directory's, and forgets indexed roots that are gone."""
    home = Path(isolated_env["HOME"])
    elsewhere = tmp_path / "gone-root"
    in_home = start_daemon("--instance-id", "a0a0a0a0", env=IN_REPO, cwd=home)
    in_repo = start_daemon("--instance-id", "b0b0b0b0", env=IN_REPO, cwd=git_repo)
    temporary = start_daemon("--instance-id", "c0c0c0c0", env={**FAST,
                             "MNEMOSYNE_ROOT": str(elsewhere)}, cwd=home)
    for daemon in (in_home, in_repo, temporary):
        daemon.wait_for_line("ready:")
        crash(daemon)
    subprocess.run(["rm", "-rf", str(elsewhere)], check=True)
    only_here = doctor(cli, "--cleanup-stale", cwd=home)
    assert {item["root"] for item in report(only_here)["checks"]} == \
        {str(Path(isolated_env["XDG_STATE_HOME"]) / "mnemosyne")}
    assert "a0a0a0a0" in only_here.stdout
    everywhere = doctor(cli, "--fix", "--all-roots", cwd=home)
    document = report(everywhere)
    removed = [item["details"].get("ids") for item in document["checks"]
               if item["name"] == "registry" and item["fixed"]]
    assert removed == [["b0b0b0b0"]]  # a0a0a0a0 went with the first run, in its own root
    assert any(item["fixed"] and "no longer exists" in item["message"]
               for item in document["checks"])
    listed = cli("instances", "--all-roots", "--format", "json", cwd=home, env=IN_REPO)
    assert json.loads(listed.stdout) == []
    assert "no longer exists" not in doctor(cli, "--all-roots", cwd=home).stdout
