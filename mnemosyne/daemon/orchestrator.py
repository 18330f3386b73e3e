"""Run a plan: record it, start local workers, follow the work to its end, stop cleanly.

`orchestrate(settings, plan, options, report)` records the plan in the shared database
(store/sqlite/tasks.py; the same plan again, or `--resume`, takes the stored one back: done
tasks are not run again), registers the orchestrator as an instance (kind `orchestrator`), starts
`--workers N` local workers (`mnemosyne serve --accept-work` children, each a registered
instance, ended with SIGTERM when the plan is over, and by the kernel with SIGTERM if the
orchestrator dies) and announces the work with a `WorkAvailable` broadcast. It then sleeps on
the database WAL's inotify watch and the signal pipe: writes wake it (at most every 20 ms,
those in between read together), and it reports the
task transitions journaled since (store/sqlite/tasks.py `events_after`; to *report*, the command
line's display, and as systemd's STATUS=). Once a second it gives back the tasks of dead
workers (worker.reclaim_dead_attempts). SIGINT or SIGTERM: the plan is marked stopped (no more
claims), a WorkStop broadcast and SIGTERM to the local workers stop the running tasks, which go
back to ready; exit 130. Otherwise the exit status is 0 when every task is done, 1 when any
failed or was skipped.
Must not: print (the command line formats *report*'s events), or run tasks itself.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnemosyne.childwait import wait_for_exit
from mnemosyne.config import Settings
from mnemosyne.coord.context import make_coordinator
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.identity import new_instance_id
from mnemosyne.coord.inotify import WRITES, DirectoryWatch
from mnemosyne.coord.plan import Plan
from mnemosyne.coord.root import locate_git
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.daemon.systemd import ServiceManager
from mnemosyne.daemon.worker import (
    KILL_GRACE_S,
    WORK_AVAILABLE,
    WORK_STOP,
    broadcast,
    reclaim_dead_attempts,
)
from mnemosyne.errors import ExitCode
from mnemosyne.store import open_store
from mnemosyne.store.sqlite.tasks import TaskStore, require_tasks

logger = logging.getLogger(__name__)

CHECK_INTERVAL_S = 1.0
STOP_PATIENCE_S = KILL_GRACE_S + 8.0
PR_SET_PDEATHSIG = 1
RECHECK_S = 0.005  # a WAL write seen before its commit is visible: look again this soon
# At most this often does a busy plan wake the orchestrator (writes in between are read
# together): the display needs no more, and the workers get the CPU.
FOLLOW_MIN_S = 0.02
NO_WATCH_POLL_S = 0.1  # without inotify on the database's directory
TASK_REPORTS = {"running": "TaskStarted", "done": "TaskFinished", "failed": "TaskFailed",
                "skipped": "TaskSkipped", "ready": "TaskReady"}

Report = Callable[[str, dict[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """What `orchestrate` was asked for beyond the plan."""

    workers: int = 2
    max_concurrent: int = 0
    worker_log_level: str = "warning"


def project_namespace(start: Path) -> str:
    """Return `project:<main worktree's directory name>` (made valid), or `global`."""
    from mnemosyne.mcp.server import project_namespace as of_location  # noqa: PLC0415

    return of_location(locate_git(start))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def start_workers(settings: Settings, count: int, root: Path,
                  log_level: str) -> list[subprocess.Popen[bytes]]:
    """Start *count* local `serve --accept-work` instances; they get SIGTERM if we die."""
    workers = []
    for _ in range(count):
        argv = [sys.executable, "-m", "mnemosyne", "--db", str(settings.db_path),
                "--log-level", log_level, "serve", "--accept-work", "--worktree", "never",
                "--root", str(root), "--instance-id", new_instance_id()]
        workers.append(subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_die_with_parent))  # noqa: PLW1509 - no threads run yet
    return workers


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM the local workers (they put a running task back to ready) and reap them."""
    for process in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_PATIENCE_S
    for process in workers:
        if not wait_for_exit(process, max(0.1, deadline - time.monotonic())):
            logger.warning("worker pid %d did not stop: killing it", process.pid)
            process.kill()
            process.wait()


def summary(counts: dict[str, int]) -> str:
    """Return `3/8 done, 2 running, 1 failed` (zero counts left out, done always shown)."""
    total = sum(counts.values())
    parts = [f"{counts['done']}/{total} done"]
    parts += [f"{counts[state]} {state}" for state in ("running", "ready", "pending", "failed",
                                                       "skipped") if counts.get(state)]
    return ", ".join(parts)


