"""Bring a PostgreSQL database's schema up to date, safely when many instances start at once.

The version lives in the one-row table `mnemosyne_schema`. Every migration runs in one
transaction holding a transaction-level advisory lock (`pg_advisory_xact_lock`), which
re-reads the version first: instances starting together queue on the lock, the first applies
what is missing and the others find nothing left to do. The SQL files are shipped inside the
package (schema/, numbered independently of SQLite's).
Must not: contain schema text (schema/*.sql does) or open connections.
"""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

from mnemosyne.errors import UnavailableError

logger = logging.getLogger(__name__)

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, "0001_initial.sql"),
)
LATEST_VERSION = MIGRATIONS[-1][0]
MIGRATION_LOCK_KEY = 7262010


def load_migration(filename: str) -> str:
    """Return the SQL text of one packaged migration file."""
    return resources.files("mnemosyne.store.postgres").joinpath(
        "schema", filename).read_text("utf-8")


def read_version(connection: psycopg.Connection) -> int:
    """Return the schema version of the database (0: none yet)."""
    exists = connection.execute("SELECT to_regclass('mnemosyne_schema')").fetchone()[0]
    if exists is None:
        return 0
    row = connection.execute("SELECT version FROM mnemosyne_schema").fetchone()
    return 0 if row is None else int(row[0])


def apply_pending_migrations(connection: psycopg.Connection, display_url: str) -> list[int]:
    """Apply, inside the caller's transaction, every migration newer than the database.

    Returns the versions applied (empty when another instance got there first).
    Raises UnavailableError if the database's schema is newer than this program's.
    """
    connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
    current = read_version(connection)
    if current > LATEST_VERSION:
        raise UnavailableError(
            f"{display_url} has schema version {current}, newer than this mnemosyne "
            f"understands ({LATEST_VERSION}): upgrade mnemosyne")
    if current == 0:
        connection.execute("CREATE TABLE mnemosyne_schema (version integer NOT NULL)")
        connection.execute("INSERT INTO mnemosyne_schema VALUES (0)")
    applied = []
    for version, filename in MIGRATIONS:
        if version <= current:
            continue
        connection.execute(load_migration(filename).encode())
        connection.execute("UPDATE mnemosyne_schema SET version = %s", (version,))
        applied.append(version)
        logger.info("PostgreSQL schema migrated to version %d", version)
    return applied
