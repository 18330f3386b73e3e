"""A PostgresBackend on a fresh database of the session's real server."""

from __future__ import annotations

import types
from collections.abc import Iterator

import pytest

from mnemosyne.store.postgres import open_postgres_backend
from mnemosyne.store.postgres.backend import PostgresBackend

SETTINGS = types.SimpleNamespace(write_deadline_s=10.0, max_content_bytes=65536)


@pytest.fixture
def backend(postgres_database_url: str) -> Iterator[PostgresBackend]:
    opened = open_postgres_backend(postgres_database_url, SETTINGS)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sql(backend: PostgresBackend):
    """Run one statement on the backend's database; return its rows (or None)."""

    def run(statement: str, parameters=None):
        def work(connection):
            cursor = connection.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else None
        return backend.connections.read(work)

    return run
