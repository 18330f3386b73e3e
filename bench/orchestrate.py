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
mnemosyne: `mnemosyne orchestrate --plan P` with 4 warm `serve --accept-work` workers,
worktree-less tasks (`worktree: false`, outside a repository), in a private root and
database; the wall time of one whole `orchestrate --workers 4` run (start-up of the
orchestrator and its 4 workers included) is reported too. make: `make -j4` on a Makefile
with the same edges (SHELL=bash). Both run the graph ROUNDS times, in turn (one run of 200
short tasks on 2 busy cores moves the p50 by a millisecond from one run to the next): the
delays of all rounds are pooled, throughput is the median round's, and each round's figures
are listed. Targets: throughput >= 0.5x make's, delay p50 <= 5 ms, p99 <= 25 ms. Then a
chain of TIMED_TASKS tasks that each take TIMED_TASK_S and have a `timeout_s`, as real plans
do (`mnemosyne_with_timeouts`): an end must be seen as soon as without a timeout (a wait with
a timeout used to notice it in sleeps of up to 50 ms).
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
ROUNDS = 5
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


def delays(edges: dict[str, list[str]], stamps: Path) -> dict[str, object]:
    """Return one run's span and dependency-to-start delays (seconds) from its stamp files."""
    start = {name: float((stamps / f"{name}.start").read_text()) for name in edges}
    end = {name: float((stamps / f"{name}.end").read_text()) for name in edges}
    return {
        "span_s": max(end.values()) - min(start.values()),
        "all": [max(0.0, start[name] - startable(name, max(end[need] for need in needs),
                                                 start, end))
                for name, needs in edges.items() if needs],
        "chain": [start[name] - end[needs[0]] for name, needs in edges.items()
                  if name.startswith("chain")]}


