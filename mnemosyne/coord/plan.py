"""Task plans for `mnemosyne orchestrate`: read, validate, order into waves.

A plan is JSON: `{"name": ..., "tasks": [{"id", "title"?, "depends_on"?, "command",
"cwd"?, "env"?, "timeout_s"?, "retries"?, "worktree"?, "namespace"?}]}`; its JSON Schema ships
in the package (`plan.schema.json`, printed by `orchestrate --schema`). Validation is done
here by hand, field by field, so that every refusal names the JSON path of the offending
field (`$.tasks[2].depends_on[0]`): unknown keys, wrong types, duplicate ids, unknown
dependencies, missing commands, and cycles, which are named `x -> y -> x`.
Must not: run anything, or touch the database (store/sqlite/tasks.py keeps the plan's state).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

from mnemosyne.errors import UsageError

ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NAMESPACE_RE = re.compile(r"global|project:[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
                          r"|session:[A-Za-z0-9][A-Za-z0-9._-]{0,63}:[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PLAN_KEYS = {"name", "tasks"}
TASK_KEYS = {"id", "title", "depends_on", "command", "cwd", "env", "timeout_s", "retries",
             "worktree", "namespace"}
MAX_TASKS = 10_000
MAX_RETRIES = 100
MAX_PLAN_BYTES = 16 * 1024 * 1024


class PlanError(UsageError):
    """An invalid plan (exit status 2); the message names the JSON path."""


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of a plan, validated."""

    id: str
    title: str
    depends_on: tuple[str, ...]
    command: tuple[str, ...] | str
    cwd: str | None = None
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    timeout_s: float | None = None
    retries: int = 0
    worktree: bool = True
    namespace: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the plan-file form of this task."""
        return {"id": self.id, "title": self.title, "depends_on": list(self.depends_on),
                "command": self.command if isinstance(self.command, str) else list(self.command),
                "cwd": self.cwd, "env": dict(self.env), "timeout_s": self.timeout_s,
                "retries": self.retries, "worktree": self.worktree,
                "namespace": self.namespace}


@dataclasses.dataclass(frozen=True)
class Plan:
    """A validated plan: its tasks in file order, each dependency known, no cycle."""

    name: str
    tasks: tuple[Task, ...]

    def waves(self) -> list[list[str]]:
        """Return the task ids grouped in waves: each wave needs only earlier ones."""
        level: dict[str, int] = {}
        by_id = {task.id: task for task in self.tasks}
        for task in self.tasks:
            _iterative_depth(task.id, by_id, level)
        waves: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for task in self.tasks:
            waves[level[task.id]].append(task.id)
        return waves

    def to_dict(self) -> dict[str, Any]:
        """Return the plan-file form."""
        return {"name": self.name, "tasks": [task.to_dict() for task in self.tasks]}


def _iterative_depth(start: str, by_id: dict[str, Task], level: dict[str, int]) -> None:
    """Fill level[] for *start* and its dependencies without recursion (deep chains)."""
    stack = [start]
    while stack:
        current = stack[-1]
        if current in level:
            stack.pop()
            continue
        missing = [d for d in by_id[current].depends_on if d not in level]
        if missing:
            stack.extend(missing)
            continue
        level[current] = 1 + max((level[d] for d in by_id[current].depends_on), default=-1)
        stack.pop()


def schema_text() -> str:
    """Return the plan's JSON Schema as shipped in the package."""
    return resources.files("mnemosyne.coord").joinpath("plan.schema.json").read_text("utf-8")


def load_plan(text: str | bytes, source: str = "plan") -> Plan:
    """Parse and validate a plan. Raises PlanError naming the JSON path of the problem."""
    if len(text) > MAX_PLAN_BYTES:
        raise PlanError(f"{source}: over {MAX_PLAN_BYTES} bytes")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise PlanError(f"{source}: not JSON: {error}") from None
    return parse_plan(data, source)


def _fail(source: str, path: str, problem: str) -> PlanError:
    return PlanError(f"{source}: {path}: {problem}")


