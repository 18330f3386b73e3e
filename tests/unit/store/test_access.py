import threading
import time

from mnemosyne.errors import UnavailableError
from mnemosyne.store.access import AccessBatcher
from mnemosyne.store.query import make_recall_query
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.recall import recall


def test_batched_counts_reach_the_database_in_one_write_and_at_close(tmp_path):
    path = tmp_path / "m.db"
    store = SqliteBackend(Database.open(path), batch_access_counts=True)
    memory = store.remember("batched access counting")
    for _ in range(3):
        hits = recall(store, make_recall_query("batched"))
        assert hits[0].memory.access_count == 1  # what this recall saw, plus itself
    other = SqliteBackend(Database.open(path))
    assert other.get(memory.id).access_count == 0  # not written yet: no write per recall
    store.close()
    shown = other.get(memory.id)
    assert shown.access_count == 3 and shown.last_accessed_at is not None
    other.close()


def test_the_batcher_writes_on_its_own_within_its_interval(tmp_path):
    store = SqliteBackend(Database.open(tmp_path / "m.db"))
    memory = store.remember("interval")
    written = threading.Event()

    def write(counts, when):
        store.count_accesses(counts, when)
        written.set()

    batcher = AccessBatcher(write, interval_s=0.05)
    batcher.add([memory.id, memory.id], "2026-01-01T00:00:00.000000Z")
    assert written.wait(5)
    batcher.close()
    shown = store.get(memory.id)
    assert (shown.access_count, shown.last_accessed_at) == (2, "2026-01-01T00:00:00.000000Z")
    store.close()


def test_an_older_batch_never_moves_the_last_access_back(tmp_path):
    store = SqliteBackend(Database.open(tmp_path / "m.db"))
    memory = store.remember("clock")
    store.count_accesses({memory.id: 1}, "2026-06-01T00:00:00.000000Z")
    store.count_accesses({memory.id: 1}, "2026-01-01T00:00:00.000000Z")
    shown = store.get(memory.id)
    assert (shown.access_count, shown.last_accessed_at) == (2, "2026-06-01T00:00:00.000000Z")
    store.close()


def test_a_failed_write_is_logged_not_raised(caplog):
    def fail(counts, when):
        raise UnavailableError("database is read-only")

    batcher = AccessBatcher(fail, interval_s=60)
    batcher.add(["x"], "2026-01-01T00:00:00.000000Z")
    started = time.monotonic()
    batcher.close()
    assert time.monotonic() - started < 5
    assert "could not record 1 access count(s)" in caplog.text
