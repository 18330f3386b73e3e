"""The shared database: per-thread connections, migrations on open, reads and retried writes.

One `Database` per process; each thread gets its own APSW connection and writer-lock descriptor.
Two background helpers ride on the writers' commits: the WAL checkpointer (checkpoint.py) and
the full-text index merger (indexmerge.py). Whatever part of their work holds the writers'
lock runs under `helper_gate`: a caller that holds the gate keeps them from that lock. (The
optimizer does, while a SCHED_IDLE thread of its process holds the interpreter lock for long:
a helper holding the writers' lock could otherwise wait behind that thread for an idle core,
and every writer behind the helper.) The merger's own commits ask the checkpointer too.
Only the first connection may create the file; every later one (another thread's, a helper's)
must find the same file there, so a database removed or replaced while a process runs is an
error for that process, never an empty database made in its place by a helper.
Must not: know about memories (memories.py) or the command line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import apsw

from mnemosyne.errors import UnavailableError
from mnemosyne.store.sqlite import migrations
from mnemosyne.store.sqlite.checkpoint import Checkpointer, watch_wal
from mnemosyne.store.sqlite.connection import (
    FileIdentity,
    describe_database_error,
    file_identity,
    open_connection,
    open_read_only,
)
from mnemosyne.store.sqlite.indexmerge import IndexMerger
from mnemosyne.store.sqlite.transactions import WriterLock, run_write_transaction
from mnemosyne.store.sqlite.writehealth import WalLock, WriteHealth

Result = TypeVar("Result")


class Database:
    """A database file shared with other processes; safe to use from many threads."""

    def __init__(self, path: Path, busy_timeout_ms: int = 5000, write_deadline_s: float = 30.0,
                 read_only: bool = False):
        self.path = path
        self.read_only = read_only
        self.busy_timeout_ms = busy_timeout_ms
        self.write_deadline_s = write_deadline_s
        self._local = threading.local()
        self._all: list[tuple[apsw.Connection, WriterLock | None]] = []
        self._all_guard = threading.Lock()
        self._pending_writes: dict[int, float] = {}  # id of a write call -> when it started
        self.wal_lock = WalLock(path)
        self.helper_gate = threading.Lock()
        self._identity: FileIdentity | None = None  # the file the first connection opened
        self._identity_guard = threading.Lock()
        self.checkpointer = Checkpointer(self._open_connection, lambda: WriterLock(path),
                                         self.helper_gate)
        self.index_merger = IndexMerger(self._merger_connection, lambda: WriterLock(path),
                                        path.with_name(path.name + "-merge.lock"),
                                        self.helper_gate)

    @classmethod
    def open(cls, path: Path, busy_timeout_ms: int = 5000,
             write_deadline_s: float = 30.0) -> Database:
        """Open (creating if needed) and migrate the database at *path*.

        Raises UnavailableError if it cannot be opened, written or migrated, or its schema is
        newer than this program understands.
        """
        database = cls(path, busy_timeout_ms, write_deadline_s)
        try:
            database.migrate()
        except BaseException:
            database.close()
            raise
        return database

    @classmethod
    def open_read_only(cls, path: Path, busy_timeout_ms: int = 5000) -> Database:
        """Open the existing database at *path* for reading only (no migration, no writes).

        Raises UnavailableError if it is missing, unreadable or its schema is not current.
        """
        database = cls(path, busy_timeout_ms, read_only=True)
        try:
            version = database.read(migrations.read_user_version)
            if version != migrations.LATEST_VERSION:
                raise UnavailableError(
                    f"{path} has schema version {version}, not {migrations.LATEST_VERSION}: "
                    "open it once with a writable mnemosyne command to migrate it")
        except BaseException:
            database.close()
            raise
        return database

    def _open_connection(self) -> apsw.Connection:
        """Open a read-write connection: only the first may create the file.

        Every later one (another thread's, a helper's) must find the same file there.
        Raises UnavailableError (the file was removed or replaced meanwhile, ...).
        """
        with self._identity_guard:
            if self._identity is None:
                connection = open_connection(self.path, self.busy_timeout_ms)
                try:
                    self._identity = file_identity(self.path)
                except OSError as error:
                    connection.close()
                    raise UnavailableError(f"cannot stat the database file {self.path}: "
                                           f"{error.strerror or error}") from None
                return connection
        return open_connection(self.path, self.busy_timeout_ms, self._identity)

    def _merger_connection(self) -> apsw.Connection:
        """Open the merger's connection: its commits ask for checkpoints, never run one."""
        connection = self._open_connection()
        watch_wal(connection, self.checkpointer.request)
        return connection

    def _thread_state(self) -> tuple[apsw.Connection, WriterLock | None]:
        state = getattr(self._local, "state", None)
        if state is None:
            if self.read_only:
                connection = open_read_only(self.path, self.busy_timeout_ms)
            else:
                connection = self._open_connection()
                watch_wal(connection, self.checkpointer.request,
                          on_commit=self.index_merger.request)
            # A reader only never takes the writers' lock (nor creates its file).
            state = (connection, None if self.read_only else WriterLock(self.path))
            self._local.state = state
            with self._all_guard:
                self._all.append(state)
        return state

    def connection(self) -> apsw.Connection:
        """Return this thread's connection, for reads (autocommit, or BEGIN..COMMIT)."""
        return self._thread_state()[0]

    def read(self, work: Callable[[apsw.Connection], Result]) -> Result:
        """Run *work* on this thread's connection, turning SQLite errors into clear ones.

        Raises UnavailableError (or MnemosyneError) if SQLite fails.
        """
        connection = self.connection()
        try:
            return work(connection)
        except apsw.Error as error:
            raise describe_database_error(self.path, error) from None

    def write(self, work: Callable[[apsw.Connection], Result]) -> Result:
        """Run *work* in one IMMEDIATE transaction, retried whole on contention.

        Raises UnavailableError if the database cannot be written or stays locked too long.
        """
        connection, lock = self._thread_state()
        if lock is None:
            raise UnavailableError(f"{self.path} was opened read-only: cannot write to it")
        token = object()
        self._pending_writes[id(token)] = time.monotonic()
        try:
            return run_write_transaction(connection, lock, work, self.write_deadline_s)
        except apsw.Error as error:
            raise describe_database_error(self.path, error) from None
        finally:
            del self._pending_writes[id(token)]

    def oldest_write_s(self) -> float:
        """Return how long the oldest write of this process still running has taken (0: none)."""
        # list() copies in one step under the GIL, while other threads add and remove entries.
        started = min(list(self._pending_writes.values()), default=None)
        return 0.0 if started is None else time.monotonic() - started

    def writer_active(self) -> bool:
        """Return True if some connection (of any process) holds SQLite's write lock now."""
        return self.wal_lock.holder() is not None

    def write_health(self) -> WriteHealth:
        """Return a judge of whether this database can be written right now (writehealth.py).

        Raises OSError if the database file cannot be looked at.
        """
        return WriteHealth(self.path, self.oldest_write_s)

    def migrate(self) -> list[int]:
        """Bring the schema up to date; return the versions this call applied.

        Raises UnavailableError if the file's schema is newer than this program's.
        """
        version = self.read(migrations.read_user_version)
        if version > migrations.LATEST_VERSION:
            raise UnavailableError(
                f"{self.path} has schema version {version}, newer than this mnemosyne "
                f"understands ({migrations.LATEST_VERSION}): upgrade mnemosyne")
        if version == migrations.LATEST_VERSION:
            return []
        return self.write(migrations.apply_pending_migrations)

    def close(self) -> None:
        """Close every thread's connection; the object must not be used afterwards."""
        self.index_merger.close()
        self.checkpointer.close()
        with self._all_guard:
            states, self._all = self._all, []
        for connection, lock in states:
            connection.close()
            if lock is not None:
                lock.close()
        self._local = threading.local()