def _check_text(data: Any, source: str) -> None:
    """Refuse any key or string of *data* that is not valid Unicode.

    JSON can spell a lone surrogate (an escape such as backslash-u-d800), which no argv,
    directory, environment or memory can carry; the error names its JSON path, never the text.
    """
    pending: list[tuple[str, Any]] = [("$", data)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                _require_unicode(key, path, source, "a key")
                pending.append((f"{path}.{key}", item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))
        elif isinstance(value, str):
            _require_unicode(value, path, source, "the value")


def _require_unicode(text: str, path: str, source: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(source, path, f"{what} is not valid Unicode text (a lone surrogate)") \
            from None


def parse_plan(data: Any, source: str = "plan") -> Plan:
    """Validate parsed JSON as a plan. Raises PlanError naming the JSON path."""
    if not isinstance(data, dict):
        raise _fail(source, "$", "must be an object with name and tasks")
    _check_text(data, source)
    for key in data:
        if key not in PLAN_KEYS:
            raise _fail(source, f"$.{key}", "unknown key (allowed: name, tasks)")
    name = data.get("name")
    if not isinstance(name, str) or not ID_RE.fullmatch(name):
        raise _fail(source, "$.name", "must be a name of letters, digits, . _ - (at most 64)")
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise _fail(source, "$.tasks", "must be a non-empty list of tasks")
    if len(tasks) > MAX_TASKS:
        raise _fail(source, "$.tasks", f"more than {MAX_TASKS} tasks")
    parsed = [_parse_task(raw, f"$.tasks[{index}]", source) for index, raw in enumerate(tasks)]
    seen: dict[str, int] = {}
    for index, task in enumerate(parsed):
        if task.id in seen:
            raise _fail(source, f"$.tasks[{index}].id",
                        f"duplicate id {task.id!r} (also $.tasks[{seen[task.id]}].id)")
        seen[task.id] = index
    for index, task in enumerate(parsed):
        for position, dependency in enumerate(task.depends_on):
            if dependency not in seen:
                raise _fail(source, f"$.tasks[{index}].depends_on[{position}]",
                            f"unknown task {dependency!r}")
    cycle = find_cycle(parsed)
    if cycle is not None:
        index = seen[cycle[0]]
        raise _fail(source, f"$.tasks[{index}].depends_on", "cycle: " + " -> ".join(cycle))
    return Plan(name, tuple(parsed))


def _parse_task(raw: Any, path: str, source: str) -> Task:
    if not isinstance(raw, dict):
        raise _fail(source, path, "must be an object")
    for key in raw:
        if key not in TASK_KEYS:
            raise _fail(source, f"{path}.{key}", "unknown key (allowed: "
                        f"{', '.join(sorted(TASK_KEYS))})")
    task_id = raw.get("id")
    if not isinstance(task_id, str) or not ID_RE.fullmatch(task_id):
        raise _fail(source, f"{path}.id", "must be an id of letters, digits, . _ - (at most 64)")
    title = raw.get("title", task_id)
    if not isinstance(title, str) or len(title) > 500:
        raise _fail(source, f"{path}.title", "must be a string of at most 500 characters")
    depends = raw.get("depends_on", [])
    if not isinstance(depends, list):
        raise _fail(source, f"{path}.depends_on", "must be a list of task ids")
    for position, dependency in enumerate(depends):
        if not isinstance(dependency, str) or not ID_RE.fullmatch(dependency):
            raise _fail(source, f"{path}.depends_on[{position}]", "must be a task id")
    if "command" not in raw:
        raise _fail(source, f"{path}.command", "missing (an argv list, or a string for sh -c)")
    command = raw["command"]
    if isinstance(command, str):
        if not command.strip() or "\0" in command:
            raise _fail(source, f"{path}.command", "must not be empty")
    elif isinstance(command, list) and command:
        for position, word in enumerate(command):
            if not isinstance(word, str) or "\0" in word or (position == 0 and not word):
                raise _fail(source, f"{path}.command[{position}]", "must be a non-empty string")
        command = tuple(command)
    else:
        raise _fail(source, f"{path}.command", "must be a non-empty argv list or a string")
    cwd = raw.get("cwd")
    if cwd is not None and (not isinstance(cwd, str) or not cwd or "\0" in cwd):
        raise _fail(source, f"{path}.cwd", "must be a directory path")
    env = raw.get("env", {})
    if not isinstance(env, dict):
        raise _fail(source, f"{path}.env", "must be an object of strings")
    for key, value in env.items():
        if not ENV_NAME_RE.fullmatch(key):
            raise _fail(source, f"{path}.env.{key}", "not a variable name")
        if not isinstance(value, str) or "\0" in value:
            raise _fail(source, f"{path}.env.{key}", "must be a string")
    timeout = raw.get("timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not 0 < timeout <= 7 * 86400):
        raise _fail(source, f"{path}.timeout_s", "must be a number of seconds, > 0, <= 604800")
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or \
            not 0 <= retries <= MAX_RETRIES:
        raise _fail(source, f"{path}.retries", f"must be an integer from 0 to {MAX_RETRIES}")
    worktree = raw.get("worktree", True)
    if not isinstance(worktree, bool):
        raise _fail(source, f"{path}.worktree", "must be true or false")
    namespace = raw.get("namespace")
    if namespace is not None and (not isinstance(namespace, str)
                                  or not NAMESPACE_RE.fullmatch(namespace)):
        raise _fail(source, f"{path}.namespace",
                    "must be global, project:NAME or session:PROJECT:ID")
    return Task(task_id, title, tuple(dict.fromkeys(depends)), command, cwd, env,
                float(timeout) if timeout is not None else None, retries, worktree, namespace)


def find_cycle(tasks: list[Task]) -> list[str] | None:
    """Return one dependency cycle as [x, y, ..., x] (x depends on y ...), or None."""
    by_id = {task.id: task for task in tasks}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for task in tasks:
        if task.id in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(task.id, 0)]
        while stack:
            current, position = stack.pop()
            if position == 0:
                state[current] = 1
                path.append(current)
            depends = by_id[current].depends_on
            if position < len(depends):
                stack.append((current, position + 1))
                following = depends[position]
                if state.get(following) == 1:
                    return [*path[path.index(following):], following]
                if following not in state:
                    stack.append((following, 0))
                continue
            state[current] = 2
            path.pop()
    return None
