import threading
import time

import apsw

from mnemosyne.store.sqlite.checkpoint import Checkpointer, watch_wal
from mnemosyne.store.sqlite.connection import open_connection
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.transactions import WriterLock


def wal_frames(path):
    connection = apsw.Connection(str(path))
    try:
        return connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
    finally:
        connection.close()


def test_hook_fires_only_over_the_threshold(tmp_path):
    connection = open_connection(tmp_path / "c.db", 5000)
    calls = []
    watch_wal(connection, lambda: calls.append(1), threshold_pages=3)
    connection.execute("CREATE TABLE t (x)")
    assert calls == []
    for _ in range(5):
        connection.execute("INSERT INTO t VALUES (randomblob(5000))")
    assert calls
    connection.close()


def test_background_checkpoint_runs_when_requested(tmp_path):
    path = tmp_path / "c.db"
    open_connection(path, 5000).close()
    checkpointer = Checkpointer(lambda: open_connection(path, 5000), lambda: WriterLock(path))
    done = threading.Event()
    original = checkpointer._checkpoint

    def checkpoint_and_signal(connection, lock):
        original(connection, lock)
        done.set()

    checkpointer._checkpoint = checkpoint_and_signal
    checkpointer.request()
    assert done.wait(10)
    checkpointer.close()
    assert checkpointer.checkpoints >= 1


def test_close_without_use_starts_nothing(tmp_path):
    checkpointer = Checkpointer(lambda: open_connection(tmp_path / "c.db", 5000),
                                lambda: WriterLock(tmp_path / "c.db"))
    checkpointer.close()
    checkpointer.request()  # after close: no thread is started
    assert checkpointer._thread is None


def test_database_keeps_its_wal_bounded(tmp_path):
    database = Database.open(tmp_path / "big.db")
    database.write(lambda c: c.execute("CREATE TABLE blobs (x)"))
    for _ in range(300):
        database.write(lambda c: c.execute("INSERT INTO blobs VALUES (randomblob(20000))"))
    database.close()
    _, wal_pages, checkpointed = wal_frames(tmp_path / "big.db")
    assert database.checkpointer.checkpoints >= 1
    assert wal_pages - checkpointed < 1000


def test_the_part_under_the_writers_lock_waits_for_the_helper_gate(tmp_path):
    path = tmp_path / "c.db"
    open_connection(path, 5000).close()
    gate = threading.Lock()
    checkpointer = Checkpointer(lambda: open_connection(path, 5000), lambda: WriterLock(path),
                                gate)
    with gate:
        checkpointer.request()
        time.sleep(0.2)  # it cannot finish while the gate is held
        assert checkpointer.checkpoints == 0
    deadline = time.monotonic() + 10
    while checkpointer.checkpoints == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    checkpointer.close()
