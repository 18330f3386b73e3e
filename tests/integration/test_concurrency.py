"""Many real processes on one database file: nothing lost, nobody sees "database is locked"."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from mnemosyne.store.sqlite import migrations
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database

WORKER = Path(__file__).with_name("store_worker.py")


def run_workers(db_path: Path, processes: int, count: int, env: dict[str, str]) -> list[dict]:
    start_at = time.time() + 1.0  # every process is up and waiting well before this
    children = [subprocess.Popen([sys.executable, str(WORKER), str(db_path), str(start_at),
                                  str(count), str(index)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
                for index in range(processes)]
    reports = []
    for child in children:
        stdout, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr
        reports.append(json.loads(stdout))
    return reports


def test_eight_processes_write_500_each_with_no_error_and_nothing_lost(tmp_path, isolated_env):
    db_path = tmp_path / "shared.db"
    Database.open(db_path).close()
    reports = run_workers(db_path, processes=8, count=500, env=isolated_env)
    assert [report["errors"] for report in reports] == [[]] * 8
    written = {memory_id for report in reports for memory_id in report["written"]}
    assert len(written) == 4000
    database = Database.open(db_path)
    store = SqliteBackend(database)
    stored = {memory.id for memory in store.list(limit=0)}
    assert stored == written
    for worker in range(8):
        assert store.count(f"project:w{worker}") == 500
    assert database.read(lambda c: c.execute("PRAGMA integrity_check").fetchall()) == [("ok",)]
    fts_rows = database.read(lambda c: c.execute(
        "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'concurrency'").fetchall())
    assert fts_rows == [(4000,)]
    database.close()


def test_eight_processes_opening_a_brand_new_file_at_once_get_one_schema(tmp_path, isolated_env):
    for attempt in range(3):
        db_path = tmp_path / f"fresh-{attempt}.db"
        reports = run_workers(db_path, processes=8, count=1, env=isolated_env)
        assert [report["errors"] for report in reports] == [[]] * 8
        database = Database.open(db_path)
        version = database.read(migrations.read_user_version)
        assert version == migrations.LATEST_VERSION
        tables = database.read(lambda c: c.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'memories'").fetchall())
        assert tables == [(1,)]
        assert SqliteBackend(database).count() == 8
        database.close()
