"""Run the tasks of orchestrated plans in this instance (`serve --accept-work`).

A `TaskWorker` has one thread that claims a ready task (store/sqlite/tasks.py: atomically, so
no two workers run the same task), runs it and records the end, then claims the next; it sleeps
when there is nothing to claim and is woken by a `WorkAvailable` message (registered on the
daemon's dispatch), so in the normal path nobody polls. A task runs in its own worktree on its
own branch `mnemosyne/task/<plan>/<task>` when the plan was started inside a git repository
(unless the task says `worktree: false`), named by the attempt's run id, whose liveness lock
the worker holds while the task runs (so doctor's worktree audit sees a kept one as left behind
once its worker is gone). An ended attempt's lock file is renamed to a fresh run id and kept as
the spare for the next claim, so a busy worker creates no file per task. An argv list runs
without a shell, a string by `sh -c`; always in a new session (its own process group), with
stdin from /dev/null and its output in the worker's unnamed output file, of which the tail is
kept (taskoutput.py: reused from one attempt to the next only when no process that left the
task's session can still write to it). Its environment is the worker's, taken once when
the worker is made, with the task's `env` and MNEMOSYNE_TASK_PLAN/_ID/_ATTEMPT on top. An end
is seen at once, through a pidfd (childwait.py), timeout or not. Over `timeout_s` the whole
group gets SIGTERM, then SIGKILL after KILL_GRACE_S; after any end, whatever is left in the
group is killed. A clean worktree is removed after the attempt; one with uncommitted changes
is kept and recorded. The result is stored as a `task` memory in the task's namespace
(default: the plan's, `project:<repository name>`). Progress is not broadcast: every transition
is journaled in the database (store/sqlite/tasks.py), which the orchestrator and the APIs tail.
A stop (`close`, or a `WorkStop` message for the plan) kills the running attempt's group and
puts the task back to ready. Attempts of workers whose liveness lock is free (dead) are given
back by `reclaim_dead_attempts`, after killing what is left of their process group.
Must not: decide the order of tasks (the store's claims do) or read the environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from mnemosyne.childwait import wait_for_exit
from mnemosyne.config import child_environment
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.identity import new_instance_id, process_start_time, this_host
from mnemosyne.coord.liveness import InstanceLock, lock_is_held
from mnemosyne.coord.queue import Message
from mnemosyne.coord.root import CoordinationRoot, locate_git
from mnemosyne.coord.worktrees import Workspace, close_workspace, open_workspace
from mnemosyne.daemon.taskoutput import TaskOutput
from mnemosyne.errors import MnemosyneError
from mnemosyne.store.sqlite.tasks import (
    TAIL_BYTES,
    Claimant,
    TaskRow,
    TaskStore,
    result_memory,
)

logger = logging.getLogger(__name__)

WORK_AVAILABLE = "WorkAvailable"
WORK_STOP = "WorkStop"
KILL_GRACE_S = 2.0
SAFETY_WAKE_S = 5.0  # without any message, look for work (and dead workers) this often


def kill_group(pgid: int, signum: int = signal.SIGKILL) -> bool:
    """Send *signum* to process group *pgid*; return False if it has no process left."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        logger.warning("cannot signal process group %d: not ours", pgid)
        return False
    return True


def broadcast(coordinator: CrossProcessCoordinator, message_type: str,
              payload: dict[str, Any]) -> None:
    """Send a broadcast; a failure (a full disk) is logged, the work goes on."""
    try:
        coordinator.send_message(None, message_type, payload)
    except MnemosyneError as error:
        logger.warning("cannot broadcast %s: %s", message_type, error)


