"""The MemoryBackend interface: the SQLite engine implements all of it, as PostgreSQL does."""

from __future__ import annotations

import io
import select

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.store import open_store
from mnemosyne.store.backend import ChangeFeed, DatabaseHealth, MemoryBackend
from mnemosyne.store.query import make_recall_query
from mnemosyne.store.sqlite.backend import SqliteBackend

INTERFACE = [name for name in vars(MemoryBackend) if not name.startswith("_")]


def test_the_interface_names_every_method_callers_use():
    assert {"remember", "resolve_id", "get", "links_of", "list", "count", "update", "forget",
            "link", "mark_accessed", "recall", "export", "import_lines", "change_feed",
            "health", "close", "display_url"} <= set(INTERFACE)


def test_sqlite_and_postgresql_backends_have_every_interface_method():
    pytest.importorskip("psycopg")
    from mnemosyne.store.postgres.backend import PostgresBackend  # noqa: PLC0415

    for engine in (SqliteBackend, PostgresBackend):
        missing = [name for name in INTERFACE  # display_url may be an instance attribute
                   if name != "display_url" and not hasattr(engine, name)]
        assert not missing, f"{engine.__name__} lacks {missing}"


def test_open_store_opens_sqlite_through_the_interface(tmp_path):
    settings = resolve_settings({"database_url": f"sqlite://{tmp_path}/m.db"},
                                {"XDG_CONFIG_HOME": str(tmp_path)})
    with open_store(settings) as backend:
        assert backend.display_url == f"sqlite://{tmp_path}/m.db"
        memory = backend.remember("through the interface", tags="a")
        (hit,) = backend.recall(make_recall_query("interface"))
        assert hit.memory.id == memory.id and hit.memory.access_count == 1
        output = io.StringIO()
        assert backend.export(output) == 1
        assert backend.import_lines(output.getvalue().splitlines()).already_present == 1
        health = backend.health()
        assert isinstance(health, DatabaseHealth) and health.ok and health.detail == "ok"


def test_sqlite_change_feed_wakes_on_a_commit_and_polls_it(store):
    feed: ChangeFeed = store.change_feed()
    try:
        assert feed.fileno() >= 0 and feed.poll() == []
        memory = store.remember("wakes the feed")
        assert select.select([feed.fileno()], [], [], 2)[0]
        assert feed.drain() is True
        assert [change.memory_id for change in feed.poll()] == [memory.id]
        assert not select.select([feed.fileno()], [], [], 0)[0]
    finally:
        feed.close()


def test_health_reports_a_removed_database_file(store):
    store.path.unlink()
    health = store.health()
    assert not health.ok and "was removed" in health.detail


def test_open_store_refuses_an_unreachable_postgresql_server_in_one_line(tmp_path):
    from mnemosyne.errors import UnavailableError  # noqa: PLC0415

    settings = resolve_settings(
        {"database_url": "postgresql://u:secret@127.0.0.1:1/db?connect_timeout=1"},
        {"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(UnavailableError) as caught:
        open_store(settings).close()
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)
