"""The change journal: every process's stores, updates and deletes, in order, once."""

from __future__ import annotations

import subprocess
import sys

from mnemosyne.store.sqlite.changes import ChangeFeed


def test_feed_starts_at_the_end_and_sees_new_changes(store):
    store.remember("before the feed")
    feed = ChangeFeed(store.database)
    assert feed.poll() == []
    memory = store.remember("hello", namespace="project:x", memory_type="decision",
                            importance=7)
    (stored,) = feed.poll()
    assert (stored.op, stored.memory_id, stored.namespace, stored.memory_type,
            stored.importance, stored.preview) == ("stored", memory.id, "project:x",
                                                   "decision", 7, "hello")
    store.forget(memory.id)
    (deleted,) = feed.poll()
    assert (deleted.op, deleted.memory_id, deleted.namespace) == ("deleted", memory.id,
                                                                  "project:x")
    assert deleted.preview is None
    assert feed.poll() == []


def test_a_change_read_after_the_memory_is_gone_has_no_details(store):
    feed = ChangeFeed(store.database)
    store.forget(store.remember("short-lived").id)
    assert [(change.op, change.preview) for change in feed.poll()] == [("stored", None),
                                                                       ("deleted", None)]


def test_another_process_changes_are_seen(store, db_path):
    feed = ChangeFeed(store.database)
    subprocess.run([sys.executable, "-m", "mnemosyne", "--db", str(db_path), "remember",
                    "-c", "from another process"], check=True, capture_output=True)
    (change,) = feed.poll()
    assert change.op == "stored" and change.preview == "from another process"


def test_event_payload_avoids_envelope_names(store):
    feed = ChangeFeed(store.database)
    store.remember("x")
    data = feed.poll()[0].to_event_data()
    assert not {"id", "type", "instance_id", "timestamp", "data"} & data.keys()


def test_journal_is_pruned_but_seq_keeps_growing(store):
    feed = ChangeFeed(store.database)

    def insert_many(connection):
        for index in range(12_000):
            connection.execute("INSERT INTO change_log(op, memory_id, namespace) "
                               "VALUES ('stored', ?, 'global')", (f"m{index}",))

    store.database.write(insert_many)
    rows = store.database.read(lambda c: c.execute(
        "SELECT count(*), min(seq), max(seq) FROM change_log").fetchall()[0])
    assert rows[0] <= 11_000 and rows[2] == 12_000
    changes = feed.poll()
    assert len(changes) == 1000 and changes[0].seq == rows[1]
