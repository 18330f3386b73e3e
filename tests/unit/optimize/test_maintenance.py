"""A maintenance pass: dry run changes nothing, the real one does it, one optimizer at a time."""

import dataclasses
import datetime
import io
import os
import threading

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.errors import ConflictError
from mnemosyne.optimize.maintenance import LowPriority, OptimizerLock, maintain, run_pass
from mnemosyne.store.sqlite import maintenance as store_maintenance
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


def test_the_finders_run_only_on_idle_cores_and_the_writes_do_not(db_path, tmp_path,
                                                                   monkeypatch):
    """Reading and comparing yield the CPU (SCHED_IDLE); a batch holding the writers' lock must
    not wait for a core behind the writers it keeps waiting."""
    own = os.sched_getscheduler(threading.get_native_id())
    seen = {}

    def recording(name, function):
        def wrapper(*args, **kwargs):
            seen[name] = os.sched_getscheduler(threading.get_native_id())
            return function(*args, **kwargs)
        return wrapper

    for name in ("duplicate_groups", "decay_candidates", "archive_candidates", "merge_groups",
                 "apply_decay", "apply_archive"):
        monkeypatch.setattr(store_maintenance, name,
                            recording(name, getattr(store_maintenance, name)))
    settings = resolve_settings({"database_url": str(db_path)}, environ={
        "XDG_CONFIG_HOME": str(tmp_path / "x"), "XDG_STATE_HOME": str(tmp_path / "x")})
    maintain(settings, dry_run=False, wait=False, interval_s=None, report=lambda r: None)
    assert {seen[name] for name in ("duplicate_groups", "decay_candidates",
                                    "archive_candidates")} == {os.SCHED_IDLE}
    assert {seen[name] for name in ("merge_groups", "apply_decay", "apply_archive")} == {own}
    assert os.sched_getscheduler(threading.get_native_id()) == own != os.SCHED_IDLE


def test_a_finder_s_error_reaches_the_caller():
    find = LowPriority()
    try:
        with pytest.raises(ConflictError, match="found"):
            find(lambda: (_ for _ in ()).throw(ConflictError("found")))
        assert find(lambda: 42) == 42  # the thread goes on
    finally:
        find.close()


def test_the_database_s_helpers_are_held_back_while_a_finder_runs():
    gate = threading.Lock()
    find = LowPriority(gate)
    try:
        assert find(gate.locked) is True
        assert not gate.locked()
    finally:
        find.close()
