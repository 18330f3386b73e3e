import select
import threading
import time

from mnemosyne.store.postgres import open_postgres_backend
from mnemosyne.store.postgres.changes import PostgresChangeFeed
from tests.postgres_server import running_server
from tests.unit.store.postgres.conftest import SETTINGS


def wait_readable(feed, timeout):
    return bool(select.select([feed.fileno()], [], [], timeout)[0])


def test_feed_starts_at_the_end_and_sees_new_changes_in_order(backend):
    before = backend.remember("before the feed")
    feed = backend.change_feed()
    try:
        assert feed.poll() == []
        memory = backend.remember("stored", namespace="project:x", importance=7, summary="sum")
        backend.update(memory.id, importance=8)
        backend.mark_accessed([memory.id], "2026-01-01T00:00:00.000000Z")  # not a change
        backend.forget(before.id)
        changes = feed.poll()
        assert [(c.op, c.memory_id) for c in changes] == [
            ("stored", memory.id), ("updated", memory.id), ("deleted", before.id)]
        assert changes[0].preview == "sum" and changes[0].importance == 8
        assert changes[2].memory_type is None
        assert [c.seq for c in changes] == sorted(c.seq for c in changes)
        assert feed.poll() == []
    finally:
        feed.close()


def test_another_instance_wakes_the_feed_within_100_ms(backend, postgres_database_url):
    feed = backend.change_feed()
    other = open_postgres_backend(postgres_database_url, SETTINGS)
    try:
        assert feed.listening.wait(5)
        feed.drain()
        assert not wait_readable(feed, 0.05)
        began = time.monotonic()
        memory = other.remember("from another machine")
        assert wait_readable(feed, 1.0)
        assert time.monotonic() - began < 0.1 + 0.05  # the write's own commit included
        feed.drain()
        assert [c.memory_id for c in feed.poll()] == [memory.id]
        assert not wait_readable(feed, 0.05)
    finally:
        other.close()
        feed.close()
        feed.close()  # closing twice is harmless


def test_event_ids_follow_commit_order_under_concurrent_writers(backend):
    feed = backend.change_feed()
    try:
        def write(index):
            for count in range(25):
                backend.remember(f"writer {index} {count}")

        threads = [threading.Thread(target=write, args=(index,)) for index in range(6)]
        for thread in threads:
            thread.start()
        seen = []
        while any(thread.is_alive() for thread in threads):
            seen += feed.poll()  # polling while commits happen: nothing may be skipped
        for thread in threads:
            thread.join()
        seen += feed.poll()
        assert len(seen) == 150
        assert len({change.memory_id for change in seen}) == 150
    finally:
        feed.close()


def test_journal_is_pruned_but_seq_keeps_growing(backend, sql):
    feed = backend.change_feed()
    try:
        sql("SELECT setval('change_log_seq', 10990)")
        for index in range(12):
            backend.remember(f"m {index}")
        assert [change.seq for change in feed.poll()] == list(range(10991, 11003))
        assert sql("SELECT min(seq), max(seq) FROM change_log")[0] == (10991, 11002)
        # Old entries, as if left from long ago: the 12,000th change removes those <= 2,000.
        sql("INSERT INTO change_log SELECT g, 'stored', 'x', 'global' "
            "FROM generate_series(1, 5) g")
        sql("SELECT setval('change_log_seq', 11999)")
        backend.remember("the 12000th change prunes")
        assert [change.seq for change in feed.poll()] == [12000]
        assert sql("SELECT min(seq), max(seq) FROM change_log")[0] == (10991, 12000)
    finally:
        feed.close()


def test_pending_changes_nobody_reads_are_bounded(backend, sql):
    sql("SELECT setval('change_pending_id_seq', 11990)")
    sql("INSERT INTO change_pending (id, op, memory_id, namespace) "
        "SELECT g, 'stored', 'x', 'global' FROM generate_series(1, 5) g")
    for index in range(10):
        backend.remember(f"m {index}")
    assert sql("SELECT min(id), count(*) FROM change_pending")[0] == (11991, 10)


def test_the_listener_reconnects_after_the_server_restarts():
    """Needs its own server (it is stopped with -m immediate and started again)."""
    with running_server() as server:
        url = server.create_database("feed")
        backend = open_postgres_backend(url, SETTINGS)
        feed = PostgresChangeFeed(backend.connections)
        try:
            assert feed.listening.wait(5)
            server.crash_and_restart()
            deadline = time.monotonic() + 10
            while not feed.listening.is_set() or not backend.health().ok:
                assert time.monotonic() < deadline, "the listener did not come back"
                time.sleep(0.05)
            feed.drain()
            time.sleep(0.2)
            feed.drain()
            memory = backend.remember("after the restart")
            assert wait_readable(feed, 2.0)
            assert [c.memory_id for c in feed.poll()] == [memory.id]
        finally:
            feed.close()
            backend.close()