def reclaim_dead_attempts(tasks: TaskStore, root: CoordinationRoot,
                          coordinator: CrossProcessCoordinator | None = None) -> list[str]:
    """Give back the running attempts of this host's workers that died; return 'plan/task's.

    A worker is dead when its liveness lock is free. What is left of the attempt's process
    group is killed first (its leader checked against its recorded start time).
    """
    given_back = []
    host = this_host()
    for row in tasks.running(str(root.path)):
        if row.hostname != host or row.worker is None or lock_is_held(root.locks, row.worker):
            continue
        if row.run_id is not None and lock_is_held(root.locks, row.run_id):
            continue  # its worker just took it (the attempt's lock is held)
        if row.pid is not None and row.pid_start is not None \
                and process_start_time(row.pid) == row.pid_start:
            kill_group(row.pid)
        if row.run_id is not None and tasks.release(row.plan, row.id, row.run_id,
                                                    f"worker {row.worker} died"):
            logger.warning("task %s/%s: worker %s is gone, the task is ready again", row.plan,
                           row.id, row.worker)
            given_back.append(f"{row.plan}/{row.id}")
    if given_back and coordinator is not None:
        broadcast(coordinator, WORK_AVAILABLE, {"plan": given_back[0].split("/")[0]})
    return given_back


def _encoded(environment: dict[str, str]) -> dict[bytes, bytes]:
    """Return *environment* as bytes, as Popen passes it (one spelling of each name)."""
    return {os.fsencode(name): os.fsencode(value) for name, value in environment.items()}


def _drop(lock: InstanceLock) -> None:
    """Release an attempt's liveness lock and remove its file."""
    lock.release()
    with contextlib.suppress(OSError):
        os.unlink(lock.path)


class Attempt:
    """One running attempt: its process, and whether it was stopped from outside."""

    def __init__(self, task: TaskRow) -> None:
        self.task = task
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped: str | None = None
        self.lock = threading.Lock()

    def stop(self, why: str) -> None:
        """Kill the attempt's process group; the worker puts the task back to ready."""
        with self.lock:
            self.stopped = why
            if self.process is not None:
                kill_group(self.process.pid)


