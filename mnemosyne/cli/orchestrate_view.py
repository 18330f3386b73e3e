"""What `orchestrate` reads and shows: the plan file, the waves, the progress, the task table.

The progress goes to stdout: on a terminal one status line rewritten in place, with a line for
each task that finishes or fails; otherwise plain lines (`task b: started`, `task b: done`).
Must not: run plans (daemon/orchestrator.py does) or hold SQL (store/sqlite/tasks.py does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mnemosyne.cli import output
from mnemosyne.config import Settings
from mnemosyne.coord.plan import MAX_PLAN_BYTES, Plan, PlanError, load_plan, parse_plan
from mnemosyne.daemon.orchestrator import RunOptions, summary
from mnemosyne.errors import NotFoundError, UsageError
from mnemosyne.store import open_store
from mnemosyne.store.sqlite.tasks import require_tasks

COLUMNS = ("PLAN", "TASK", "STATE", "ATTEMPTS", "WORKER", "EXIT", "DURATION", "TITLE")


def read_plan(source: str) -> Plan:
    """Read and validate the plan at *source* (`-`: stdin). Raises PlanError (exit 2)."""
    if source == "-":
        return load_plan(sys.stdin.buffer.read(MAX_PLAN_BYTES + 1), "stdin")
    try:
        with open(source, "rb") as stream:
            text = stream.read(MAX_PLAN_BYTES + 1)
    except OSError as error:
        raise PlanError(f"cannot read the plan {source}: {error.strerror or error}") from None
    return load_plan(text, source)


def resume_plan(settings: Settings, what: str) -> Plan:
    """Return the plan file *what*, or the stored plan of that name. Raises NotFoundError."""
    if what == "-" or Path(what).is_file():
        return read_plan(what)
    with open_store(settings) as store:
        stored = require_tasks(store).plan(what)
    return parse_plan(stored.definition, f"stored plan {what}")


def run_options(args: argparse.Namespace, settings: Settings) -> RunOptions:
    """Return the run options from the flags. Raises UsageError."""
    values = {}
    for flag, name in (("--workers", "workers"), ("--max-concurrent", "max_concurrent")):
        raw = getattr(args, name)
        if raw is None:
            continue
        if not raw.isdigit() or int(raw) > 256:
            raise UsageError(f"{flag} must be an integer from 0 to 256, not {raw!r}")
        values[name] = int(raw)
    level = settings.log_level if settings.sources.get("log_level") == "flag" else "warning"
    return RunOptions(worker_log_level=level, **values)


def print_waves(plan: Plan) -> None:
    """Print the waves of tasks that could run in parallel."""
    for number, wave in enumerate(plan.waves(), 1):
        print(f"wave {number}: {' '.join(wave)}")


class Progress:
    """The `report` callback of the orchestrator: a live line on a terminal, else plain lines."""

    def __init__(self, live: bool | None = None) -> None:
        self.live = sys.stdout.isatty() if live is None else live
        self.status = ""

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        """Show one event."""
        task = data.get("task")
        if kind == "plan":
            line = (f"plan {data['name']}: {'recorded' if data['created'] else 'resumed'}, "
                    f"{summary(data['counts'])}; results in {data['namespace']}")
        elif kind == "TaskStarted":
            line = None if self.live else \
                f"task {task}: started on {data.get('worker')} (attempt {data.get('attempt')})"
        elif kind in ("TaskFinished", "TaskFailed"):
            line = f"task {task}: {data.get('state')} (exit status {data.get('exit_status')}, " \
                f"{data.get('duration_s') or 0:.3f} s)"
            if data.get("error"):
                line += f": {data['error']}"
        elif kind == "TaskSkipped":
            line = f"task {task}: skipped ({data.get('error')})"
        elif kind == "TaskReady":
            again = data.get("error") or (data.get("exit_status") is not None
                                          and f"exit status {data['exit_status']}, retried")
            line = f"task {task}: ready again ({again})" if again else None
        elif kind == "reclaimed":
            line = f"task {task}: its worker died, ready again"
        elif kind == "progress":
            self.status = summary(data["counts"])
            line = None if self.live else self.status
        elif kind in ("finished", "stopped"):
            line = f"{kind}: {summary(data['counts'])}"
        else:
            line = f"stopping on {data.get('signal')}: running tasks go back to ready"
        self.show(line)

    def show(self, line: str | None) -> None:
        """Print *line*; on a terminal, redraw the status line below it."""
        if self.live:
            sys.stdout.write("\r\033[K")
        if line is not None:
            sys.stdout.write(line + "\n")
        if self.live and self.status:
            sys.stdout.write(self.status)
        sys.stdout.flush()


def print_status(settings: Settings, plan: str | None, fmt: str) -> int:
    """Print the task table of *plan* (default: every plan). Raises NotFoundError."""
    with open_store(settings) as store:
        tasks = require_tasks(store)
        if plan is not None:
            tasks.plan(plan)
        rows = tasks.tasks(plan)
        plans = {stored.name: stored.state for stored in tasks.plans()}
    if fmt == "json":
        output.print_json({"plans": [{"name": name, "state": state} for name, state
                                     in plans.items() if plan in (None, name)],
                           "tasks": [row.to_dict() for row in rows]})
        return 0
    if not rows:
        raise NotFoundError("no plans in the database")
    output.print_table([COLUMNS, *[(
        row.plan, row.id, row.state, str(row.attempts), row.worker or "-",
        "-" if row.exit_status is None else str(row.exit_status),
        "-" if row.duration_s is None else f"{row.duration_s:.3f}s",
        output.preview(row.title, 40)) for row in rows]])
    return 0
