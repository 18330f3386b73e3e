import dataclasses

import pytest

from mnemosyne.errors import NotFoundError, UsageError
from mnemosyne.store.sqlite.backend import insert_memory


def test_remember_then_get_by_id_and_prefix(store):
    memory = store.remember("Use WAL", namespace="project:app", importance="7", tags="db,wal",
                            memory_type="decision", summary="WAL")
    assert store.get(memory.id) == memory
    assert store.get(memory.id[:6]) == memory
    assert memory.tags == ("db", "wal")
    assert memory.created_at == memory.updated_at
    assert memory.access_count == 0


def test_bad_input_writes_nothing(store):
    store.remember("keep me")
    for kwargs in ({"namespace": "nope"}, {"importance": 11}, {"memory_type": "x"},
                   {"tags": "a b"}):
        with pytest.raises(UsageError):
            store.remember("bad", **kwargs)
    with pytest.raises(UsageError):
        store.remember("   ")
    assert store.count() == 1


def test_unknown_and_malformed_ids(store):
    with pytest.raises(NotFoundError):
        store.get("deadbeef")
    with pytest.raises(UsageError, match="not a memory id"):
        store.get("xyz!")
    with pytest.raises(UsageError, match="not a memory id"):
        store.get("ab")


def test_ambiguous_prefix(store):
    template = store.remember("template")
    for memory_id in ("abcd1111-0000-4000-8000-000000000000",
                      "abcd2222-0000-4000-8000-000000000000"):
        store.database.write(lambda c, i=memory_id: insert_memory(
            c, dataclasses.replace(template, id=i)))
    with pytest.raises(UsageError, match="ambiguous"):
        store.resolve_id("abcd")
    assert store.resolve_id("abcd1") == "abcd1111-0000-4000-8000-000000000000"
    assert store.resolve_id("ABCD2222") == "abcd2222-0000-4000-8000-000000000000"


def test_list_is_newest_first_with_namespace_and_limit(store):
    a = store.remember("a", namespace="global")
    b = store.remember("b", namespace="project:x")
    c = store.remember("c", namespace="project:x")
    assert [m.id for m in store.list()] == [c.id, b.id, a.id]
    assert [m.id for m in store.list("project:x", limit=1)] == [c.id]
    assert len(store.list(limit=0)) == 3
    with pytest.raises(UsageError):
        store.list(limit=-1)
    assert store.count("project:x") == 2


def test_forget_removes_memory_links_and_index(store):
    a = store.remember("alpha unique-word")
    b = store.remember("beta")
    store.link(a.id, b.id, "related")
    assert store.forget(a.id[:8]) == a
    with pytest.raises(NotFoundError):
        store.get(a.id)
    assert store.links_of(b.id) == []
    rows = store.database.read(lambda c: c.execute(
        "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'alpha'").fetchall())
    assert rows == [(0,)]
    with pytest.raises(NotFoundError):
        store.forget(a.id)


def test_link_rules(store):
    a, b = store.remember("a"), store.remember("b")
    link = store.link(a.id, b.id, "supersedes", 0.5)
    assert link.strength == 0.5
    assert store.get(b.id).superseded_by == a.id
    store.link(a.id, b.id, "supersedes", 0.9)
    assert [x.strength for x in store.links_of(a.id)] == [0.9]
    with pytest.raises(UsageError, match="itself"):
        store.link(a.id, a.id, "related")
    with pytest.raises(UsageError, match="strength"):
        store.link(a.id, b.id, "related", 1.5)
    with pytest.raises(UsageError, match="unknown link type"):
        store.link(a.id, b.id, "loves")
    with pytest.raises(NotFoundError):
        store.link(a.id, "0123abcd", "related")
    store.forget(a.id)
    assert store.get(b.id).superseded_by is None


def test_update_changes_the_given_fields_in_one_transaction(store):
    memory = store.remember("old text", namespace="project:x", importance=3, tags="a",
                            memory_type="note", summary="old")
    updated = store.update(memory.id[:8], content="new text", summary="new", importance=9,
                           tags=["b", "c"], memory_type="decision")
    assert (updated.content, updated.summary, updated.importance, updated.tags,
            updated.memory_type) == ("new text", "new", 9, ("b", "c"), "decision")
    assert updated.namespace == "project:x" and updated.created_at == memory.created_at
    assert updated.updated_at > memory.updated_at
    assert store.get(memory.id) == updated
    # The full-text index follows the new content.
    rows = store.database.read(lambda c: c.execute(
        "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'new'").fetchall())
    assert rows[0][0] == 1


def test_update_archives_and_unarchives(store):
    memory = store.remember("to archive")
    assert store.update(memory.id, archived=True).archived is True
    assert store.list() == []
    assert store.update(memory.id, archived=False).archived is False
    assert [m.id for m in store.list()] == [memory.id]


def test_update_without_a_real_change_keeps_the_change_time(store):
    memory = store.remember("same", importance=4)
    assert store.update(memory.id, importance=4) == memory


def test_update_refuses_bad_input_and_missing_memories(store):
    memory = store.remember("keep")
    for kwargs in ({}, {"importance": 0}, {"memory_type": "nope"}, {"tags": "a b"},
                   {"content": " "}, {"summary": ""}, {"archived": "yes"}):
        with pytest.raises(UsageError):
            store.update(memory.id, **kwargs)
    assert store.get(memory.id) == memory
    with pytest.raises(NotFoundError):
        store.update("deadbeef", importance=2)
