"""Task plans and their tasks in the shared database: every SQL statement of orchestration.

`TaskStore(database)` records a plan (`put_plan`), hands ready tasks to workers with atomic
claims (`claim`: one IMMEDIATE transaction picks a ready task of a running plan under its
`max_concurrent` and marks it running for this worker and attempt; two workers never get the
same task), records the attempt's process (`set_process`), and its end (`finish`: done, with
the dependents whose dependencies are all done made ready, and the result memory stored in the
same transaction; or failed: back to ready while retries remain, else failed with every
transitive dependent skipped). `release` puts an interrupted attempt back to ready (a stop, a
dead worker); an attempt that ended after its task was taken from it changes nothing.
Task states: pending -> ready -> running -> done | failed | skipped (and running -> ready).
Every transition is journaled by a trigger (`task_log`: `events_after`), for the progress
display and the API's task events.
Plans live in the SQLite database only: `tasks_in(store)` is None and `require_tasks(store)`
refuses (exit 2) for a PostgreSQL store.
Must not: run tasks, or decide who is dead (the daemon and the orchestrator do).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from typing import Any

import apsw

from mnemosyne.errors import NotFoundError, UsageError
from mnemosyne.store import model
from mnemosyne.store.model import Memory
from mnemosyne.store.sqlite.backend import SqliteBackend, insert_memory
from mnemosyne.store.sqlite.database import Database

STATES = ("pending", "ready", "running", "done", "failed", "skipped")
FINAL_STATES = ("done", "failed", "skipped")
TAIL_BYTES = 4096
TASK_COLUMNS = ("plan, id, position, title, spec, state, attempts, retries, worker, run_id, "
                "pid, pid_start, hostname, started_at, finished_at, ready_ns, started_ns, "
                "finished_ns, exit_status, duration_s, output_tail, error, memory_id, "
                "worktree_path")
PLAN_COLUMNS = ("name, definition, base_dir, root, namespace, state, max_concurrent, created_at, "
                "updated_at")


@dataclasses.dataclass(frozen=True)
class TaskRow:
    """One task's stored state."""

    plan: str
    id: str
    position: int
    title: str
    spec: dict[str, Any]
    state: str
    attempts: int
    retries: int
    worker: str | None
    run_id: str | None
    pid: int | None
    pid_start: int | None
    hostname: str | None
    started_at: str | None
    finished_at: str | None
    ready_ns: int | None
    started_ns: int | None
    finished_ns: int | None
    exit_status: int | None
    duration_s: float | None
    output_tail: str | None
    error: str | None
    memory_id: str | None
    worktree_path: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form (`orchestrate status --format json`)."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class PlanRow:
    """One plan's stored header."""

    name: str
    definition: dict[str, Any]
    base_dir: str
    root: str
    namespace: str
    state: str
    max_concurrent: int
    created_at: str
    updated_at: str


@dataclasses.dataclass(frozen=True)
class TaskEvent:
    """One task transition from the journal (`task_log`)."""

    seq: int
    plan: str
    task: str
    state: str
    worker: str | None
    attempt: int
    exit_status: int | None
    duration_s: float | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return the event's payload (without its sequence number)."""
        data = dataclasses.asdict(self)
        del data["seq"]
        return data


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What `finish` did: the new state, the tasks made ready or skipped, the one claimed next."""

    state: str
    ready: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    memory_id: str | None = None
    claimed: TaskRow | None = None


@dataclasses.dataclass(frozen=True)
class Claimant:
    """Who claims a task: the worker instance, the attempt's id, its host and root."""

    worker: str
    run_id: str
    hostname: str
    root: str = ""


def _task(row: Sequence[Any]) -> TaskRow:
    values = list(row)
    values[4] = json.loads(values[4])
    return TaskRow(*values)


def _plan(row: Sequence[Any]) -> PlanRow:
    values = list(row)
    values[1] = json.loads(values[1])
    return PlanRow(*values)


POSTGRES_REFUSAL = ("orchestrated plans need the embedded SQLite database; with a PostgreSQL "
                    "database_url, run orchestrate and --accept-work instances on a SQLite "
                    "database (--db PATH)")