class TaskWorker:
    """Claims and runs tasks in a thread of this instance."""

    def __init__(self, tasks: TaskStore, coordinator: CrossProcessCoordinator) -> None:
        self.tasks = tasks
        self.coordinator = coordinator
        self.root = coordinator.root
        self.instance_id = coordinator.instance_id
        self.host = this_host()
        self._wake = threading.Event()
        self._closing = False
        self._current: Attempt | None = None
        self._guard = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="task-worker", daemon=True)
        self._namespaces: dict[str, tuple[str, str]] = {}
        self._spare: InstanceLock | None = None  # a held attempt lock, for the next claim
        self._output = TaskOutput(TAIL_BYTES)  # the attempts' output file (taskoutput.py)
        # The tasks' environment under their own, encoded once (Popen encodes what is str).
        self._environment = _encoded(child_environment({}))

    def start(self) -> None:
        """Start the worker thread; it looks for work at once."""
        self._wake.set()
        self._thread.start()

    def wake(self, message: Message | None = None) -> None:
        """Have the thread look for work (a WorkAvailable message arrived)."""
        self._wake.set()

    def stop_plan(self, message: Message) -> None:
        """Stop the running attempt if it belongs to the plan a WorkStop message names."""
        payload = message.payload if isinstance(message.payload, dict) else {}
        with self._guard:
            current = self._current
        if current is not None and payload.get("plan") == current.task.plan:
            logger.info("task %s/%s: stopped by %s", current.task.plan, current.task.id,
                        message.from_agent)
            current.stop(f"stopped by {message.from_agent}")

    def close(self) -> None:
        """Stop: the running attempt is killed and its task put back to ready."""
        self._closing = True
        with self._guard:
            current = self._current
        if current is not None:
            current.stop(f"worker {self.instance_id} stopped")
        self._wake.set()
        if self._thread.ident is not None:
            self._thread.join(KILL_GRACE_S + 10)
        if not self._thread.is_alive():
            if self._spare is not None:
                _drop(self._spare)
                self._spare = None
            self._output.close()
        try:  # what this worker would have taken next goes to the others
            if self.tasks.has_ready_work(str(self.root.path)):
                broadcast(self.coordinator, WORK_AVAILABLE, {"plan": None})
        except MnemosyneError as error:
            logger.warning("cannot look for ready tasks: %s", error)

    def _run(self) -> None:
        while not self._closing:
            woken = self._wake.wait(SAFETY_WAKE_S)
            self._wake.clear()
            if self._closing:
                return
            try:
                if not woken:
                    reclaim_dead_attempts(self.tasks, self.root, self.coordinator)
                while not self._closing and self._run_one():
                    pass
            except Exception as error:  # noqa: BLE001 - the worker thread must not die
                logger.error("task worker: %s: %s", type(error).__name__, error)

    def _run_one(self) -> bool:
        """Claim a task and run it, then each next one; return False if there was none.

        A task's end and the claim of the next one are one transaction (`finish(then=...)`),
        so the worker goes from one task to the next without waiting for anything else. Each
        attempt has its own liveness lock, taken before the claim that names it.
        """
        run_id, lock = self._attempt_lock()
        try:
            task = self.tasks.claim(self.instance_id, run_id, self.host, str(self.root.path))
        except BaseException:
            _drop(lock)
            raise
        if task is None:
            self._keep(lock)  # unused: the next claim takes it
            return False
        while task is not None:
            if self._closing:  # claimed with the last end, never started: back to ready
                try:
                    self.tasks.release(task.plan, task.id, run_id,
                                       f"worker {self.instance_id} stopped")
                finally:
                    _drop(lock)
                return True
            following = self._attempt_lock()
            try:
                task = self._run_claimed(task, run_id, following[0])
            except BaseException:
                _drop(following[1])
                raise
            finally:
                self._recycle(lock)
            run_id, lock = following
        self._keep(lock)  # taken for a claim that found nothing
        return True

    def _attempt_lock(self) -> tuple[str, InstanceLock]:
        """Return a held liveness lock with a fresh run id: the spare one, else a new one."""
        lock, self._spare = self._spare, None
        if lock is None:
            lock = InstanceLock(self.root.locks, new_instance_id())
            lock.acquire()
        return lock.instance_id, lock

    def _keep(self, lock: InstanceLock) -> None:
        """Keep an unused attempt lock as the spare (dropped if there is one already)."""
        if self._spare is None:
            self._spare = lock
        else:
            _drop(lock)

    def _recycle(self, lock: InstanceLock) -> None:
        """End an attempt's lock by moving it to a fresh run id, kept as the spare.

        The ended id is free at once (its file now has the new name), and the next attempt
        needs no new file. A spare already there, or a move that fails, drops the lock.
        """
        if self._spare is None:
            try:
                lock.move_to(new_instance_id())
            except MnemosyneError as error:
                logger.debug("attempt lock not reused: %s", error)
            else:
                self._spare = lock
                return
        _drop(lock)

    def _run_claimed(self, task: TaskRow, run_id: str, next_run_id: str) -> TaskRow | None:
        """Run the claimed *task*; return the task claimed with its end as *next_run_id*."""
        attempt = Attempt(task)
        with self._guard:
            self._current = attempt
        try:
            then = None if self._closing else \
                Claimant(self.instance_id, next_run_id, self.host, str(self.root.path))
            return self._attempt(attempt, run_id, then)
        finally:
            with self._guard:
                self._current = None

    def _plan_context(self, plan: str) -> tuple[str, str]:
        if plan not in self._namespaces:
            stored = self.tasks.plan(plan)
            self._namespaces[plan] = (stored.base_dir, stored.namespace)
        return self._namespaces[plan]

    def _attempt(self, attempt: Attempt, run_id: str, then: Claimant | None) -> TaskRow | None:
        task = attempt.task
        spec = task.spec
        base_dir, plan_namespace = self._plan_context(task.plan)
        namespace = spec.get("namespace") or plan_namespace
        started = time.monotonic()
        workspace: Workspace | None = None
        error: str | None = None
        exit_status: int | None = None
        tail = ""
        try:
            workdir = Path(base_dir)
            if spec.get("worktree", True) and locate_git(workdir) is not None:
                workspace = open_workspace(self.root, run_id, workdir,
                                           f"mnemosyne/task/{task.plan}/{task.id}")
                workdir = workspace.workdir
            cwd = workdir / spec["cwd"] if spec.get("cwd") else workdir
            exit_status, tail, error = self._execute(attempt, run_id, cwd)
        except MnemosyneError as problem:
            error = f"cannot start: {problem.message}"
        except OSError as problem:
            error = f"cannot start: {problem.strerror or problem}"
        except ValueError as problem:  # a name, word or value the system cannot take
            error = f"cannot start: {problem}"
        duration = time.monotonic() - started
        kept = None
        if workspace is not None and not close_workspace(workspace):
            kept = str(workspace.path)
        success = exit_status == 0 and error is None
        if attempt.stopped is not None and not success:  # one that had succeeded is kept
            self.tasks.release(task.plan, task.id, run_id, attempt.stopped)
            logger.info("task %s/%s: stopped, ready again", task.plan, task.id)
            return None
        memory = None
        try:
            memory = result_memory(task, namespace, "done" if success else "failed",
                                   exit_status=exit_status, duration_s=duration,
                                   output_tail=tail, error=error)
        except MnemosyneError as problem:
            logger.warning("task %s/%s: no result memory: %s", task.plan, task.id, problem)
        outcome = self.tasks.finish(task.plan, task.id, run_id, exit_status=exit_status,
                                    duration_s=duration, output_tail=tail, error=error,
                                    memory=memory, worktree_path=kept, then=then)
        if outcome is None:
            logger.warning("task %s/%s: taken from this worker meanwhile; result dropped",
                           task.plan, task.id)
            return None
        logger.info("task %s/%s: %s (exit status %s, %.3f s)%s", task.plan, task.id,
                    outcome.state, exit_status, duration,
                    f"; worktree {kept} kept (uncommitted changes)" if kept else "")
        # This worker has claimed the next ready task with this end: the others are woken
        # only when more became ready than that one (a fan-out, or a retry beside a new task).
        if len(outcome.ready) + (outcome.state == "ready") > 1:
            broadcast(self.coordinator, WORK_AVAILABLE, {"plan": task.plan})
        return outcome.claimed

    def _execute(self, attempt: Attempt, run_id: str,
                 cwd: Path) -> tuple[int | None, str, str | None]:
        """Run the attempt's command; return (exit status, output tail, error)."""
        task = attempt.task
        spec = task.spec
        command = spec["command"]
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        env = {**self._environment, **_encoded({
            **spec.get("env", {}), "MNEMOSYNE_TASK_PLAN": task.plan,
            "MNEMOSYNE_TASK_ID": task.id, "MNEMOSYNE_TASK_ATTEMPT": str(task.attempts)})}
        timeout = spec.get("timeout_s")
        child_output = self._output.open_for_child()
        try:
            with attempt.lock:
                if attempt.stopped is not None:
                    return None, "", attempt.stopped
                try:
                    process = subprocess.Popen(
                        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=child_output,
                        stderr=subprocess.STDOUT, start_new_session=True)
                except OSError as problem:
                    return None, "", f"cannot run {argv[0]}: {problem.strerror or problem}"
                attempt.process = process
        finally:
            os.close(child_output)
        try:
            try:  # only for giving the task back if this worker dies: never a reason to stop
                self.tasks.set_process(task.plan, task.id, run_id, process.pid,
                                       process_start_time(process.pid))
            except MnemosyneError as problem:
                logger.warning("task %s/%s: cannot record its process: %s", task.plan,
                               task.id, problem)
            error = None
            if not wait_for_exit(process, timeout):
                error = f"timed out after {timeout:g} s"
                kill_group(process.pid, signal.SIGTERM)
                wait_for_exit(process, KILL_GRACE_S)
            kill_group(process.pid)  # whatever is left of the group: nothing stays behind
            process.wait()
            return process.returncode, self._output.tail(), error
        finally:
            self._output.end_attempt()
