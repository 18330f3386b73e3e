"""Context packs read from a real database: read-only, no access counted, deterministic."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnemosyne.config import resolve_settings
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
    settings = resolve_settings({"database_url": str(db_path)},
                                environ={"XDG_CONFIG_HOME": str(db_path.parent / "config"),
                                         "XDG_STATE_HOME": str(db_path.parent / "state")})
    wanted = {"namespaces": None, "query": "", "budget": 4000, "unit": "bytes", **options}
    return context_pack(settings, **wanted)


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


def test_read_only_database_on_read_only_media(db_path: Path, tmp_path: Path,
                                              isolated_env: dict[str, str]) -> None:
    """The database file alone (no -wal, no -shm) in a read-only directory.

    As root (CI), permissions do not stop writes: the directory is then bind-mounted
    read-only in a private mount namespace (`unshare --mount`) for the command.
    """
    seed(db_path)
    media = tmp_path / "media"
    media.mkdir()
    shutil.copyfile(db_path, media / "m.db")
    before = hashlib.sha256(db_path.read_bytes()).hexdigest()
    expected = pack(db_path, budget=900).text
    assert hashlib.sha256(db_path.read_bytes()).hexdigest() == before  # not a byte changed
    command = [sys.executable, "-m", "mnemosyne", "--db", str(media / "m.db"), "optimize",
               "--context", "--budget", "900"]
    if os.geteuid() == 0:
        command = ["unshare", "--mount", "sh", "-c",
                   f'mount --bind -o ro "{media}" "{media}" && exec "$@"', "sh", *command]
    os.chmod(media / "m.db", 0o444)
    os.chmod(media, 0o555)
    try:
        result = subprocess.run(command, capture_output=True, timeout=60, check=False,
                                env=isolated_env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected
        assert os.listdir(media) == ["m.db"]  # nothing created beside it
    finally:
        os.chmod(media, 0o755)
        os.chmod(media / "m.db", 0o644)


def test_bad_input_and_missing_database(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        context_namespaces(["nope"])
    with pytest.raises(UsageError):
        pack(tmp_path / "x.db", budget=-1)
    with pytest.raises(UnavailableError, match="no database"):
        pack(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
