"""Copying between stores; the PostgreSQL side runs against the real test server."""

import io
import types

import pytest

from mnemosyne.errors import MnemosyneError
from mnemosyne.store import copy as copy_module
from mnemosyne.store.copy import copy_store
from mnemosyne.store.postgres import open_postgres_backend
from mnemosyne.store.sqlite.transfer import export_memories, import_memories

SETTINGS = types.SimpleNamespace(write_deadline_s=10.0, max_content_bytes=65536)


class SqliteSource:
    """Today's SQLite SqliteBackend seen through the backend methods copy_store uses."""

    def __init__(self, store):
        self.store = store

    def export(self, output, namespace=None):
        return export_memories(self.store, output, namespace)

    def import_lines(self, lines, replace=False, continue_on_error=False):
        return import_memories(self.store, lines, replace, continue_on_error)

    def count(self, namespace=None):
        return self.store.count(namespace)


def exported(backend):
    buffer = io.StringIO()
    backend.export(buffer)
    return buffer.getvalue()


@pytest.fixture
def postgres(postgres_database_url):
    backend = open_postgres_backend(postgres_database_url, SETTINGS)
    yield backend
    backend.close()


def test_sqlite_to_postgresql_in_chunks_with_forward_links(store, postgres, monkeypatch):
    monkeypatch.setattr(copy_module, "CHUNK_LINES", 2)
    memories = [store.remember(f"memory {index}") for index in range(7)]
    store.link(memories[0].id, memories[6].id, "related")  # points into a later chunk
    store.link(memories[5].id, memories[1].id, "supersedes")
    source = SqliteSource(store)
    progress = []
    report = copy_store(source, postgres, lambda done, total: progress.append((done, total)))
    assert (report.exported, report.imported, report.already_present, report.links) == \
        (7, 7, 0, 2)
    assert progress[-1] == (7, 7)
    assert exported(postgres) == exported(source)
    again = copy_store(source, postgres)
    assert (again.imported, again.already_present) == (0, 7)
    assert postgres.count() == 7


def test_a_memory_that_cannot_be_copied_stops_the_copy(store, postgres):
    store.remember("fine")
    memory = store.remember("summary with a NUL", summary="a\x00b")
    with pytest.raises(MnemosyneError, match=r"cannot be copied: .*NUL"):
        copy_store(SqliteSource(store), postgres)
    assert memory.summary == "a\x00b"
