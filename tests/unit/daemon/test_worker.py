"""The task worker: runs claimed tasks, kills whole process groups, gives back dead workers'."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.identity import process_start_time, this_host
from mnemosyne.coord.liveness import lock_is_held
from mnemosyne.coord.root import prepare_root
from mnemosyne.daemon.worker import TaskWorker, kill_group, reclaim_dead_attempts
from mnemosyne.store.sqlite.tasks import TaskStore

KEY = b"k"


def spec(task_id, command, **extra):
    return {"id": task_id, "title": task_id, "depends_on": extra.pop("depends_on", []),
            "command": command, "cwd": None, "env": {}, "timeout_s": None, "retries": 0,
            "worktree": True, "namespace": None, **extra}


class RootedTasks(TaskStore):
    """The task store, recording plans in the test's coordination root."""

    def __init__(self, database, root):
        super().__init__(database)
        self.root = root

    def put_plan(self, definition, base_dir, namespace, max_concurrent=0, root=None):
        return super().put_plan(definition, base_dir, namespace, max_concurrent,
                                root=self.root if root is None else root)


@pytest.fixture
def parts(tmp_path, store):
    root = prepare_root(tmp_path / "coord", start=tmp_path)
    coordinator = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    coordinator.register()
    tasks = RootedTasks(store.database, str(root.path))
    worker = TaskWorker(tasks, coordinator)
    yield tasks, worker, coordinator
    worker.close()
    coordinator.unregister()


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_worker_runs_a_plan_in_order_and_stores_results(parts, tmp_path, store):
    tasks, worker, _ = parts
    out = tmp_path / "order"
    tasks.put_plan({"name": "p", "tasks": [
        spec("a", ["sh", "-c", f"echo a >> {out}"]),
        spec("b", f"echo b >> {out}; echo $MNEMOSYNE_TASK_ID $GREETING",
             depends_on=["a"], env={"GREETING": "hi"}),
        spec("c", ["false"], depends_on=["b"]),
        spec("d", ["true"], depends_on=["c"]),
    ]}, str(tmp_path), "project:x")
    worker.start()
    wait_for(lambda: tasks.plan("p").state == "finished")
    rows = {row.id: row for row in tasks.tasks("p")}
    assert out.read_text() == "a\nb\n"
    assert rows["b"].output_tail == "b hi\n" and rows["b"].exit_status == 0
    assert (rows["c"].state, rows["c"].exit_status, rows["d"].state) == ("failed", 1, "skipped")
    memory = store.get(rows["c"].memory_id)
    assert memory.memory_type == "task" and memory.namespace == "project:x"
    # Each task was claimed with the previous one's end: one attempt id each; no ended
    # attempt's id is held or has a file, the worker keeps at most one spare lock (held, a
    # fresh id: lock files are renamed from one attempt to the next), dropped when it closes.
    run_ids = {row.run_id for row in rows.values() if row.run_id}
    assert len(run_ids) == 3
    locks = tmp_path / "coord" / "locks"
    own = {"a1b2c3d4.lock", "process_registry.json.lock"}

    def spare():
        return {path.name.removesuffix(".lock") for path in locks.iterdir()
                if path.name not in own}

    wait_for(lambda: len(spare()) <= 1)  # the last claim's own lock is dropped just after
    assert not spare() & run_ids and all(lock_is_held(locks, name) for name in spare())
    worker.close()
    assert {path.name for path in locks.iterdir()} <= own


def test_each_attempt_has_its_own_output_and_the_task_env_wins(parts, tmp_path, monkeypatch):
    # A process that left its task's session keeps writing after the task ended: never into
    # the next task's tail. The worker's environment is taken once; a task's env overrides it.
    tasks, worker, coordinator = parts
    monkeypatch.setenv("MNEMOSYNE_TEST_SHARED", "worker")
    worker = TaskWorker(tasks, coordinator)
    tasks.put_plan({"name": "out", "tasks": [
        spec("escapes", "setsid sh -c 'sleep 0.3; echo LEAKED' & echo a"),
        spec("next", "sleep 0.6; echo $MNEMOSYNE_TEST_SHARED", depends_on=["escapes"],
             env={"MNEMOSYNE_TEST_SHARED": "task"}),
        spec("inherited", "echo $MNEMOSYNE_TEST_SHARED", depends_on=["next"]),
    ]}, str(tmp_path), "global")
    worker.start()
    try:
        wait_for(lambda: tasks.plan("out").state == "finished")
    finally:
        worker.close()
    rows = {row.id: row for row in tasks.tasks("out")}
    assert rows["escapes"].output_tail == "a\n"
    assert (rows["next"].output_tail, rows["inherited"].output_tail) == ("task\n", "worker\n")


