"""The PostgreSQL store (DATABASE_URL=postgresql://...): PostgresBackend and how to open it.

Needs psycopg 3 (`pip install mnemosyne[postgresql]`; Debian: python3-psycopg). libpq's usual
ways to connect all work: the URL, PG* variables, service files, ~/.pgpass.
Must not: import from cli/, daemon/ or api/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mnemosyne.store.postgres.backend import PostgresBackend


def open_postgres_backend(url: str, settings: Any) -> PostgresBackend:
    """Connect to the database at *url*, migrate it, and return its backend.

    *settings* gives `write_deadline_s` and `max_content_bytes`.
    Raises UnavailableError (one line, no password) if it cannot connect or migrate, or
    psycopg is not installed.
    """
    from mnemosyne.errors import UnavailableError  # noqa: PLC0415 - keep `import store` light

    try:
        from mnemosyne.store.postgres.backend import PostgresBackend  # noqa: PLC0415
        from mnemosyne.store.postgres.connection import Connections  # noqa: PLC0415
    except ImportError as error:
        raise UnavailableError(f"PostgreSQL needs psycopg 3 ({error.name} is missing): "
                               "pip install 'mnemosyne[postgresql]' or apt-get install "
                               "python3-psycopg") from None
    deadline = float(getattr(settings, "write_deadline_s", 30.0))
    connections = Connections(url, write_deadline_s=deadline,
                              statement_timeout_ms=int(deadline * 1000))
    backend = PostgresBackend(connections, int(getattr(settings, "max_content_bytes", 65536)))
    try:
        connections.connection()
        backend.migrate()
    except BaseException:
        backend.close()
        raise
    return backend
