import dataclasses
import threading
import time

import pytest

from mnemosyne.errors import MnemosyneError, NotFoundError, UsageError
from mnemosyne.store.postgres import open_postgres_backend
from mnemosyne.store.postgres.rows import PLACEHOLDERS, memory_parameters
from mnemosyne.store.query import make_recall_query
from tests.postgres_server import running_server
from tests.unit.store.postgres.conftest import SETTINGS


def insert(backend, memory):
    backend.connections.write(lambda c, _a: c.execute(
        f"INSERT INTO memories ({', '.join(dataclasses.asdict(memory))}) "
        f"VALUES ({PLACEHOLDERS})", memory_parameters(memory)))


def test_remember_then_get_by_id_and_prefix(backend):
    memory = backend.remember("Use WAL", namespace="project:app", importance="7",
                              tags="db,wal", memory_type="decision", summary="WAL")
    assert backend.get(memory.id) == memory
    assert backend.get(memory.id[:6]) == memory
    assert memory.tags == ("db", "wal")
    assert backend.display_url.startswith("postgresql://")


def test_bad_input_writes_nothing(backend):
    backend.remember("keep me")
    for kwargs in ({"namespace": "nope"}, {"namespace": "project:"}, {"importance": 11},
                   {"memory_type": "x"}, {"tags": "a b"}, {"summary": "nul \x00 here"},
                   {"tags": ["nul\x00tag"]}):
        with pytest.raises(UsageError):
            backend.remember("bad", **kwargs)
    with pytest.raises(UsageError):
        backend.remember("   ")
    assert backend.count() == 1


def test_unknown_malformed_and_ambiguous_ids(backend):
    with pytest.raises(NotFoundError):
        backend.get("deadbeef")
    with pytest.raises(UsageError, match="not a memory id"):
        backend.get("ab")
    template = backend.remember("template")
    for memory_id in ("abcd1111-0000-4000-8000-000000000000",
                      "abcd2222-0000-4000-8000-000000000000"):
        insert(backend, dataclasses.replace(template, id=memory_id))
    with pytest.raises(UsageError, match="ambiguous"):
        backend.resolve_id("abcd")
    assert backend.resolve_id("ABCD2222") == "abcd2222-0000-4000-8000-000000000000"
    assert backend.resolve_id("abcd1111-0000") == "abcd1111-0000-4000-8000-000000000000"


def test_list_is_newest_first_with_namespace_and_limit(backend):
    a = backend.remember("a", namespace="global")
    b = backend.remember("b", namespace="project:x")
    c = backend.remember("c", namespace="project:x")
    assert [m.id for m in backend.list()] == [c.id, b.id, a.id]
    assert [m.id for m in backend.list("project:x", limit=1)] == [c.id]
    assert len(backend.list(limit=0)) == 3
    with pytest.raises(UsageError):
        backend.list(limit=-1)
    with pytest.raises(UsageError):
        backend.list("Project X")
    assert backend.count("project:x") == 2
    assert backend.count("project:y") == 0


def test_forget_removes_memory_and_links(backend):
    a, b = backend.remember("alpha"), backend.remember("beta")
    backend.link(a.id, b.id, "related")
    assert backend.forget(a.id[:8]) == a
    with pytest.raises(NotFoundError):
        backend.get(a.id)
    assert backend.links_of(b.id) == []
    with pytest.raises(NotFoundError):
        backend.forget(a.id)


def test_link_rules_and_supersession(backend):
    a, b = backend.remember("a"), backend.remember("b")
    assert backend.link(a.id, b.id, "supersedes", 0.5).strength == 0.5
    assert backend.get(b.id).superseded_by == a.id
    backend.link(a.id, b.id, "supersedes", 0.9)
    assert [x.strength for x in backend.links_of(a.id)] == [0.9]
    with pytest.raises(UsageError, match="itself"):
        backend.link(a.id, a.id, "related")
    with pytest.raises(UsageError, match="strength"):
        backend.link(a.id, b.id, "related", 1.5)
    with pytest.raises(UsageError, match="unknown link type"):
        backend.link(a.id, b.id, "loves")
    with pytest.raises(NotFoundError):
        backend.link(a.id, "0123abcd", "related")
    backend.forget(a.id)
    assert backend.get(b.id).superseded_by is None