def orchestrate(settings: Settings, plan: Plan, options: RunOptions, report: Report,
                start: Path) -> int:
    """Run *plan* to its end (see the module docstring); return the exit status."""
    manager = ServiceManager.from_environment()
    signals = SignalQueue()
    signals.install((signal.SIGINT, signal.SIGTERM))
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with open_store(settings) as store:
            tasks = require_tasks(store)
            coordinator = make_coordinator(settings, new_instance_id(), start)
            stored, created = tasks.put_plan(plan.to_dict(), str(start),
                                             project_namespace(start), options.max_concurrent,
                                             root=str(coordinator.root.path))
            report("plan", {"name": plan.name, "created": created,
                            "counts": tasks.counts(plan.name), "namespace": stored.namespace})
            coordinator.register(systemd_unit=manager.unit, kind="orchestrator")
            db_path = settings.db_path
            watch = DirectoryWatch.open(db_path.parent, WRITES, f"{db_path.name}-wal")
            try:
                cursor = tasks.last_event()
                workers = start_workers(settings, options.workers, coordinator.root.path,
                                        options.worker_log_level)
                broadcast(coordinator, WORK_AVAILABLE, {"plan": plan.name})
                manager.ready(f"plan {plan.name}: {summary(tasks.counts(plan.name))}")
                return _follow(tasks, coordinator, plan.name, signals=signals, watch=watch,
                               manager=manager, report=report, cursor=cursor)
            finally:
                if watch is not None:
                    watch.close()
                stop_workers(workers)
                coordinator.unregister()
    finally:
        signals.restore()
        manager.close()


def _follow(tasks: TaskStore, coordinator: CrossProcessCoordinator, name: str, *,
            signals: SignalQueue, watch: DirectoryWatch | None, manager: ServiceManager,
            report: Report, cursor: int) -> int:
    """Follow the plan through the task journal, woken by the database's WAL; return the status."""
    poller = select.poll()
    poller.register(signals.fileno(), select.POLLIN)
    signals_only = select.poll()
    signals_only.register(signals.fileno(), select.POLLIN)
    if watch is not None:
        poller.register(watch.fileno(), select.POLLIN)
    next_check = time.monotonic()
    last_status = ""
    recheck = False
    while True:
        for signum in signals.pending():
            return _stop(tasks, coordinator, name, signal.Signals(signum), report)
        woken = watch.drain() if watch is not None else True
        for event in tasks.events_after(cursor) if woken or recheck else []:
            cursor = event.seq
            if event.plan == name and event.state in TASK_REPORTS:
                report(TASK_REPORTS[event.state], event.to_dict())
        recheck = woken and watch is not None
        if time.monotonic() >= next_check:
            for task in reclaim_dead_attempts(tasks, coordinator.root, coordinator):
                report("reclaimed", {"task": task})
            next_check = time.monotonic() + CHECK_INTERVAL_S
        # The plan's state before the counts: once finished, the counts read after it are final.
        finished = tasks.plan(name).state == "finished"
        for event in tasks.events_after(cursor) if finished else []:  # the last ones
            cursor = event.seq
            if event.plan == name and event.state in TASK_REPORTS:
                report(TASK_REPORTS[event.state], event.to_dict())
        counts = tasks.counts(name)
        status = f"plan {name}: {summary(counts)}"
        if status != last_status:
            manager.status(status)
            report("progress", {"counts": counts})
            last_status = status
        if finished:
            failed = counts["failed"] + counts["skipped"]
            report("finished", {"counts": counts})
            return int(ExitCode.ERROR if failed else ExitCode.OK)
        wait_s = max(0.0, next_check - time.monotonic())
        if recheck:
            wait_s = min(wait_s, RECHECK_S)
        elif watch is None:
            wait_s = min(wait_s, NO_WATCH_POLL_S)
        if woken and watch is not None:  # let the writes of the next moment gather
            signals_only.poll(FOLLOW_MIN_S * 1000)
            wait_s = max(0.0, wait_s - FOLLOW_MIN_S)
        poller.poll(wait_s * 1000)


def _stop(tasks: TaskStore, coordinator: CrossProcessCoordinator, name: str,
          signum: signal.Signals, report: Report) -> int:
    """Stop the plan: no more claims, running tasks stopped and back to ready."""
    report("stopping", {"signal": signum.name})
    tasks.set_plan_state(name, "stopped")
    broadcast(coordinator, WORK_STOP, {"plan": name})
    deadline = time.monotonic() + STOP_PATIENCE_S
    while time.monotonic() < deadline:
        running = [row for row in tasks.running(str(coordinator.root.path)) if row.plan == name]
        if not running:
            break
        reclaim_dead_attempts(tasks, coordinator.root)
        time.sleep(0.05)
    report("stopped", {"counts": tasks.counts(name)})
    return int(ExitCode.INTERRUPTED)
