import threading

import apsw
import pytest

from mnemosyne.errors import UnavailableError
from mnemosyne.store.sqlite.connection import open_connection


def test_connection_settings(tmp_path):
    connection = open_connection(tmp_path / "new" / "x.db", busy_timeout_ms=6000)
    pragma = lambda name: connection.execute(f"PRAGMA {name}").fetchall()[0][0]  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 1  # NORMAL
    assert pragma("foreign_keys") == 1
    assert pragma("busy_timeout") == 6000
    assert pragma("journal_size_limit") > 0
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    connection.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)")
    for name in ("x.db", "x.db-wal", "x.db-shm"):
        assert (tmp_path / "new" / name).stat().st_mode & 0o777 == 0o600, name
    connection.close()


def test_not_a_database(tmp_path):
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is certainly not a sqlite file" * 100)
    with pytest.raises(UnavailableError, match="is not a SQLite database"):
        open_connection(bogus, 5000)
    assert bogus.read_bytes() == b"this is certainly not a sqlite file" * 100


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(UnavailableError, match="is a directory"):
        open_connection(tmp_path, 5000)


def test_parent_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UnavailableError, match="cannot create database directory"):
        open_connection(blocker / "sub" / "x.db", 5000)


def test_switching_a_fresh_file_to_wal_waits_out_a_racing_process(tmp_path):
    """Regression: one of 8 processes opening a new file at once got "database is locked"."""
    path = tmp_path / "fresh.db"
    other = apsw.Connection(str(path))
    other.execute("BEGIN EXCLUSIVE")  # rollback-journal mode: holds the file
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    connection = open_connection(path, busy_timeout_ms=5000)
    release.join()
    assert connection.execute("PRAGMA journal_mode").fetchall()[0][0] == "wal"
    connection.close()
    other.close()


def test_gives_up_on_wal_after_the_busy_timeout(tmp_path):
    path = tmp_path / "held.db"
    other = apsw.Connection(str(path))
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(UnavailableError, match="stayed locked"):
        open_connection(path, busy_timeout_ms=200)
    other.execute("ROLLBACK")
    other.close()