def test_update_changes_fields_and_the_search_index(backend):
    memory = backend.remember("old text", namespace="project:x", importance=3, tags="a",
                              memory_type="note", summary="old")
    updated = backend.update(memory.id[:8], content="new wording", summary="fresh",
                             importance=9, tags=["b", "c"], memory_type="decision")
    assert (updated.content, updated.summary, updated.importance, updated.tags,
            updated.memory_type) == ("new wording", "fresh", 9, ("b", "c"), "decision")
    assert updated.updated_at > memory.updated_at
    assert backend.get(memory.id) == updated
    assert [h.memory.id for h in backend.recall(make_recall_query("wording"))] == [memory.id]
    assert backend.update(memory.id, importance=9).updated_at == updated.updated_at
    assert backend.update(memory.id, archived=True).archived is True
    assert backend.list() == []
    for kwargs in ({}, {"importance": 0}, {"archived": "yes"}, {"summary": "\x00"}):
        with pytest.raises(UsageError):
            backend.update(memory.id, **kwargs)
    with pytest.raises(NotFoundError):
        backend.update("0123abcd", importance=2)


def test_a_retried_insert_of_a_committed_memory_is_not_a_duplicate(backend, sql):
    memory = backend.remember("stored once")
    # What a retry after a lost COMMIT answer does: the same id again.
    backend.connections.write(lambda c, _a: backend._check_same(c, memory))
    assert sql("SELECT count(*) FROM memories")[0][0] == 1
    with pytest.raises(MnemosyneError, match="already used"):
        backend.connections.write(lambda c, _a: backend._check_same(
            c, dataclasses.replace(memory, content="something else")))


def test_writes_survive_their_connection_being_killed(backend, sql):
    backend.remember("warm up")
    pid = backend.connections.connection().info.backend_pid
    sql("SELECT pg_terminate_backend(%s)", (pid,))
    memory = backend.remember("after the kill")
    assert backend.get(memory.id) == memory
    assert backend.count() == 2


def test_mark_accessed_counts(backend):
    memory = backend.remember("counted")
    backend.mark_accessed([memory.id], "2026-01-01T00:00:00.000000Z")
    backend.mark_accessed([], "2026-01-01T00:00:00.000000Z")
    stored = backend.get(memory.id)
    assert (stored.access_count, stored.last_accessed_at) == (1, "2026-01-01T00:00:00.000000Z")


def test_health_answers_within_a_second(backend):
    health = backend.health()
    assert health.ok and not health.writer_active and health.oldest_write_s == 0.0


def test_server_crash_in_an_eight_writer_storm_loses_and_duplicates_nothing():
    """Needs its own server (it is stopped with -m immediate and started again)."""
    with running_server() as server:
        url = server.create_database("storm")
        settings = type(SETTINGS)(write_deadline_s=30.0, max_content_bytes=65536)
        backend = open_postgres_backend(url, settings)
        acknowledged: list[str] = []
        failures: list[str] = []
        stop = threading.Event()

        def writer(index: int) -> None:
            count = 0
            while not stop.is_set():
                content = f"writer {index} note {count}"
                try:
                    backend.remember(content, namespace=f"project:w{index}")
                except MnemosyneError as error:
                    failures.append(str(error))
                else:
                    acknowledged.append(content)
                count += 1

        threads = [threading.Thread(target=writer, args=(index,)) for index in range(8)]
        try:
            for thread in threads:
                thread.start()
            time.sleep(1.0)
            before = len(acknowledged)
            server.stop("immediate")
            began = time.monotonic()
            health = backend.health()
            assert not health.ok and time.monotonic() - began < 1.0, health
            time.sleep(1.0)
            assert not backend.health().ok
            server.start()
            deadline = time.monotonic() + 10
            while not backend.health().ok:
                assert time.monotonic() < deadline, "health did not come back"
                time.sleep(0.1)
            time.sleep(1.0)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        try:
            assert before > 0 and len(acknowledged) > before
            assert not failures, failures[:3]
            stored = [row.content for row in backend.list()]
            assert len(stored) == len(set(stored)), "a memory was stored twice"
            assert set(acknowledged) <= set(stored), "an acknowledged write was lost"
        finally:
            backend.close()


def test_counting_accesses_leaves_the_sessions_commit_mode_alone(backend, sql):
    memory = backend.remember("counted")
    backend.mark_accessed([memory.id], "2026-01-01T00:00:00.000000Z")
    mode = backend.connections.read(lambda c: c.execute(
        "SELECT current_setting('synchronous_commit')").fetchone()[0])
    assert mode == "on"
    assert backend.get(memory.id).access_count == 1
