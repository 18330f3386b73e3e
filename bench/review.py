"""Review latency: a commit on an instance branch → its review stored, under `review --watch`.

A `mnemosyne review --watch --check true --format json` process watches a fresh repository;
the benchmark commits on `mnemosyne/<id>` branches (round robin over three) from their own
worktrees, COMMITS times, and times from `git commit` returning (the ref has moved; the
watcher may have started a little before) to the watcher's JSON line for that commit (and, as
an upper bound, from `git commit` starting), which it prints after the memory is stored, the done
marker written and the messages sent. Each review includes making and removing the temporary
detached worktree and running the no-op check. Target: p50 <= 1.5 s.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import emit, latency_summary

COMMITS = 20
BRANCHES = ("mnemosyne/aaaaaaaa", "mnemosyne/bbbbbbbb", "mnemosyne/cccccccc")
GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}


def git(*args: str, cwd: Path) -> str:
    """Run git; return its stdout."""
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout


def make_repository(top: Path) -> tuple[Path, dict[str, Path]]:
    """Return a repository with one commit on main, and a worktree per instance branch."""
    repo = top / "repo"
    git("init", "-q", "-b", "main", str(repo), cwd=top)
    (repo / "README").write_text("bench\n")
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    worktrees = {}
    for branch in BRANCHES:
        path = top / branch.replace("/", "-")
        git("worktree", "add", "-q", "-b", branch, str(path), "main", cwd=repo)
        worktrees[branch] = path
    return repo, worktrees


def start_reading(process: subprocess.Popen) -> queue.SimpleQueue[str]:
    """Return a queue that receives the watcher's stdout lines, each as it arrives."""
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def measure(top: Path) -> dict:
    """Run the watcher, commit COMMITS times, return the latency figures."""
    repo, worktrees = make_repository(top)
    env = {**os.environ, "MNEMOSYNE_ROOT": str(top / "coord"), "HOME": str(top),
           "XDG_CONFIG_HOME": str(top / "config"), "XDG_STATE_HOME": str(top / "state"),
           "XDG_DATA_HOME": str(top / "data"), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mnemosyne", "--db", str(top / "bench.db"), "--log-level",
         "warning", "review", "--watch", "--check", "true", "--format", "json"],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        bufsize=1, start_new_session=True)
    latencies, bounds = [], []
    lines = start_reading(process)
    try:
        lines.get(timeout=30)  # the three branches' common tip, there at start
        for index in range(COMMITS):
            branch = BRANCHES[index % len(BRANCHES)]
            worktree = worktrees[branch]
            (worktree / f"file{index}.txt").write_text(f"{index}\n")
            git("add", ".", cwd=worktree)
            committing = time.monotonic()
            git("commit", "-q", "-m", f"commit {index}", cwd=worktree)
            committed = time.monotonic()
            sha = git("rev-parse", "HEAD", cwd=worktree).strip()
            line = json.loads(lines.get(timeout=30))
            done = time.monotonic()
            latencies.append(done - committed)
            bounds.append(done - committing)
            if line["sha"] != sha:
                raise RuntimeError(f"reviewed {line['sha']}, expected {sha}")
        process.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        status = process.wait(10)
        stop_s = time.monotonic() - stopping
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return {"commit_to_stored_review": latency_summary(latencies),
            "commit_started_to_stored_review": latency_summary(bounds),
            "sigterm_to_exit_s": round(stop_s, 3), "exit_status": status}


def main() -> None:
    """Measure in a fresh directory and print the figures."""
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        figures = measure(Path(directory))
    emit("review", {**figures, "commits": COMMITS, "check": "true",
                    "targets": {"commit_to_stored_review_p50_ms": "<= 1500",
                                "sigterm_to_exit_s": "<= 1"}})


if __name__ == "__main__":
    main()
