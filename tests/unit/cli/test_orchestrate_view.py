"""orchestrate's display: progress lines, flags checked, plans read."""

from __future__ import annotations

import argparse

import pytest

from mnemosyne.cli.orchestrate_view import Progress, read_plan, run_options
from mnemosyne.config import resolve_settings
from mnemosyne.coord.plan import PlanError
from mnemosyne.errors import UsageError

COUNTS = {"pending": 0, "ready": 0, "running": 1, "done": 1, "failed": 0, "skipped": 0}


def test_plain_progress_lines(capsys):
    progress = Progress(live=False)
    progress("plan", {"name": "p", "created": True, "counts": COUNTS, "namespace": "global"})
    progress("TaskStarted", {"task": "a", "worker": "w", "attempt": 1})
    progress("TaskReady", {"task": "a", "exit_status": 1, "error": None})
    progress("TaskReady", {"task": "c", "exit_status": None, "error": None})  # not shown
    progress("TaskFailed", {"task": "a", "state": "failed", "exit_status": 1, "duration_s": 0.5,
                            "error": "timed out"})
    progress("TaskSkipped", {"task": "b", "error": "skipped: a failed"})
    progress("progress", {"counts": COUNTS})
    progress("stopping", {"signal": "SIGINT"})
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["plan p: recorded, 1/2 done, 1 running; results in global",
                     "task a: started on w (attempt 1)",
                     "task a: ready again (exit status 1, retried)",
                     "task a: failed (exit status 1, 0.500 s): timed out",
                     "task b: skipped (skipped: a failed)",
                     "1/2 done, 1 running",
                     "stopping on SIGINT: running tasks go back to ready"]


def test_live_progress_redraws_one_status_line(capsys):
    progress = Progress(live=True)
    progress("progress", {"counts": COUNTS})
    progress("TaskStarted", {"task": "a", "worker": "w"})
    assert "task a" not in capsys.readouterr().out


def test_run_options_checks_numbers(tmp_path):
    settings = resolve_settings({"db_path": str(tmp_path / "d.db")},
                                environ={"XDG_CONFIG_HOME": str(tmp_path)})
    args = argparse.Namespace(workers="3", max_concurrent=None)
    assert run_options(args, settings).workers == 3
    with pytest.raises(UsageError, match="--max-concurrent"):
        run_options(argparse.Namespace(workers=None, max_concurrent="-1"), settings)


def test_read_plan_reports_an_unreadable_file(tmp_path):
    with pytest.raises(PlanError, match="cannot read the plan"):
        read_plan(str(tmp_path / "missing.json"))
