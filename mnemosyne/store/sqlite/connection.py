"""Open one APSW connection configured for many processes sharing one database file.

WAL, synchronous=NORMAL, foreign keys, a bounded WAL file and a busy timeout set explicitly on
every connection (APSW's `bestpractice` would set 100 ms for the whole process). SQLite errors
that a user can act on become one-line `MnemosyneError`s here, naming the file at fault (the
`-wal` or `-shm` file rather than the database, when it is the one that cannot be written).
Must not: run schema changes (migrations.py) or choose transaction boundaries (transactions.py).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import quote

import apsw

from mnemosyne.errors import MnemosyneError, UnavailableError
from mnemosyne.store.sqlite.transactions import Backoff
from mnemosyne.store.sqlite.writehealth import unwritable_file

logger = logging.getLogger(__name__)

JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024


def describe_database_error(path: Path, error: apsw.Error) -> MnemosyneError:
    """Translate an APSW error about *path* into a one-line error with the right exit code."""
    if isinstance(error, apsw.NotADBError):
        return UnavailableError(f"{path} is not a SQLite database (or it is encrypted)")
    if isinstance(error, apsw.CorruptError):
        return UnavailableError(f"{path} is corrupt: {error}")
    if isinstance(error, apsw.ReadOnlyError | apsw.IOError):
        culprit = unwritable_file(path)  # name the file at fault, often the -wal or -shm
        if culprit is not None:
            return UnavailableError(f"cannot write to the database: {culprit}")
    if isinstance(error, apsw.ReadOnlyError):
        return UnavailableError(f"{path} is read-only: cannot write to the database "
                                "(check the permissions of the file and its directory)")
    if isinstance(error, apsw.CantOpenError | apsw.PermissionsError | apsw.AuthError):
        if directory_is_read_only(path.parent):
            return UnavailableError(f"cannot open database {path}: its directory is read-only "
                                    "(SQLite must create the -wal and -shm files beside it)")
        return UnavailableError(f"cannot open database {path}: check that the file and its "
                                "directory are readable and writable")
    if isinstance(error, apsw.FullError):
        return UnavailableError(f"cannot write to {path}: the disk is full")
    if isinstance(error, apsw.IOError):
        return UnavailableError(f"input/output error on {path}: {error}")
    if isinstance(error, apsw.BusyError | apsw.LockedError):
        return UnavailableError(f"database {path} stayed locked: {error}")
    return MnemosyneError(f"database error on {path}: {error}")


def directory_is_read_only(directory: Path) -> bool:
    """Return True if *directory* is on a read-only mount or this user cannot write to it."""
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(directory, os.W_OK)


def ensure_parent_directory(path: Path) -> None:
    """Create the database's directory, and any missing parent, as 0700 whatever the umask.

    Directories that exist already are left as they are.
    Raises UnavailableError if one cannot be created.
    """
    parent = path.parent
    if parent.is_dir():
        return
    missing = [parent]
    while not missing[-1].parent.exists() and missing[-1].parent != missing[-1]:
        missing.append(missing[-1].parent)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
            os.chmod(directory, 0o700)
        except FileExistsError:
            if not directory.is_dir():
                raise UnavailableError(f"cannot create database directory {parent}: "
                                       f"{directory} is not a directory") from None
        except OSError as error:
            raise UnavailableError(f"cannot create database directory {parent}: "
                                   f"{error.strerror or error}", error.errno) from None


def _create_private(path: Path) -> None:
    """Create a missing database file as 0600: memories may be private.

    SQLite would make it 0644 (0666 under umask 000) and gives its -wal and -shm files the
    database's own mode.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return  # exists already, or cannot be created: SQLite then says what is wrong
    os.close(fd)


FileIdentity = tuple[int, int]  # (st_dev, st_ino)


def file_identity(path: Path) -> FileIdentity:
    """Return which file *path* names now. Raises OSError."""
    status = os.stat(path)
    return status.st_dev, status.st_ino


def open_connection(path: Path, busy_timeout_ms: int,
                    identity: FileIdentity | None = None) -> apsw.Connection:
    """Open *path* and apply the per-connection settings.

    Without *identity*, a missing file is created. With it (a further connection to a database
    already open), the file must exist and still be that file: a connection opened after the
    database was removed or replaced would create an empty one, or write to another.
    Raises UnavailableError if the file cannot be opened, is not a database, is read-only
    while still needing to become a WAL database, or is no longer *identity*.
    """
    if path.is_dir():
        raise UnavailableError(f"{path} is a directory, not a database file")
    if identity is None:
        ensure_parent_directory(path)
        _create_private(path)
    flags = apsw.SQLITE_OPEN_READWRITE | (apsw.SQLITE_OPEN_CREATE if identity is None else 0)
    try:
        connection = apsw.Connection(os.fspath(path), flags=flags)
    except apsw.Error as error:
        if identity is not None and not path.exists():
            raise UnavailableError(f"database file {path} was removed") from None
        raise describe_database_error(path, error) from None
    if identity is not None:
        try:
            same = file_identity(path) == identity
        except OSError:
            same = False
        if not same:
            connection.close()
            raise UnavailableError(f"database file {path} was removed or replaced by another "
                                   "file")
    try:
        connection.setbusytimeout(busy_timeout_ms)
        _apply_pragmas(connection, busy_timeout_ms)
    except apsw.Error as error:
        connection.close()
        raise describe_database_error(path, error) from None
    return connection


def open_read_only(path: Path, busy_timeout_ms: int) -> apsw.Connection:
    """Open an existing *path* only to read it, even in a read-only directory; never write.

    A WAL database needs its -shm file; where that is missing and cannot be created (a
    read-only directory), nobody can be writing, so the file is opened as immutable.
    Raises UnavailableError if it is missing or cannot be read.
    """
    if not path.is_file():
        raise UnavailableError(f"no database at {path}")
    shm_missing = not os.path.lexists(f"{path}-shm")
    if shm_missing and directory_is_read_only(path.parent):
        name, flags = f"file:{quote(os.fspath(path))}?immutable=1", apsw.SQLITE_OPEN_URI
    else:
        name, flags = os.fspath(path), 0
    try:
        connection = apsw.Connection(name, flags=flags | apsw.SQLITE_OPEN_READONLY)
        connection.setbusytimeout(busy_timeout_ms)
        connection.execute("PRAGMA query_only=ON")
    except apsw.Error as error:
        raise describe_database_error(path, error) from None
    return connection


def enable_wal(connection: apsw.Connection, deadline_s: float) -> str:
    """Switch to WAL (a no-op once the file is in WAL mode); return the journal mode.

    On a brand-new file several processes may race to switch it; SQLite answers BUSY at once,
    without its busy handler, to all but one (two SHARED locks cannot both upgrade), so retry.
    Raises apsw.BusyError if the file stays busy past *deadline_s*.
    """
    backoff = Backoff(deadline_s)
    while True:
        try:
            return str(connection.execute("PRAGMA journal_mode=WAL").fetchall()[0][0])
        except apsw.BusyError:
            if not backoff.wait():
                raise


def _apply_pragmas(connection: apsw.Connection, busy_timeout_ms: int) -> None:
    """Apply WAL and the other settings that every connection needs."""
    mode = enable_wal(connection, busy_timeout_ms / 1000)
    if mode.lower() != "wal":
        # A read-only file or directory cannot switch to WAL; reads still work, writes will
        # fail later with a clear ReadOnlyError.
        logger.debug("journal_mode is %s, not wal", mode)
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT_BYTES}")
