"""The orchestrator's parts: the summary line, the namespace, starting and stopping workers.

Whole runs (signals, resume, dead workers) are tested end to end in
tests/integration/test_orchestrate.py.
"""

from __future__ import annotations

import subprocess
import sys

from mnemosyne.daemon.orchestrator import project_namespace, stop_workers, summary


def test_summary_leaves_out_zero_counts():
    counts = {"pending": 1, "ready": 0, "running": 2, "done": 3, "failed": 1, "skipped": 0}
    assert summary(counts) == "3/7 done, 2 running, 1 pending, 1 failed"


def test_the_namespace_is_the_repository_name(git_repo, tmp_path):
    assert project_namespace(git_repo / "src") == "project:repo"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert project_namespace(outside) in ("global", "project:repo")


def test_stop_workers_terminates_and_reaps():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_workers([process])
    assert process.returncode == -15
