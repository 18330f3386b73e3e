"""Worker instances as `mnemosyne@<id>` units (MNEMOSYNE_ARGS=--accept-work) take a plan's tasks.

The orchestrator runs inside the sandbox with `--workers 0`: only the units work. A unit killed
with SIGKILL (systemd restarts it) loses its task's process with its cgroup, and the task is
done once all the same.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.systemd.conftest import SECRET

pytestmark = pytest.mark.systemd

UNITS = ("mnemosyne@0a0a0a01", "mnemosyne@0a0a0a02")


@pytest.fixture
def worker_units(user_manager):
    """Two instances that accept work; afterwards every instance stopped, failures reset."""
    user_manager.install_units(args="--accept-work")
    for unit in UNITS:
        user_manager.systemctl("start", unit)
    yield UNITS
    user_manager.systemctl("stop", "mnemosyne@*.service", check=False)
    user_manager.systemctl("reset-failed", check=False)
    user_manager.install_units()


def environment(user_manager) -> list[str]:
    """What the units' common.env gives them: the same database, root and secret."""
    return [f"MNEMOSYNE_DB_PATH={user_manager.data / 'm.db'}",
            f"MNEMOSYNE_ROOT={user_manager.root}", f"MNEMOSYNE_SHARED_SECRET={SECRET}",
            f"XDG_STATE_HOME={user_manager.state / 'xdg-state'}"]


def orchestrate(user_manager, *args: str) -> subprocess.Popen[str]:
    """Start `mnemosyne orchestrate ARGS` inside the sandbox, beside the units."""
    command = ["nsenter", "-t", str(user_manager.inner_pid), "-p", "-m", "env",
               f"XDG_RUNTIME_DIR={user_manager.runtime}",
               f"XDG_CONFIG_HOME={user_manager.config}", *environment(user_manager),
               str(user_manager.program), "orchestrate", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=user_manager.state)


def tasks(user_manager, plan: str) -> dict[str, dict]:
    """The plan's task table ({} until the orchestrator has recorded the plan)."""
    result = user_manager.run(*environment(user_manager), str(user_manager.program),
                              "orchestrate", "status", plan, "--format", "json", check=False)
    if result.returncode == 5:  # no plan of that name yet
        return {}
    assert result.returncode == 0, result.stderr
    return {row["id"]: row for row in json.loads(result.stdout)["tasks"]}


def write_plan(path: Path, name: str, tasks: list[dict]) -> Path:
    path.write_text(json.dumps({"name": name, "tasks": tasks}))
    return path


def test_units_that_accept_work_run_a_diamond_each_task_once(user_manager, worker_units):
    log = user_manager.state / "diamond.log"
    plan = write_plan(user_manager.state / "diamond.json", "units-diamond", [
        {"id": task, "depends_on": needs, "command": f"echo {task} >> {log}"}
        for task, needs in (("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"]))])
    process = orchestrate(user_manager, "--plan", str(plan), "--workers", "0")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, (out, err)
    lines = log.read_text().split()
    assert sorted(lines) == ["a", "b", "c", "d"] and lines[0] == "a" and lines[-1] == "d"
    rows = tasks(user_manager, "units-diamond")
    assert {row["state"] for row in rows.values()} == {"done"}
    assert {row["worker"] for row in rows.values()} <= {unit.split("@")[1] for unit in UNITS}


def test_a_unit_killed_mid_task_has_its_task_done_once_by_a_worker(user_manager, worker_units):
    log = user_manager.state / "killed.log"
    plan = write_plan(user_manager.state / "killed.json", "units-killed", [
        {"id": "long", "command": f"echo start >> {log}; sleep 3; echo end >> {log}"},
        {"id": "after", "depends_on": ["long"], "command": f"echo after >> {log}"}])
    process = orchestrate(user_manager, "--plan", str(plan), "--workers", "0")
    try:
        deadline = time.monotonic() + 30
        while not ((row := tasks(user_manager, "units-killed").get("long", {}))
                   .get("state") == "running" and row["pid"]):
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.1)
        victim = f"mnemosyne@{row['worker']}"
        user_manager.systemctl("kill", "-s", "KILL", victim)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, (out, err)
    lines = log.read_text().split()
    assert lines.count("start") == 2 and lines.count("end") == 1 and lines[-1] == "after"
    rows = tasks(user_manager, "units-killed")
    assert (rows["long"]["state"], rows["after"]["state"]) == ("done", "done")
    # systemd killed the task's process with the unit's cgroup (one "end"); the unit came back.
    user_manager.wait_for(lambda: user_manager.show(victim, "ActiveState") == "active",
                          what=f"{victim} to be restarted")
