"""Orchestration figures: a 200-task plan over 4 workers beside the same graph under `make -j4`.

The graph: a root task, a chain of 99 tasks after it, and a fan-out of 100 tasks after the
root (200 tasks). Each task is the same no-op for both runners: bash writing
`$EPOCHREALTIME` to a start file and to an end file (builtins only), so both are measured the
same way from inside the tasks:
- throughput: tasks / (last end - first start);
- dependency-to-start delay: for each task with dependencies, its start minus the moment it
  could start: the latest end of its dependencies, or later the moment a worker became free
  for it (p50, p99): what the runner adds between a task and the next, without the queueing
  that any runner with 4 workers has; and the same for the chain's edges alone. "A worker free
  for it" follows the runner's own order: the tasks that started before it had the slots
  first, so with n of them, the slot it took was freed by the (n-3)-th of their ends (in time
  order). (The first version of this benchmark counted only the tasks running at a moment,
  so a fan-out's last task, queued behind 99 others, was charged ~0.4 s of queueing.)
mnemosyne: `mnemosyne orchestrate --plan P --workers 4 --worktree`-less tasks (`worktree:
false`, outside a repository), in a private root and database; its wall time (start-up of the
orchestrator and its 4 workers included) is reported too. make: `make -j4` on a Makefile
with the same edges (SHELL=bash). Targets: throughput >= 0.5x make's, delay p50 <= 5 ms,
p99 <= 25 ms. Then a chain of TIMED_TASKS tasks that each take TIMED_TASK_S and have a
`timeout_s`, as real plans do (`mnemosyne_with_timeouts`): an end must be seen as soon as
without a timeout (a wait with a timeout used to notice it in sleeps of up to 50 ms).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, latency_summary

CHAIN = 99
FAN_OUT = 100
WORKERS = 4
TIMED_TASKS = 10
TIMED_TASK_S = 0.25


def graph() -> dict[str, list[str]]:
    """Return task id -> dependencies: the root, the chain, the fan-out."""
    edges: dict[str, list[str]] = {"root": []}
    previous = "root"
    for index in range(CHAIN):
        edges[f"chain{index}"] = [previous]
        previous = f"chain{index}"
    for index in range(FAN_OUT):
        edges[f"fan{index}"] = ["root"]
    return edges


def step(stamps: Path, name: str, busy_s: float = 0.0) -> str:
    """Return the task: its start and end times written with shell builtins (a no-op, or
    *busy_s* of sleep in between)."""
    return (f"echo $EPOCHREALTIME > {stamps}/{name}.start; "
            + (f"sleep {busy_s}; " if busy_s else "")
            + f"echo $EPOCHREALTIME > {stamps}/{name}.end")


def startable(name: str, ready: float, start: dict[str, float], end: dict[str, float]) -> float:
    """Return when *name* could start: its dependencies ended and a worker was free for it.

    With more ready tasks than workers a task waits for a worker whichever the runner: that
    queueing is not the runner's delay. The tasks that started before *name* took the workers
    first; with n of them, the worker *name* got was freed by the (n - WORKERS + 1)-th of their
    ends, in time order (none needed while n < WORKERS).
    """
    earlier = sorted(end[other] for other in start
                     if other != name and start[other] < start[name])
    freed = earlier[len(earlier) - WORKERS] if len(earlier) >= WORKERS else ready
    return max(ready, freed)


def figures(edges: dict[str, list[str]], stamps: Path) -> dict[str, object]:
    """Return throughput and dependency-to-start delays from the stamp files."""
    start = {name: float((stamps / f"{name}.start").read_text()) for name in edges}
    end = {name: float((stamps / f"{name}.end").read_text()) for name in edges}
    span = max(end.values()) - min(start.values())
    delays = [max(0.0, start[name] - startable(name, max(end[need] for need in needs),
                                               start, end))
              for name, needs in edges.items() if needs]
    chain = [start[name] - end[needs[0]] for name, needs in edges.items()
             if name.startswith("chain")]
    return {"tasks": len(edges), "span_s": round(span, 4),
            "tasks_per_s": round(len(edges) / span, 1),
            "dependency_to_start": latency_summary(delays),
            "chain_dependency_to_start": latency_summary(chain)}


def run_make(directory: Path, edges: dict[str, list[str]]) -> dict[str, object]:
    """Run the graph as a Makefile under make -j4."""
    stamps = directory / "make-stamps"
    stamps.mkdir()
    lines = ["SHELL := /bin/bash", ".PHONY: all " + " ".join(edges), f"all: {' '.join(edges)}"]
    for name, needs in edges.items():
        lines += [f"{name}: {' '.join(needs)}", "\t@" + step(stamps, name).replace("$", "$$")]
    (directory / "Makefile").write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    subprocess.run(["make", "-s", f"-j{WORKERS}", "-C", str(directory)], check=True)
    wall = time.perf_counter() - started
    return {**figures(edges, stamps), "wall_s": round(wall, 3)}


def run_mnemosyne(directory: Path, edges: dict[str, list[str]],
                  timeout_s: float | None = None, busy_s: float = 0.0) -> dict[str, object]:
    """Run the graph with `mnemosyne orchestrate --workers 4` in a private root.

    With *timeout_s*, every task has that timeout and lasts *busy_s*; the cold run is left out.
    """
    directory.mkdir(exist_ok=True)
    stamps = directory / "mnemosyne-stamps"
    stamps.mkdir()
    work = directory / "work"
    work.mkdir()
    plan = {"name": "bench", "tasks": [
        {"id": name, "depends_on": needs, "worktree": False,
         "command": ["bash", "-c", step(stamps, name, busy_s)],
         **({"timeout_s": timeout_s} if timeout_s else {})} for name, needs in edges.items()]}
    (directory / "plan.json").write_text(json.dumps(plan))
    home = directory / "home"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MNEMOSYNE_", "XDG_", "NOTIFY_SOCKET"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_STATE_HOME=str(home / "state"), MNEMOSYNE_ROOT=str(directory / "coord"))
    base = [sys.executable, "-m", "mnemosyne", "--db", str(directory / "db.sqlite")]
    # The 4 workers first, so that their start-up is not counted as the runner's delay; the
    # wall time of a whole `orchestrate --workers 4` run (start-up included) is measured after.
    workers = [subprocess.Popen([*base, "--log-level", "warning", "serve", "--accept-work"],
                                env=env, cwd=work, stdin=subprocess.DEVNULL)
               for _ in range(WORKERS)]
    try:
        deadline = time.monotonic() + 60
        while len(json.loads(subprocess.run(
                [*base, "instances", "--format", "json"], env=env, cwd=work, check=True,
                capture_output=True, text=True).stdout)) < WORKERS:
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not start")
            time.sleep(0.1)
        subprocess.run([*base, "--log-level", "warning", "orchestrate", "--plan",
                        str(directory / "plan.json"), "--workers", "0"],
                       check=True, env=env, cwd=work, stdout=subprocess.DEVNULL)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait()
    measured = figures(edges, stamps)
    if timeout_s:
        return measured
    plan = json.loads((directory / "plan.json").read_text())
    plan["name"] = "bench-cold"
    for task in plan["tasks"]:
        task["command"] = ["true"]
    (directory / "plan.json").write_text(json.dumps(plan))
    started = time.perf_counter()
    subprocess.run([*base, "--log-level", "warning", "orchestrate", "--plan",
                    str(directory / "plan.json"), "--workers", str(WORKERS)],
                   check=True, env=env, cwd=work, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return {**measured, "wall_s_with_start_up": round(wall, 3)}


def main() -> None:
    """Run both and print the figures."""
    edges = graph()
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        make = run_make(Path(directory), edges) if shutil.which("make") else None
        ours = run_mnemosyne(Path(directory), edges)
        chain = {"root": [], "chain0": ["root"],
                 **{f"chain{index}": [f"chain{index - 1}"] for index in range(1, TIMED_TASKS - 1)}}
        timed = run_mnemosyne(Path(directory) / "with-timeouts", chain, timeout_s=600,
                              busy_s=TIMED_TASK_S)
    ratio = round(ours["tasks_per_s"] / make["tasks_per_s"], 2) if make else None
    emit("orchestrate", {
        "graph": {"tasks": len(edges), "chain": CHAIN + 1, "fan_out": FAN_OUT,
                  "workers": WORKERS, "timed_chain": {"tasks": TIMED_TASKS,
                                                      "task_s": TIMED_TASK_S, "timeout_s": 600}},
        "mnemosyne": ours, "mnemosyne_with_timeouts": timed, "make_j4": make,
        "throughput_vs_make": ratio,
        "targets": {"throughput_vs_make": ">= 0.5", "dependency_to_start_p50_ms": "<= 5",
                    "dependency_to_start_p99_ms": "<= 25"},
    })


if __name__ == "__main__":
    main()
