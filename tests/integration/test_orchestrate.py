"""`mnemosyne orchestrate`: real plans run by real worker instances in a real git repository."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnemosyne.coord.identity import process_start_time
from tests.helpers import SseClient, assert_one_line_error, run_git


def write_plan(path: Path, name: str, tasks: list[dict]) -> Path:
    path.write_text(json.dumps({"name": name, "tasks": tasks}))
    return path


def status(cli, cwd, plan=None):
    result = cli("orchestrate", "status", *([plan] if plan else []), "--format", "json", cwd=cwd)
    return {row["id"]: row for row in json.loads(result.ok().stdout)["tasks"]}


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def start_orchestrate(isolated_env, db_path, cwd, *args):
    command = [sys.executable, "-m", "mnemosyne", "--db", str(db_path), "orchestrate", *args]
    return subprocess.Popen(command, env=isolated_env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def reap(process: subprocess.Popen) -> tuple[str, str]:
    try:
        return process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def log_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_diamond_runs_in_order_once_each_in_clean_worktrees(cli, git_repo, tmp_path):
    log = tmp_path / "log"
    step = f"echo $MNEMOSYNE_TASK_ID >> {log}; sleep 0.2"
    plan = write_plan(tmp_path / "plan.json", "diamond", [
        {"id": "a", "command": step},
        {"id": "b", "depends_on": ["a"], "command": ["sh", "-c", step]},
        {"id": "c", "depends_on": ["a"], "command": step},
        {"id": "d", "depends_on": ["b", "c"],
         "command": step + "; git rev-parse --abbrev-ref HEAD"},
    ])
    assert cli("orchestrate", "--plan", str(plan), "--dry-run", cwd=git_repo).ok().stdout == \
        "wave 1: a\nwave 2: b c\nwave 3: d\n"
    result = cli("orchestrate", "--plan", str(plan), "--workers", "2", cwd=git_repo).ok()
    assert "finished: 4/4 done" in result.stdout
    assert sorted(log_lines(log)) == ["a", "b", "c", "d"]
    assert log_lines(log)[0] == "a" and log_lines(log)[-1] == "d"
    rows = status(cli, git_repo, "diamond")
    assert all(row["state"] == "done" and row["attempts"] == 1 for row in rows.values())
    for task, needs in {"b": ["a"], "c": ["a"], "d": ["b", "c"]}.items():
        assert all(rows[task]["started_ns"] >= rows[need]["finished_ns"] for need in needs)
    assert rows["d"]["output_tail"].endswith("mnemosyne/task/diamond/d\n")
    assert len({rows[task]["worker"] for task in "abcd"}) >= 1
    listed = run_git("worktree", "list", "--porcelain", cwd=git_repo)
    assert listed.count("worktree ") == 1  # every clean task worktree was removed
    memories = json.loads(cli("list", "-n", "project:repo", "--format", "json").ok().stdout)
    assert sorted(m["summary"] for m in memories) == [f"diamond/{t}: done" for t in "abcd"]
    again = cli("orchestrate", "--plan", str(plan), "--workers", "1", cwd=git_repo).ok()
    assert "resumed, 4/4 done" in again.stdout and len(log_lines(log)) == 4


@pytest.mark.parametrize(("plan", "fragment"), [
    ({"name": "p", "tasks": [{"id": "x", "depends_on": ["y"], "command": "touch ran"},
                             {"id": "y", "depends_on": ["x"], "command": "touch ran"}]},
     "$.tasks[0].depends_on: cycle: x -> y -> x"),
    ({"name": "p", "tasks": [{"id": "x", "command": "touch ran", "colour": "red"}]},
     "$.tasks[0].colour: unknown key"),
    ({"name": "p", "tasks": [{"id": "x"}]}, "$.tasks[0].command: missing"),
    ({"name": "p", "tasks": [{"id": "x", "command": "touch ran"},
                             {"id": "x", "command": "touch ran"}]}, "duplicate id"),
])
def test_invalid_plans_exit_2_before_anything_runs(cli, tmp_path, plan, fragment):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    result = cli("orchestrate", "--plan", str(path), cwd=tmp_path)
    assert_one_line_error(result, 2, fragment)
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "data").exists()  # not even the database was opened
    stdin = cli("orchestrate", "--plan", "-", "--dry-run", input=json.dumps(plan), cwd=tmp_path)
    assert_one_line_error(stdin, 2, "stdin: ")


def test_schema_and_usage(cli, tmp_path):
    schema = json.loads(cli("orchestrate", "--schema").ok().stdout)
    assert schema["required"] == ["name", "tasks"]
    assert_one_line_error(cli("orchestrate"), 2, "--plan")
    cli("list").ok()  # the database exists: its migration is not logged again
    assert_one_line_error(cli("orchestrate", "status", "nope"), 5, "no plan named 'nope'")


def test_a_failure_skips_its_dependents_and_exits_1(cli, tmp_path):
    plan = write_plan(tmp_path / "plan.json", "failing", [
        {"id": "a", "command": ["false"], "retries": 1},
        {"id": "b", "depends_on": ["a"], "command": "true"},
        {"id": "c", "command": "true"},
    ])
    result = cli("orchestrate", "--plan", str(plan), "--workers", "1", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    rows = status(cli, tmp_path)
    assert (rows["a"]["state"], rows["a"]["attempts"]) == ("failed", 2)
    assert (rows["b"]["state"], rows["c"]["state"]) == ("skipped", "done")


def test_accept_work_instances_survive_one_killed_mid_task(cli, start_daemon, isolated_env,
                                                           db_path, tmp_path):
    log = tmp_path / "log"
    plan = write_plan(tmp_path / "plan.json", "killed", [
        {"id": "long", "command": f"echo start >> {log}; sleep 2; echo end >> {log}"},
        {"id": "after", "depends_on": ["long"], "command": f"echo after >> {log}"},
    ])
    ids = ["a0000001", "a0000002", "a0000003"]
    daemons = {i: start_daemon("--accept-work", "--instance-id", i, cwd=tmp_path) for i in ids}
    for daemon in daemons.values():
        daemon.wait_for_line("ready:")
    orchestrator = start_orchestrate(isolated_env, db_path, tmp_path, "--plan", str(plan),
                                     "--workers", "0")
    try:
        first = wait_for(lambda: (row := status(cli, tmp_path).get("long")) and
                         row["state"] == "running" and row["pid"] and row)
        victim = daemons[first["worker"]]
        victim.send(signal.SIGKILL)
        victim.wait()
        out, err = reap(orchestrator)
    finally:
        reap(orchestrator)
    assert orchestrator.returncode == 0, (out, err)
    rows = status(cli, tmp_path)
    assert rows["long"]["worker"] != first["worker"] and rows["long"]["attempts"] == 1
    assert log_lines(log).count("end") == 1 and log_lines(log)[-1] == "after"
    assert "its worker died" in out or log_lines(log).count("start") == 2
    assert process_start_time(first["pid"]) is None  # the dead worker's task was killed


def test_the_orchestrator_killed_and_resumed_repeats_nothing(cli, isolated_env, db_path,
                                                             tmp_path):
    log = tmp_path / "log"
    plan = write_plan(tmp_path / "plan.json", "resumable", [
        {"id": "a", "command": f"echo a >> {log}"},
        {"id": "b", "depends_on": ["a"], "command": f"sleep 1.5; echo b >> {log}"},
        {"id": "c", "depends_on": ["b"], "command": f"echo c >> {log}"},
    ])
    orchestrator = start_orchestrate(isolated_env, db_path, tmp_path, "--plan", str(plan),
                                     "--workers", "1")
    try:
        wait_for(lambda: status(cli, tmp_path).get("b", {}).get("state") == "running")
        os.killpg(orchestrator.pid, signal.SIGKILL)  # the orchestrator (its worker: SIGTERM)
        orchestrator.wait()
    finally:
        reap(orchestrator)
    wait_for(lambda: status(cli, tmp_path)["b"]["state"] != "running")
    result = cli("orchestrate", "--resume", "resumable", "--workers", "1", cwd=tmp_path).ok()
    assert "resumed, 1/3 done" in result.stdout
    assert log_lines(log) == ["a", "b", "c"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_cleanly_and_the_task_is_ready_again(cli, isolated_env, db_path,
                                                           tmp_path, signum):
    plan = write_plan(tmp_path / "plan.json", "interrupted",
                      [{"id": "slow", "command": ["sleep", "60"]}])
    orchestrator = start_orchestrate(isolated_env, db_path, tmp_path, "--plan", str(plan),
                                     "--workers", "1")
    try:
        running = wait_for(lambda: (row := status(cli, tmp_path).get("slow")) and
                           row["pid"] and row)
        orchestrator.send_signal(signum)
        out, err = reap(orchestrator)
    finally:
        reap(orchestrator)
    assert orchestrator.returncode == 130, (out, err)
    assert "Traceback" not in err and "stopped:" in out
    row = status(cli, tmp_path)["slow"]
    assert (row["state"], row["attempts"]) == ("ready", 0)
    assert process_start_time(running["pid"]) is None


def test_a_worktree_with_uncommitted_work_is_kept_recorded_and_known_to_doctor(cli, git_repo,
                                                                             tmp_path):
    in_repo = {"MNEMOSYNE_ROOT": ""}  # the root follows git: .mnemosyne in the repository
    plan = write_plan(tmp_path / "plan.json", "dirty", [
        {"id": "leaves-work", "command": "echo unsaved > work.txt"},
        {"id": "clean", "command": ["true"]},
    ])
    cli("orchestrate", "--plan", str(plan), "--workers", "1", env=in_repo, cwd=git_repo).ok()
    rows = {row["id"]: row for row in json.loads(cli(
        "orchestrate", "status", "--format", "json", env=in_repo, cwd=git_repo).ok().stdout
        )["tasks"]}
    kept = Path(rows["leaves-work"]["worktree_path"])
    assert (kept / "work.txt").read_text() == "unsaved\n" and rows["clean"]["worktree_path"] is None
    report = json.loads(cli("doctor", "--json", "worktrees", env=in_repo, cwd=git_repo).stdout)
    findings = [check for check in report["checks"] if check["status"] == "kept"]
    assert [finding["details"]["path"] for finding in findings] == [str(kept)]
    assert findings[0]["details"]["branch"] == "mnemosyne/task/dirty/leaves-work"
    fixed = cli("doctor", "--fix", "worktrees", env=in_repo, cwd=git_repo)
    assert (kept / "work.txt").exists(), fixed.stdout  # never discarded


def test_a_timed_out_task_leaves_no_process_behind(cli, tmp_path):
    pidfile = tmp_path / "grandchild"
    plan = write_plan(tmp_path / "plan.json", "timeout", [
        {"id": "hangs", "command": f"sleep 60 & echo $! > {pidfile}; sleep 60",
         "timeout_s": 0.5}])
    result = cli("orchestrate", "--plan", str(plan), "--workers", "1", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "timed out after 0.5 s" in result.stdout
    grandchild = int(pidfile.read_text())
    wait_for(lambda: process_start_time(grandchild) is None, 5)


def test_an_api_instance_publishes_task_events(cli, start_daemon, tmp_path):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0", cwd=tmp_path)
    url = re.search(r"listening on (http://\S+)", daemon.wait_for_line("listening on"))[1]
    daemon.wait_for_line("ready:")
    client = SseClient(url + "/events")
    try:
        plan = write_plan(tmp_path / "plan.json", "watched", [
            {"id": "ok", "command": ["true"]}, {"id": "bad", "command": ["false"]}])
        result = cli("orchestrate", "--plan", str(plan), "--workers", "1", cwd=tmp_path)
        assert result.returncode == 1, result.stdout + result.stderr
        seen = client.events_until(lambda e: e.event == "task_failed")
        tasks = [(e.event, e.json()["data"]["task"]) for e in seen
                 if e.event and e.event.startswith("task_")]
        assert ("task_started", "ok") in tasks and ("task_finished", "ok") in tasks
        assert tasks[-1] == ("task_failed", "bad")
        assert seen[-1].json()["data"]["exit_status"] == 1
    finally:
        client.close()


def test_plans_with_a_postgresql_database_are_refused_in_one_line(cli, tmp_path,
                                                                   postgres_database_url):
    """Plans live in the SQLite database only: orchestrate, status and --accept-work say so."""
    plan = write_plan(tmp_path / "p.json", "pg", [{"id": "a", "command": "true"}])
    on_postgres = {"DATABASE_URL": postgres_database_url}
    assert cli("remember", "-c", "works", db=None, env=on_postgres).returncode == 0  # migrated
    for args in (("orchestrate", "--plan", str(plan), "--workers", "0"),
                 ("orchestrate", "status"), ("serve", "--accept-work")):
        assert_one_line_error(cli(*args, db=None, env=on_postgres), 2, "SQLite")