def test_a_task_the_system_cannot_start_fails_and_the_worker_goes_on(parts, tmp_path):
    tasks, worker, _ = parts
    tasks.put_plan({"name": "odd", "tasks": [
        spec("surrogate", ["true"], env={"ODD": "\ud800"}),
        spec("after", ["true"]),
    ]}, str(tmp_path), "global")
    worker.start()
    wait_for(lambda: tasks.plan("odd").state == "finished")
    rows = {row.id: row for row in tasks.tasks("odd")}
    assert rows["surrogate"].state == "failed" and rows["surrogate"].error.startswith(
        "cannot start: ")
    assert rows["after"].state == "done"


def test_a_timeout_kills_the_whole_group_grandchild_included(parts, tmp_path):
    tasks, worker, _ = parts
    pidfile = tmp_path / "grandchild"
    tasks.put_plan({"name": "slow", "tasks": [spec(
        "t", f"sleep 60 & echo $! > {pidfile}; wait", timeout_s=0.5)]}, str(tmp_path), "global")
    worker.start()
    wait_for(lambda: tasks.plan("slow").state == "finished")
    row = tasks.tasks("slow")[0]
    assert row.state == "failed" and "timed out after 0.5 s" in row.error
    grandchild = int(pidfile.read_text())
    wait_for(lambda: process_start_time(grandchild) is None, 5)


def test_under_a_timeout_an_end_or_a_stop_is_seen_when_it_happens(parts, tmp_path):
    tasks, worker, _ = parts
    tasks.put_plan({"name": "quick", "tasks": [spec("t", ["true"], timeout_s=600)]},
                   str(tmp_path), "global")
    worker.start()
    wait_for(lambda: tasks.plan("quick").state == "finished")
    row = tasks.tasks("quick")[0]
    assert row.state == "done" and row.duration_s < 60  # not the timeout, not a poll's step
    tasks.put_plan({"name": "long", "tasks": [spec("t", ["sleep", "600"], timeout_s=600)]},
                   str(tmp_path), "global")
    worker.wake()
    wait_for(lambda: tasks.running() and tasks.running()[0].pid is not None)
    pid = tasks.running()[0].pid
    worker.close()
    assert tasks.tasks("long")[0].state == "ready" and process_start_time(pid) is None


def test_close_puts_the_running_task_back_to_ready(parts, tmp_path):
    tasks, worker, _ = parts
    tasks.put_plan({"name": "p", "tasks": [spec("t", ["sleep", "60"])]}, str(tmp_path),
                   "global")
    worker.start()
    wait_for(lambda: tasks.running() and tasks.running()[0].pid is not None)
    pid = tasks.running()[0].pid
    worker.close()
    row = tasks.tasks("p")[0]
    assert (row.state, row.attempts) == ("ready", 0)
    assert process_start_time(pid) is None


def test_dead_workers_attempts_are_given_back_and_their_group_killed(parts, tmp_path):
    tasks, _, coordinator = parts
    tasks.put_plan({"name": "p", "tasks": [spec("t", ["true"])]}, str(tmp_path), "global")
    row = tasks.claim("deadbeef", "0badf00d", this_host(), tasks.root)  # no lock: it is gone
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                              start_new_session=True)
    try:
        tasks.set_process("p", "t", row.run_id, orphan.pid, process_start_time(orphan.pid))
        assert reclaim_dead_attempts(tasks, coordinator.root, coordinator) == ["p/t"]
        assert orphan.wait(5) == -9
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()
    assert tasks.tasks("p")[0].state == "ready"
    assert reclaim_dead_attempts(tasks, coordinator.root) == []


def test_plans_of_another_root_are_neither_taken_nor_given_back(parts, tmp_path):
    tasks, worker, coordinator = parts
    tasks.put_plan({"name": "other", "tasks": [spec("t", ["true"])]}, str(tmp_path), "global",
                   root="/elsewhere")
    worker.start()
    assert tasks.claim("deadbeef", "0badf00d", this_host(), "/elsewhere").id == "t"
    assert reclaim_dead_attempts(tasks, coordinator.root) == []
    assert tasks.tasks("other")[0].state == "running"


def test_kill_group_of_no_process():
    assert kill_group(2**22 + os.getpid() % 1000) is False