def tasks_in(store: object) -> TaskStore | None:
    """Return the orchestration tables of *store*'s database; None for a PostgreSQL store."""
    return TaskStore(store.database) if isinstance(store, SqliteBackend) else None


def require_tasks(store: object) -> TaskStore:
    """Return the orchestration tables of *store*'s database.

    Raises UsageError (one line) for a PostgreSQL store: plans live in SQLite only.
    """
    tasks = tasks_in(store)
    if tasks is None:
        raise UsageError(POSTGRES_REFUSAL)
    return tasks


class TaskStore:
    """The orchestration tables of one database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # --- plans ------------------------------------------------------------------------------

    def put_plan(self, definition: dict[str, Any], base_dir: str, namespace: str,
                 max_concurrent: int = 0, root: str = "") -> tuple[PlanRow, bool]:
        """Record a plan and its tasks, or take back the stored one of the same name.

        Only the workers of coordination root *root* take its tasks (instances of other roots
        may share the database: their liveness locks are not visible from here).

        Return (plan, created). Taking it back (a resume) keeps every done task; failed,
        skipped and interrupted ones start again with no attempts used. Raises UsageError
        if a plan of that name is stored with another definition and is not finished.
        """
        name = definition["name"]
        text = json.dumps(definition, sort_keys=True, separators=(",", ":"))

        def work(connection: apsw.Connection) -> bool:
            now = model.utc_now()
            stored = connection.execute(
                "SELECT definition, state FROM task_plans WHERE name=?", (name,)).fetchall()
            if stored and stored[0][0] != text:
                if stored[0][1] != "finished":
                    raise UsageError(f"plan {name!r} is stored with another definition and is "
                                     "not finished: finish it (orchestrate --resume) or give "
                                     "this plan another name")
                connection.execute("DELETE FROM task_dependencies WHERE plan=?", (name,))
                connection.execute("DELETE FROM tasks WHERE plan=?", (name,))
                connection.execute("DELETE FROM task_plans WHERE name=?", (name,))
                stored = []
            if stored:
                connection.execute(
                    "UPDATE task_plans SET state='running', max_concurrent=?, root=?, "
                    "updated_at=? WHERE name=?", (max_concurrent, root, now, name))
                connection.execute(
                    "UPDATE tasks SET state='pending', attempts=0, worker=NULL, run_id=NULL, "
                    "pid=NULL, pid_start=NULL, error=NULL "
                    "WHERE plan=? AND state IN ('failed', 'skipped', 'ready')", (name,))
                _promote_all(connection, name)
                return False
            connection.execute(
                "INSERT INTO task_plans (name, definition, base_dir, root, namespace, state, "
                "max_concurrent, created_at, updated_at) VALUES (?,?,?,?,?,'running',?,?,?)",
                (name, text, base_dir, root, namespace, max_concurrent, now, now))
            for position, task in enumerate(definition["tasks"]):
                connection.execute(
                    "INSERT INTO tasks (plan, id, position, title, spec, state, retries) "
                    "VALUES (?,?,?,?,?,'pending',?)",
                    (name, task["id"], position, task["title"], json.dumps(task),
                     task["retries"]))
            for task in definition["tasks"]:
                for dependency in task["depends_on"]:
                    connection.execute(
                        "INSERT INTO task_dependencies (plan, task, depends_on) VALUES (?,?,?)",
                        (name, task["id"], dependency))
            _promote_all(connection, name)
            return True

        created = self.database.write(work)
        return self.plan(name), created

    def plan(self, name: str) -> PlanRow:
        """Return the stored plan *name*. Raises NotFoundError."""
        rows = self.database.read(lambda c: c.execute(
            f"SELECT {PLAN_COLUMNS} FROM task_plans WHERE name=?", (name,)).fetchall())
        if not rows:
            raise NotFoundError(f"no plan named {name!r} in the database")
        return _plan(rows[0])

    def plans(self) -> list[PlanRow]:
        """Return every stored plan, oldest first."""
        rows = self.database.read(lambda c: c.execute(
            f"SELECT {PLAN_COLUMNS} FROM task_plans ORDER BY created_at, name").fetchall())
        return [_plan(row) for row in rows]

    def set_plan_state(self, name: str, state: str) -> None:
        """Mark the plan running (claims allowed), stopped or finished (no claims)."""
        self.database.write(lambda c: c.execute(
            "UPDATE task_plans SET state=?, updated_at=? WHERE name=?",
            (state, model.utc_now(), name)))

    def tasks(self, plan: str | None = None) -> list[TaskRow]:
        """Return the tasks of *plan* (or of every plan) in plan order."""
        where, values = ("WHERE plan=?", (plan,)) if plan is not None else ("", ())
        rows = self.database.read(lambda c: c.execute(
            f"SELECT {TASK_COLUMNS} FROM tasks {where} ORDER BY plan, position",
            values).fetchall())
        return [_task(row) for row in rows]

    def counts(self, plan: str) -> dict[str, int]:
        """Return how many tasks of *plan* are in each state (every state present)."""
        rows = self.database.read(lambda c: c.execute(
            "SELECT state, count(*) FROM tasks WHERE plan=? GROUP BY state", (plan,)).fetchall())
        return {state: 0 for state in STATES} | {state: count for state, count in rows}

    # --- the journal of transitions ---------------------------------------------------------

    def last_event(self) -> int:
        """Return the journal's last sequence number (0 when empty): a cursor at its end."""
        return self.database.read(lambda c: c.execute(
            "SELECT coalesce(max(seq), 0) FROM task_log").fetchall()[0][0])

    def events_after(self, seq: int, limit: int = 1000) -> list[TaskEvent]:
        """Return the transitions after *seq*, oldest first (at most *limit*)."""
        rows = self.database.read(lambda c: c.execute(
            "SELECT seq, plan, task, state, worker, attempt, exit_status, duration_s, error "
            "FROM task_log WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)).fetchall())
        return [TaskEvent(*row) for row in rows]

    # --- attempts ---------------------------------------------------------------------------

    def claim(self, worker: str, run_id: str, hostname: str, root: str = "") -> TaskRow | None:
        """Take one ready task of a running plan of *root* for *worker*; return it, or None.

        One IMMEDIATE transaction: two workers never take the same task, and a plan's
        `max_concurrent` is never exceeded.
        """
        claimant = Claimant(worker, run_id, hostname, root)
        return self.database.write(lambda connection: _claim(connection, claimant))

    def set_process(self, plan: str, task_id: str, run_id: str, pid: int,
                    pid_start: int | None) -> bool:
        """Record the attempt's process group leader; False if the attempt was taken away."""
        def work(connection: apsw.Connection) -> bool:
            connection.execute(
                "UPDATE tasks SET pid=?, pid_start=? WHERE plan=? AND id=? AND run_id=? "
                "AND state='running'", (pid, pid_start, plan, task_id, run_id))
            return connection.changes() > 0

        return self.database.write(work)

    def finish(self, plan: str, task_id: str, run_id: str, *, exit_status: int | None,
               duration_s: float, output_tail: str, error: str | None = None,
               memory: Memory | None = None, worktree_path: str | None = None,
               then: Claimant | None = None) -> Outcome | None:
        """Record the end of an attempt; return what changed, or None if it was taken away.

        Success is exit status 0 with no *error*: the task is done, *memory* is stored in the
        same transaction, and dependents whose every dependency is done become ready.
        Otherwise the task goes back to ready while it has retries left, else it fails and
        every task depending on it (transitively) that has not started is skipped.
        With *then*, the same transaction also claims the next ready task for that claimant
        (`Outcome.claimed`): a worker goes on to its next task without a second transaction.
        """
        success = exit_status == 0 and error is None
        tail = output_tail[-TAIL_BYTES:]

        def work(connection: apsw.Connection) -> Outcome | None:
            rows = connection.execute(
                "SELECT attempts, retries FROM tasks WHERE plan=? AND id=? AND run_id=? "
                "AND state='running'", (plan, task_id, run_id)).fetchall()
            if not rows:
                return None
            attempts, retries = rows[0]
            now_ns = time.time_ns()
            if success:
                state = "done"
            elif attempts <= retries:
                state = "ready"
            else:
                state = "failed"
            memory_id = None
            if state != "ready" and memory is not None:
                insert_memory(connection, memory)
                memory_id = memory.id
            connection.execute(
                "UPDATE tasks SET state=?, finished_at=?, finished_ns=?, exit_status=?, "
                "duration_s=?, output_tail=?, error=?, memory_id=?, worktree_path=?, "
                "ready_ns=CASE WHEN ?='ready' THEN ? ELSE ready_ns END WHERE plan=? AND id=?",
                (state, model.utc_now(), now_ns, exit_status, duration_s, tail, error,
                 memory_id, worktree_path, state, now_ns, plan, task_id))
            ready: tuple[str, ...] = ()
            skipped: tuple[str, ...] = ()
            if state == "done":
                ready = tuple(_promote(connection, plan, task_id, now_ns))
            elif state == "failed":
                skipped = tuple(_skip_dependents(connection, plan, task_id))
            _finish_plan_if_over(connection, plan)
            claimed = _claim(connection, then) if then is not None else None
            return Outcome(state, ready, skipped, memory_id, claimed)

        return self.database.write(work)

    def release(self, plan: str, task_id: str, run_id: str, why: str) -> bool:
        """Put an interrupted attempt back to ready (not counted); False if not running."""
        def work(connection: apsw.Connection) -> bool:
            connection.execute(
                "UPDATE tasks SET state='ready', attempts=max(attempts-1, 0), worker=NULL, "
                "pid=NULL, pid_start=NULL, error=?, ready_ns=? WHERE plan=? AND id=? AND "
                "run_id=? AND state='running'", (why, time.time_ns(), plan, task_id, run_id))
            return connection.changes() > 0

        return self.database.write(work)

    def running(self, root: str | None = None) -> list[TaskRow]:
        """Return every running attempt of the plans of *root* (None: of every plan)."""
        columns = ", ".join(f"t.{column}" for column in TASK_COLUMNS.split(", "))
        rows = self.database.read(lambda c: c.execute(
            f"SELECT {columns} FROM tasks t JOIN task_plans p ON p.name=t.plan "
            "WHERE t.state='running' AND (? IS NULL OR p.root=?) ORDER BY t.plan, t.position",
            (root, root)).fetchall())
        return [_task(row) for row in rows]

    def has_ready_work(self, root: str = "") -> bool:
        """Return True if some running plan of *root* has a ready task."""
        return bool(self.database.read(lambda c: c.execute(
            "SELECT 1 FROM tasks t JOIN task_plans p ON p.name=t.plan WHERE t.state='ready' "
            "AND p.state='running' AND p.root=? LIMIT 1", (root,)).fetchall()))


def _claim(connection: apsw.Connection, claimant: Claimant) -> TaskRow | None:
    """Mark the first ready task of a running plan of the claimant's root as its; or None."""
    rows = connection.execute(
        "SELECT t.plan, t.id FROM tasks t JOIN task_plans p ON p.name = t.plan "
        "WHERE t.state='ready' AND p.state='running' AND p.root=? AND "
        "(p.max_concurrent = 0 OR "
        "(SELECT count(*) FROM tasks r WHERE r.plan = t.plan AND r.state='running') "
        "< p.max_concurrent) ORDER BY p.created_at, t.position LIMIT 1",
        (claimant.root,)).fetchall()
    if not rows:
        return None
    plan, task_id = rows[0]
    connection.execute(
        "UPDATE tasks SET state='running', attempts=attempts+1, worker=?, run_id=?, "
        "hostname=?, pid=NULL, pid_start=NULL, started_at=?, started_ns=?, "
        "finished_at=NULL, finished_ns=NULL, exit_status=NULL, duration_s=NULL, "
        "error=NULL WHERE plan=? AND id=?",
        (claimant.worker, claimant.run_id, claimant.hostname, model.utc_now(), time.time_ns(),
         plan, task_id))
    return _task(connection.execute(
        f"SELECT {TASK_COLUMNS} FROM tasks WHERE plan=? AND id=?",
        (plan, task_id)).fetchall()[0])


def _promote_all(connection: apsw.Connection, plan: str) -> None:
    """Make ready every pending task of *plan* whose dependencies are all done."""
    connection.execute(
        "UPDATE tasks SET state='ready', ready_ns=? WHERE plan=? AND state='pending' AND NOT "
        "EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks u ON u.plan=d.plan AND "
        "u.id=d.depends_on WHERE d.plan=tasks.plan AND d.task=tasks.id AND u.state!='done')",
        (time.time_ns(), plan))
    _finish_plan_if_over(connection, plan)


def _promote(connection: apsw.Connection, plan: str, done: str, now_ns: int) -> list[str]:
    """Make ready the pending dependents of *done* whose dependencies are all done."""
    candidates = [row[0] for row in connection.execute(
        "SELECT d.task FROM task_dependencies d JOIN tasks t ON t.plan=d.plan AND t.id=d.task "
        "WHERE d.plan=? AND d.depends_on=? AND t.state='pending' AND NOT EXISTS (SELECT 1 "
        "FROM task_dependencies e JOIN tasks u ON u.plan=e.plan AND u.id=e.depends_on WHERE "
        "e.plan=d.plan AND e.task=d.task AND u.state!='done')", (plan, done)).fetchall()]
    for task_id in candidates:
        connection.execute("UPDATE tasks SET state='ready', ready_ns=? WHERE plan=? AND id=?",
                           (now_ns, plan, task_id))
    return candidates


def _skip_dependents(connection: apsw.Connection, plan: str, failed: str) -> list[str]:
    """Skip every task that depends on *failed*, directly or not, and has not started."""
    rows = connection.execute(
        "WITH RECURSIVE below(id) AS (SELECT task FROM task_dependencies WHERE plan=? AND "
        "depends_on=? UNION SELECT d.task FROM task_dependencies d JOIN below b ON "
        "d.depends_on=b.id WHERE d.plan=?) SELECT id FROM below", (plan, failed, plan)).fetchall()
    skipped = []
    for (task_id,) in rows:
        connection.execute(
            "UPDATE tasks SET state='skipped', error=? WHERE plan=? AND id=? AND state IN "
            "('pending', 'ready')", (f"skipped: {failed} failed", plan, task_id))
        if connection.changes():
            skipped.append(task_id)
    return skipped


def _finish_plan_if_over(connection: apsw.Connection, plan: str) -> None:
    # One probe of the index on (state, plan, ...), not a count over the plan's tasks.
    left = connection.execute(
        "SELECT 1 FROM tasks WHERE state IN ('pending', 'ready', 'running') AND plan=? LIMIT 1",
        (plan,)).fetchall()
    if not left:
        connection.execute("UPDATE task_plans SET state='finished', updated_at=? WHERE name=?",
                           (model.utc_now(), plan))


def result_memory(task: TaskRow, namespace: str, state: str, *, exit_status: int | None,
                  duration_s: float, output_tail: str, error: str | None) -> Memory:
    """Return the `task` memory that records an attempt's result (validated)."""
    now = model.utc_now()
    command = task.spec.get("command")
    shown = command if isinstance(command, str) else json.dumps(command)
    lines = [f"Task {task.plan}/{task.id} ({task.title}): {state}, exit status "
             f"{exit_status if exit_status is not None else '-'}, {duration_s:.3f} s, "
             f"attempt {task.attempts}, worker {task.worker}.", f"Command: {shown}"]
    if error:
        lines.append(f"Error: {error}")
    if output_tail:
        lines += ["Output (tail):", output_tail[-TAIL_BYTES:]]
    content = "\n".join(lines)
    return Memory(
        id=model.new_memory_id(), namespace=model.validate_namespace(namespace),
        content=content[:60000], summary=model.validate_summary(
            f"{task.plan}/{task.id}: {state}"[:200]),
        memory_type="task", importance=5 if state == "done" else 7,
        tags=model.parse_tags(["orchestrate", f"plan-{task.plan}"[:64], state]),
        created_at=now, updated_at=now)
