"""The full-text index merger: automerge off, merging in short transactions of its own."""

import logging
import threading
import time

import apsw

from mnemosyne.store.query import make_recall_query
from mnemosyne.store.sqlite import database as database_module
from mnemosyne.store.sqlite import indexmerge
from mnemosyne.store.sqlite.connection import open_connection
from mnemosyne.store.sqlite.indexmerge import IndexMerger, merge_step
from mnemosyne.store.sqlite.transactions import WriterLock


def segments(store):
    return store.database.read(lambda connection: connection.execute(
        "SELECT count(DISTINCT segid) FROM memories_fts_idx").fetchall()[0][0])


def remember_each_in_its_transaction(store, count):
    for n in range(count):
        store.remember(f"note {n} about merging segments")


def test_writers_no_longer_merge_inside_their_own_transactions(store):
    config = dict(store.database.read(lambda connection: connection.execute(
        "SELECT k, v FROM memories_fts_config").fetchall()))
    assert config["automerge"] == 0


def test_a_step_merges_only_where_a_level_is_full(store):
    store.database.index_merger.close()  # this test merges by hand
    remember_each_in_its_transaction(store, 3)
    assert segments(store) == 3
    assert store.database.write(merge_step) is False  # fewer than 4 on the level: nothing
    remember_each_in_its_transaction(store, 10)
    assert segments(store) == 13
    steps = 0
    while store.database.write(merge_step):
        steps += 1
    assert steps >= 1 and segments(store) <= 3
    assert len(store.recall(make_recall_query("merging", limit=50))) == 13  # still answers


def test_a_busy_writer_s_index_is_merged_in_the_background(store):
    remember_each_in_its_transaction(store, 40)
    deadline = time.monotonic() + 10
    while segments(store) > 4:
        assert time.monotonic() < deadline, f"{segments(store)} segments left"
        time.sleep(0.05)
    assert store.database.index_merger.steps >= 1
    assert len(store.recall(make_recall_query("segments", limit=100))) == 40


def test_closing_runs_the_round_still_wanted(db_path):
    from mnemosyne.store.sqlite.backend import SqliteBackend  # noqa: PLC0415
    from mnemosyne.store.sqlite.database import Database  # noqa: PLC0415

    database = Database.open(db_path)
    store = SqliteBackend(database)
    remember_each_in_its_transaction(store, 12)
    database.close()  # within MERGE_INTERVAL_S of the last commit: the round runs here
    reopened = SqliteBackend(Database.open(db_path))
    try:
        assert segments(reopened) <= 4
    finally:
        reopened.database.close()


def test_a_failing_merge_is_logged_never_raised(tmp_path, caplog):
    path = tmp_path / "no-index.db"
    apsw.Connection(str(path)).execute("CREATE TABLE t(x)")
    merger = IndexMerger(lambda: open_connection(path, 1000), lambda: WriterLock(path),
                         tmp_path / "merge.lock")
    with caplog.at_level(logging.WARNING, logger=indexmerge.__name__):
        merger.request()
        merger.close()
    assert any("full-text index merge failed" in record.getMessage()
               for record in caplog.records)


def test_closing_an_idle_merger_returns_at_once(tmp_path):
    path = tmp_path / "idle.db"
    merger = IndexMerger(lambda: open_connection(path, 1000), lambda: WriterLock(path),
                         tmp_path / "merge.lock")
    began = time.monotonic()
    merger.close()
    merger.request()  # after close: ignored, no thread
    assert time.monotonic() - began < 0.5


def test_closing_never_waits_out_the_interval_before_a_round(store, monkeypatch):
    monkeypatch.setattr(indexmerge, "MERGE_INTERVAL_S", 3600)  # a commit's round: an hour away
    remember_each_in_its_transaction(store, 12)
    closing = threading.Thread(target=store.database.index_merger.close)
    closing.start()
    closing.join(30)
    assert not closing.is_alive(), "close waited for the interval"
    assert segments(store) <= 4  # the round owed ran, on the merger's own connection


def test_the_merger_s_commits_ask_the_checkpointer_and_never_checkpoint_inline(store,
                                                                              monkeypatch):
    hooked = []

    def watch_wal(connection, on_large, **extra):
        hooked.append((on_large, tuple(extra)))  # no on_commit: its commits start no round

    monkeypatch.setattr(database_module, "watch_wal", watch_wal)
    store.database._merger_connection().close()
    assert hooked and set(hooked) == {(store.database.checkpointer.request, ())}


def test_a_step_waits_for_the_helper_gate_before_the_writers_lock(store):
    store.database.index_merger.close()
    remember_each_in_its_transaction(store, 8)
    merger = IndexMerger(store.database._merger_connection,
                         lambda: WriterLock(store.database.path),
                         store.database.path.with_name("gate-merge.lock"), threading.Lock())
    with merger._gate:
        merger.request()
        time.sleep(0.2)  # the step cannot start while the gate is held
        assert merger.steps == 0 and segments(store) == 8
    deadline = time.monotonic() + 10
    while segments(store) > 4:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    merger.close()


def test_a_merging_lock_on_a_file_system_without_locks_lets_the_merger_merge(tmp_path,
                                                                             monkeypatch):
    lock = indexmerge.MergingLock(tmp_path / "merge.lock")

    def no_locks(fd, operation):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(indexmerge.fcntl, "flock", no_locks)
    assert lock.acquire() is True
    lock.release()
    lock.close()
