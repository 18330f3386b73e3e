"""Context packs read from a real database: read-only, no access counted, deterministic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mnemosyne.errors import UnavailableError, UsageError
from mnemosyne.optimize.context import context_namespaces, context_pack
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database


def seed(db_path: Path) -> list[str]:
    with SqliteBackend(Database.open(db_path)) as store:
        ids = [store.remember(f"project memory {n} über 日本", namespace="project:x",
                              importance=n % 10 + 1).id for n in range(20)]
        ids.append(store.remember("global rule", importance=9).id)
        ids.append(store.remember("other project", namespace="project:y", importance=9).id)
        archived = store.remember("archived one", importance=10)
        store.update(archived.id, archived=True)
    return ids


def pack(db_path: Path, **options):
    settings = {"namespaces": None, "query": "", "budget": 4000, "unit": "bytes", **options}
    return context_pack(db_path, 5000, **settings)


def access_counts(db_path: Path) -> list[tuple]:
    with SqliteBackend(Database.open(db_path)) as store:
        return [(m.id, m.access_count, m.last_accessed_at)
                for m in store.list(limit=None, include_archived=True)]


def test_namespace_and_global_only(db_path: Path) -> None:
    seed(db_path)
    text = pack(db_path, namespaces=["project:x"]).text.decode()
    assert "global rule" in text and "project memory" in text
    assert "other project" not in text and "archived one" not in text
    assert "other project" in pack(db_path).text.decode()


def test_query_narrows_the_candidates(db_path: Path) -> None:
    seed(db_path)
    text = pack(db_path, query="rule").text.decode()
    assert "global rule" in text and "project memory" not in text


def test_no_access_counted_and_same_bytes(db_path: Path) -> None:
    seed(db_path)
    before = access_counts(db_path)
    first = pack(db_path, query="memory", budget=600)
    assert pack(db_path, query="memory", budget=600).text == first.text
    assert pack(db_path, budget=600).text == pack(db_path, budget=600).text
    assert access_counts(db_path) == before


def test_read_only_database_in_read_only_directory(db_path: Path) -> None:
    seed(db_path)
    expected = pack(db_path, budget=900).text
    for companion in ("-wal", "-shm"):
        assert not os.path.exists(f"{db_path}{companion}")
    os.chmod(db_path, 0o444)
    os.chmod(db_path.parent, 0o555)
    try:
        assert pack(db_path, budget=900).text == expected
        assert sorted(os.listdir(db_path.parent)) == [db_path.name]
    finally:
        os.chmod(db_path.parent, 0o755)
        os.chmod(db_path, 0o644)


def test_bad_input_and_missing_database(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        context_namespaces(["nope"])
    with pytest.raises(UsageError):
        pack(tmp_path / "x.db", budget=-1)
    with pytest.raises(UnavailableError, match="no database"):
        pack(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()


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
