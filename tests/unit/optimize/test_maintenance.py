"""A maintenance pass: dry run changes nothing, the real one does it, one optimizer at a time."""

import dataclasses
import datetime
import io
import subprocess
import sys

import pytest

from mnemosyne.errors import ConflictError
from mnemosyne.optimize.maintenance import OptimizerLock, run_pass
from mnemosyne.store.sqlite.backend import insert_memory

NOW = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)
OLD = "2026-01-01T00:00:00.000000Z"


def export(store):
    out = io.StringIO()
    store.export(out)
    return out.getvalue()


def seed(store):
    store.remember("run the tests first", importance=7, tags="dev")
    store.remember("Run the tests, first!", importance=4, tags="ci")
    for content, importance in (("old habit", 5), ("forgotten", 1)):
        memory = dataclasses.replace(store.remember(content, importance=importance),
                                     updated_at=OLD)
        store.database.write(lambda c, m=memory: insert_memory(c, m, replace=True))


def test_a_dry_run_reports_and_changes_nothing(store):
    seed(store)
    before = export(store)
    report = run_pass(store, dry_run=True, now=NOW)
    assert (len(report.groups), report.decay, report.archive) == (1, 1, 1)
    assert report.summary().startswith("would merge 1 duplicate(s) into 1 memories")
    assert export(store) == before


def test_a_pass_merges_decays_archives_and_compacts(store):
    seed(store)
    report = run_pass(store, dry_run=False, now=NOW)
    assert (report.merged, report.decay, report.archive) == (1, 1, 1)
    assert report.compacted is not None and "WAL checkpointed" in report.summary()
    data = report.to_dict()
    assert data["merged"] == 1 and data["duplicates"][0]["merged"]
    live = {m.content: m for m in store.list(limit=None)}
    assert live["old habit"].importance == 4 and "forgotten" not in live
    assert sorted(live["run the tests first"].tags) == ["ci", "dev"]
    again = run_pass(store, dry_run=False, now=NOW)
    assert (again.merged, again.decay, again.archive) == (0, 0, 0)


def test_one_optimizer_at_a_time(db_path):
    db_path.parent.mkdir()
    first, second = OptimizerLock(db_path), OptimizerLock(db_path)
    first.acquire(wait=False)
    try:
        with pytest.raises(ConflictError, match="another optimize is running"):
            second.acquire(wait=False)
    finally:
        first.release()
    second.acquire(wait=False)
    second.release()
    assert oct(first.path.stat().st_mode & 0o777) == "0o600"


def test_the_command_runs_at_a_lower_cpu_priority(db_path, tmp_path):
    """In a child process: lowering the priority is for good, not for the test run."""
    script = (
        "import os, sys\n"
        "from mnemosyne.config import resolve_settings\n"
        "from mnemosyne.optimize.maintenance import NICENESS, maintain\n"
        "before = os.nice(0)\n"
        "settings = resolve_settings({'database_url': sys.argv[1]}, environ={\n"
        "    'XDG_CONFIG_HOME': sys.argv[2], 'XDG_STATE_HOME': sys.argv[2]})\n"
        "maintain(settings, dry_run=True, wait=False, interval_s=None, report=lambda r: None)\n"
        "print(os.nice(0) - before == NICENESS or os.nice(0) == 19)\n")
    done = subprocess.run([sys.executable, "-c", script, str(db_path), str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "True", done.stderr
