"""`mnemosyne optimize --context` as users run it: the pack, JSON, a file, bad input, engines."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from mnemosyne.optimize.maintenance import OptimizerLock
from mnemosyne.store.sqlite.backend import SqliteBackend, insert_memory
from mnemosyne.store.sqlite.database import Database
from tests.helpers import assert_one_line_error

WORKER = Path(__file__).with_name("store_worker.py")


def seed(db_path: Path) -> None:
    with SqliteBackend(Database.open(db_path)) as store:
        for n in range(20):
            store.remember(f"project memory {n} über 日本", namespace="project:x",
                           importance=n % 10 + 1)
        store.remember("global rule", importance=9)


def test_cli_context_json_and_file(cli, db_path: Path, tmp_path: Path) -> None:
    seed(db_path)
    result = cli("optimize", "--context", "--budget", "400")
    assert result.returncode == 0 and 0 < len(result.stdout.encode()) <= 400
    result = cli("optimize", "--context", "--budget", "100", "--unit", "tokens",
                 "--format", "json", "-n", "project:x")
    document = json.loads(result.stdout)
    assert document["budget"] == 100 and document["used"] <= 100 and document["included"]
    assert set(document["included"][0]) == {"id", "tier", "bytes"}
    out = tmp_path / "pack.md"
    assert cli("optimize", "--context", "-o", str(out)).returncode == 0
    assert out.read_text().startswith("# Context: ")
    bad = cli("optimize", "--context", "-n", "bad ns")
    assert bad.returncode == 2 and bad.stderr.startswith("mnemosyne: error: ")


def seed_upkeep(db_path: Path, duplicates: int = 3) -> None:
    """Twins in one namespace, an idle memory, a faded one (timestamps rewritten directly)."""
    with SqliteBackend(Database.open(db_path)) as store:
        for n in range(duplicates):
            store.remember(f"Twin number {n}.", importance=5, tags=f"a{n}")
            store.remember(f"twin NUMBER {n}", importance=6, tags=f"b{n}")
        for content, importance in (("an idle habit", 5), ("faded away", 1)):
            memory = dataclasses.replace(store.remember(content, importance=importance),
                                         updated_at="2025-01-01T00:00:00.000000Z")
            store.database.write(lambda c, m=memory: insert_memory(c, m, replace=True))


def test_a_dry_run_then_a_pass(cli, db_path: Path) -> None:
    seed_upkeep(db_path)
    before = cli("export").stdout
    dry = cli("optimize", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would merge 3 duplicate(s) into 3 memories, would decay 1, "
                                 "would archive 1")
    assert cli("export").stdout == before
    done = cli("optimize", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["merged"], report["decayed"], report["archived"]) == (3, 1, 1)
    exported = [json.loads(line) for line in cli("export").stdout.splitlines()]
    assert len(exported) == len(before.splitlines())  # nothing deleted
    assert sum(1 for memory in exported if memory["superseded_by"]) == 3
    again = json.loads(cli("optimize", "--format", "json").stdout)
    assert (again["merged"], again["decayed"], again["archived"]) == (0, 0, 0)


def test_one_optimizer_at_a_time(cli, db_path: Path, isolated_env: dict[str, str],
                                 tmp_path: Path) -> None:
    """This process holds the optimizer's flock, as a running pass would."""
    seed_upkeep(db_path)
    held = OptimizerLock(db_path)
    held.acquire(wait=False)
    waiting = None
    try:
        assert_one_line_error(cli("optimize", "--no-wait"), 7, "another optimize is running")
        assert cli("optimize", "--dry-run").returncode == 0  # a dry run takes no lock
        waiting = subprocess.Popen(
            [sys.executable, "-m", "mnemosyne", "--db", str(db_path), "optimize"],
            env=isolated_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        time.sleep(1.0)
        assert waiting.poll() is None  # it waits for the lock
    finally:
        held.release()
    out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0 and out.startswith("merged 3 duplicate(s)"), err


def test_interval_runs_passes_until_sigterm(db_path: Path, isolated_env: dict[str, str],
                                            tmp_path: Path) -> None:
    seed_upkeep(db_path)
    running = subprocess.Popen(
        [sys.executable, "-m", "mnemosyne", "--db", str(db_path), "optimize", "--interval",
         "0.2"], env=isolated_env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        assert running.stdout.readline().startswith("merged 3 duplicate(s)")
        assert running.stdout.readline().startswith("merged 0 duplicate(s)")
        running.send_signal(signal.SIGTERM)
        _, errors = running.communicate(timeout=10)
        assert running.returncode == 0, errors
    finally:
        if running.poll() is None:
            running.kill()
        running.communicate()


def test_writers_beside_a_pass_lose_nothing(cli, db_path: Path, isolated_env: dict[str, str],
                                            tmp_path: Path) -> None:
    seed_upkeep(db_path, duplicates=400)
    start_at = time.time() + 1.0
    writers = [subprocess.Popen([sys.executable, str(WORKER), str(db_path), str(start_at),
                                 "150", str(index)], env=isolated_env, cwd=tmp_path,
                                stdout=subprocess.PIPE, text=True) for index in range(4)]
    time.sleep(max(0.0, start_at - time.time()))
    done = cli("optimize", "--format", "json")
    reports = [json.loads(writer.communicate(timeout=120)[0]) for writer in writers]
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["merged"] == 400
    assert [report["errors"] for report in reports] == [[], [], [], []]
    with SqliteBackend(Database.open(db_path)) as store:
        for report in reports:
            assert all(store.get(memory_id) for memory_id in report["written"])


def test_the_pass_refuses_postgresql_in_one_line(cli, postgres_database_url: str) -> None:
    on_postgres = {"DATABASE_URL": postgres_database_url}
    assert cli("remember", "-c", "x", db=None, env=on_postgres).returncode == 0
    assert_one_line_error(cli("optimize", db=None, env=on_postgres), 2, "SQLite")


def test_a_pack_from_postgresql(cli, postgres_database_url: str) -> None:
    on_postgres = {"DATABASE_URL": postgres_database_url}
    assert cli("remember", "-c", "shared rule", "-i", "9", db=None, env=on_postgres).ok()
    result = cli("optimize", "--context", "--budget", "300", db=None, env=on_postgres)
    assert result.returncode == 0, result.stderr
    assert "shared rule" in result.stdout and len(result.stdout.encode()) <= 300


def test_bad_flags_are_refused_in_one_line(cli, db_path: Path) -> None:
    seed_upkeep(db_path)
    before = cli("export").stdout
    for args in (("--interval", "0"), ("--interval", "-5"), ("--interval", "soon"),
                 ("--dry-run", "--interval", "60"), ("--format", "yaml")):
        result = cli("optimize", *args)
        assert result.returncode == 2, (args, result)
        assert result.stderr.count("\n") == 1 or "usage:" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert cli("export").stdout == before