def figures(edges: dict[str, list[str]], runs: list[dict[str, object]]) -> dict[str, object]:
    """Return throughput (the median run's) and the delays of all runs pooled, and per run."""
    rates = sorted(len(edges) / run["span_s"] for run in runs)
    return {"tasks": len(edges), "runs": len(runs),
            "tasks_per_s": round(rates[len(rates) // 2], 1),
            "dependency_to_start": latency_summary([d for run in runs for d in run["all"]]),
            "chain_dependency_to_start": latency_summary([d for run in runs
                                                          for d in run["chain"]]),
            "per_run": [{"tasks_per_s": round(len(edges) / run["span_s"], 1),
                         "p50_ms": latency_summary(run["all"])["p50_ms"],
                         "p99_ms": latency_summary(run["all"])["p99_ms"]} for run in runs]}


def run_make(directory: Path, edges: dict[str, list[str]]) -> dict[str, object]:
    """Run the graph once as a Makefile under make -j4; return its delays."""
    stamps = directory / "make-stamps"
    stamps.mkdir()
    lines = ["SHELL := /bin/bash", ".PHONY: all " + " ".join(edges), f"all: {' '.join(edges)}"]
    for name, needs in edges.items():
        lines += [f"{name}: {' '.join(needs)}", "\t@" + step(stamps, name).replace("$", "$$")]
    (directory / "Makefile").write_text("\n".join(lines) + "\n")
    subprocess.run(["make", "-s", f"-j{WORKERS}", "-C", str(directory)], check=True)
    return delays(edges, stamps)


class Mnemosyne:
    """A private root and database with 4 warm `serve --accept-work` workers, for plans."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.work = directory / "work"
        self.work.mkdir(parents=True)
        home = directory / "home"
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("MNEMOSYNE_", "XDG_", "NOTIFY_SOCKET"))}
        self.env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
                        XDG_STATE_HOME=str(home / "state"),
                        MNEMOSYNE_ROOT=str(directory / "coord"))
        self.base = [sys.executable, "-m", "mnemosyne", "--log-level", "warning", "--db",
                     str(directory / "db.sqlite")]
        self.workers: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Mnemosyne:
        """Start the workers and wait until all are registered (their start-up is not the
        runner's delay; the wall time of a whole `orchestrate --workers 4` is `cold_run`'s)."""
        self.workers = [subprocess.Popen([*self.base, "serve", "--accept-work"], env=self.env,
                                         cwd=self.work, stdin=subprocess.DEVNULL)
                        for _ in range(WORKERS)]
        try:
            deadline = time.monotonic() + 60
            while len(json.loads(self.cli("instances", "--format", "json"))) < WORKERS:
                if time.monotonic() > deadline:
                    raise RuntimeError("the workers did not start")
                time.sleep(0.1)
        except BaseException:
            self.__exit__()  # not called when __enter__ fails: no worker is left behind
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            worker.wait()

    def cli(self, *args: str) -> str:
        """Run a mnemosyne command in the private root; return its output."""
        return subprocess.run([*self.base, *args], env=self.env, cwd=self.work, check=True,
                              capture_output=True, text=True).stdout

    def run(self, name: str, edges: dict[str, list[str]], timeout_s: float | None = None,
            busy_s: float = 0.0) -> dict[str, object]:
        """Run the graph as plan *name* on the warm workers; return its delays.

        With *timeout_s*, every task has that timeout and lasts *busy_s*.
        """
        stamps = self.directory / f"{name}-stamps"
        stamps.mkdir()
        plan = self.directory / f"{name}.json"
        plan.write_text(json.dumps({"name": name, "tasks": [
            {"id": task, "depends_on": needs, "worktree": False,
             "command": ["bash", "-c", step(stamps, task, busy_s)],
             **({"timeout_s": timeout_s} if timeout_s else {})}
            for task, needs in edges.items()]}))
        self.cli("orchestrate", "--plan", str(plan), "--workers", "0")
        return delays(edges, stamps)

    def cold_run(self, edges: dict[str, list[str]]) -> float:
        """Return the wall time of `orchestrate --workers 4` on the graph of `true`s, from
        nothing running (call outside the with block)."""
        plan = self.directory / "cold.json"
        plan.write_text(json.dumps({"name": "cold", "tasks": [
            {"id": task, "depends_on": needs, "worktree": False, "command": ["true"]}
            for task, needs in edges.items()]}))
        started = time.perf_counter()
        self.cli("orchestrate", "--plan", str(plan), "--workers", str(WORKERS))
        return time.perf_counter() - started


def main() -> None:
    """Run both, ROUNDS times in turn, and print the figures."""
    edges = graph()
    chain = {"root": [], "chain0": ["root"],
             **{f"chain{index}": [f"chain{index - 1}"] for index in range(1, TIMED_TASKS - 1)}}
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        has_make = shutil.which("make") is not None
        make_runs, our_runs = [], []
        mnemosyne = Mnemosyne(Path(directory) / "mnemosyne")
        with mnemosyne:
            for round_ in range(ROUNDS):
                if has_make:
                    make_directory = Path(directory) / f"make-{round_}"
                    make_directory.mkdir()
                    make_runs.append(run_make(make_directory, edges))
                our_runs.append(mnemosyne.run(f"bench-{round_}", edges))
            timed = mnemosyne.run("timed", chain, timeout_s=600, busy_s=TIMED_TASK_S)
        ours = {**figures(edges, our_runs),
                "wall_s_with_start_up": round(mnemosyne.cold_run(edges), 3)}
    make = figures(edges, make_runs) if has_make else None
    ratio = round(ours["tasks_per_s"] / make["tasks_per_s"], 2) if make else None
    emit("orchestrate", {
        "graph": {"tasks": len(edges), "chain": CHAIN + 1, "fan_out": FAN_OUT,
                  "workers": WORKERS, "rounds": ROUNDS,
                  "timed_chain": {"tasks": TIMED_TASKS, "task_s": TIMED_TASK_S,
                                  "timeout_s": 600}},
        "mnemosyne": ours, "mnemosyne_with_timeouts": figures(chain, [timed]),
        "make_j4": make, "throughput_vs_make": ratio,
        "targets": {"throughput_vs_make": ">= 0.5", "dependency_to_start_p50_ms": "<= 5",
                    "dependency_to_start_p99_ms": "<= 25"},
    })


if __name__ == "__main__":
    main()
