"""`mnemosyne optimize --context` as users run it: the pack, JSON, a file, bad input, engines."""

from __future__ import annotations

import json
from pathlib import Path

from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from tests.helpers import assert_one_line_error


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


def test_without_context_the_unbuilt_maintenance_pass_is_refused(cli, db_path: Path) -> None:
    seed(db_path)
    before = cli("export").stdout
    assert_one_line_error(cli("optimize"), 2, "--context")
    assert cli("export").stdout == before


def test_a_pack_from_postgresql(cli, postgres_database_url: str) -> None:
    on_postgres = {"DATABASE_URL": postgres_database_url}
    assert cli("remember", "-c", "shared rule", "-i", "9", db=None, env=on_postgres).ok()
    result = cli("optimize", "--context", "--budget", "300", db=None, env=on_postgres)
    assert result.returncode == 0, result.stderr
    assert "shared rule" in result.stdout and len(result.stdout.encode()) <= 300
