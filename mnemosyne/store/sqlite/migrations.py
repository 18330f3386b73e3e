"""Bring a database's schema up to date, keyed on `PRAGMA user_version`.

Each migration is a SQL file shipped inside the package (never read from a source tree) and runs
in one IMMEDIATE transaction that re-reads the version first, so any number of processes opening
a brand-new file at the same instant end with one correct schema.
Must not: contain schema text (schema/*.sql does) or open connections.
"""

from __future__ import annotations

import logging
from importlib import resources

import apsw

logger = logging.getLogger(__name__)

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, "0001_initial.sql"),
    (2, "0002_change_log.sql"),
    (3, "0003_tasks.sql"),
    (4, "0004_namespace_importance.sql"),
    (5, "0005_fts_background_merge.sql"),
)
LATEST_VERSION = MIGRATIONS[-1][0]


def read_user_version(connection: apsw.Connection) -> int:
    """Return the schema version recorded in the database file."""
    return int(connection.execute("PRAGMA user_version").fetchall()[0][0])


def load_migration(filename: str) -> str:
    """Return the SQL text of one packaged migration file."""
    return resources.files("mnemosyne.store.sqlite").joinpath("schema", filename).read_text("utf-8")


def apply_pending_migrations(connection: apsw.Connection) -> list[int]:
    """Apply, inside the caller's IMMEDIATE transaction, every migration newer than the file.

    Returns the versions applied (empty when another process got there first).
    """
    current = read_user_version(connection)
    applied = []
    for version, filename in MIGRATIONS:
        if version <= current:
            continue
        connection.execute(load_migration(filename))
        connection.execute(f"PRAGMA user_version={version}")
        applied.append(version)
        logger.info("database schema migrated to version %d", version)
    return applied
