import threading
import time

import apsw
import pytest

from mnemosyne.errors import UnavailableError
from mnemosyne.store.sqlite.connection import open_connection
from mnemosyne.store.sqlite.transactions import WriterLock, run_write_transaction


@pytest.fixture
def connection(tmp_path):
    connection = open_connection(tmp_path / "t.db", busy_timeout_ms=10)
    connection.execute("CREATE TABLE t (x)")
    yield connection
    connection.close()


def test_commits_and_returns_result(tmp_path, connection):
    lock = WriterLock(tmp_path / "t.db")
    result = run_write_transaction(connection, lock,
                                   lambda c: c.execute("INSERT INTO t VALUES (1)") and 42, 5)
    assert result == 42
    assert connection.execute("SELECT count(*) FROM t").fetchall() == [(1,)]
    assert not connection.in_transaction
    assert (tmp_path / "t.db-lock").stat().st_mode & 0o777 == 0o600


def test_exception_rolls_back(tmp_path, connection):
    lock = WriterLock(tmp_path / "t.db")

    def fail(c):
        c.execute("INSERT INTO t VALUES (1)")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_write_transaction(connection, lock, fail, 5)
    assert connection.execute("SELECT count(*) FROM t").fetchall() == [(0,)]
    assert not connection.in_transaction


def test_busy_from_a_foreign_writer_is_retried_until_it_commits(tmp_path, connection):
    """A writer that ignores our lock (like the sqlite3 shell) only delays us."""
    foreign = apsw.Connection(str(tmp_path / "t.db"))
    foreign.execute("BEGIN IMMEDIATE")
    foreign.execute("INSERT INTO t VALUES (0)")
    release = threading.Timer(0.3, lambda: foreign.execute("COMMIT"))
    release.start()
    lock = WriterLock(tmp_path / "t.db")
    started = time.monotonic()
    run_write_transaction(connection, lock, lambda c: c.execute("INSERT INTO t VALUES (1)"), 10)
    release.join()
    assert time.monotonic() - started >= 0.2
    assert connection.execute("SELECT count(*) FROM t").fetchall() == [(2,)]
    foreign.close()


def test_gives_up_after_the_deadline_with_a_clear_error(tmp_path, connection):
    foreign = apsw.Connection(str(tmp_path / "t.db"))
    foreign.execute("BEGIN IMMEDIATE")
    lock = WriterLock(tmp_path / "t.db")
    with pytest.raises(UnavailableError, match=r"stayed locked for 0\.2 s"):
        run_write_transaction(connection, lock, lambda c: c.execute("INSERT INTO t VALUES (1)"),
                              0.2)
    foreign.execute("ROLLBACK")
    foreign.close()


def test_writer_lock_serializes_threads(tmp_path):
    path = tmp_path / "t.db"
    inside = []
    overlap = []

    def worker():
        lock = WriterLock(path)
        for _ in range(50):
            lock.acquire()
            inside.append(1)
            if len(inside) > 1:
                overlap.append(1)
            inside.pop()
            lock.release()
        lock.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not overlap


def test_writer_lock_without_a_writable_directory_is_a_no_op(tmp_path):
    lock = WriterLock(tmp_path / "missing-dir" / "t.db")
    lock.acquire()
    lock.release()
    lock.close()


def test_acquire_within_gives_up_while_another_holds_the_lock(tmp_path):
    holder, waiter = WriterLock(tmp_path / "t.db"), WriterLock(tmp_path / "t.db")
    holder.acquire()
    began = time.monotonic()
    assert not waiter.acquire_within(0.2)
    assert 0.15 < time.monotonic() - began < 2
    holder.release()
    assert waiter.acquire_within(0.2)
    waiter.release()
    holder.close()
    waiter.close()
