"""The store: one interface (backend.py), SQLite by default, PostgreSQL by URL; open_store.

Must not: import from cli/, daemon/ or api/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mnemosyne.config import Settings
    from mnemosyne.store.backend import MemoryBackend

POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def open_store(settings: Settings, batch_access_counts: bool = False) -> MemoryBackend:
    """Open (creating and migrating if needed) the database `settings.database_url` names.

    A plain path (or sqlite:///PATH, already normalised by config) is a SQLite file;
    postgresql:// and postgres:// URLs go to the PostgreSQL engine.
    *batch_access_counts*: for long-running processes (see store/access.py; SQLite only,
    PostgreSQL writes them at once).
    Raises UnavailableError (one line, no password) if it cannot be opened.
    """
    url = settings.database_url
    if url.lower().startswith(POSTGRES_PREFIXES):
        from mnemosyne.store.postgres import open_postgres_backend  # noqa: PLC0415

        return open_postgres_backend(url, settings)
    from mnemosyne.store.sqlite.backend import SqliteBackend  # noqa: PLC0415
    from mnemosyne.store.sqlite.database import Database  # noqa: PLC0415 - keep `import store` light

    path = settings.db_path
    assert path is not None  # config normalises every SQLite form to a path
    database = Database.open(path, settings.busy_timeout_ms, settings.write_deadline_s)
    return SqliteBackend(database, settings.max_content_bytes, batch_access_counts)


