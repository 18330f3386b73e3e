import dataclasses

import pytest

from mnemosyne.store.query import make_recall_query
from mnemosyne.store.sqlite import recall as recall_module
from mnemosyne.store.sqlite.backend import insert_memory
from mnemosyne.store.sqlite.recall import recall


def put(store, content, **changes):
    """Store a memory, then overwrite fields (e.g. an old timestamp) directly."""
    memory = store.remember(content, **{k: v for k, v in changes.items()
                                       if k in ("namespace", "importance", "tags",
                                                "memory_type")})
    extra = {k: v for k, v in changes.items() if k in ("updated_at", "created_at", "archived")}
    if extra:
        memory = dataclasses.replace(memory, **extra)
        store.database.write(lambda c: insert_memory(c, memory, replace=True))
    return memory


def ids(hits):
    return [hit.memory.id for hit in hits]


def test_relevance_importance_and_recency_combine(store):
    # Filler so that the query terms are rare and bm25 is meaningful.
    for index in range(30):
        put(store, f"filler note number {index} about nothing in particular")
    low = put(store, "the deploy pipeline uses blue green switching", importance=2)
    high = put(store, "the deploy pipeline uses blue green switching", importance=9)
    old = put(store, "the deploy pipeline uses blue green switching", importance=9,
              updated_at="2020-01-01T00:00:00.000000Z")
    hits = recall(store, make_recall_query("deploy pipeline"))
    assert ids(hits) == [high.id, old.id, low.id]
    assert hits[0].score > hits[1].score > hits[2].score > 0


def test_filters_apply_before_the_limit(store):
    for index in range(20):
        put(store, f"retry loop detail {index}", importance=9, namespace="global")
    wanted = put(store, "retry loop detail in the app", importance=3, namespace="project:app",
                 tags="net,db", memory_type="bug_fix")
    query = make_recall_query("retry", namespace="project:app", limit=1)
    assert ids(recall(store, query)) == [wanted.id]
    assert ids(recall(store, make_recall_query("retry", tags="db", limit=1))) == [wanted.id]
    assert ids(recall(store, make_recall_query("retry", memory_types="bug", limit=1))) \
        == [wanted.id]
    assert recall(store, make_recall_query("retry", namespace="project:app",
                                           min_importance=4)) == []


def test_empty_query_gives_most_important_then_most_recent(store):
    a = put(store, "a", importance=5)
    b = put(store, "b", importance=8)
    c = put(store, "c", importance=5)
    assert ids(recall(store, make_recall_query(""))) == [b.id, c.id, a.id]


def test_prefix_and_or_fallback(store):
    db = put(store, "database migrations are versioned")
    other = put(store, "the cache warms lazily")
    assert ids(recall(store, make_recall_query("datab*"))) == [db.id]
    # No memory has both words: any word may match.
    assert set(ids(recall(store, make_recall_query("database cache")))) == {db.id, other.id}
    assert recall(store, make_recall_query("zebra")) == []


def test_stemming_matches_word_forms(store):
    memory = put(store, "caching strategies for builds")
    assert ids(recall(store, make_recall_query("cached"))) == [memory.id]


def test_archived_and_superseded_are_not_recalled(store):
    archived = put(store, "obsolete advice", archived=True)
    old = put(store, "obsolete advice two")
    new = put(store, "better advice")
    store.link(new.id, old.id, "supersedes")
    assert recall(store, make_recall_query("obsolete")) == []
    assert archived.archived


def test_recall_counts_accesses(store):
    memory = put(store, "counted thing")
    first = recall(store, make_recall_query("counted"))
    assert first[0].memory.access_count == 1
    assert first[0].memory.last_accessed_at is not None
    recall(store, make_recall_query("counted"))
    assert store.get(memory.id).access_count == 2
    recall(store, make_recall_query("counted"), count_access=False)
    assert store.get(memory.id).access_count == 2


def test_over_the_cap_only_the_most_recent_matches_are_ranked(store, monkeypatch):
    monkeypatch.setattr(recall_module, "CANDIDATE_CAP", 4)
    # 20 unrelated memories keep "signal" under half of the latest 4 -> bm25 stays on.
    old_important = put(store, "signal handling note", importance=10)
    for index in range(20):
        put(store, f"filler {index}")
    recent = [put(store, f"signal handling detail {index}", importance=2) for index in range(4)]
    for index in range(4):
        put(store, f"more filler {index}")
    hits = recall(store, make_recall_query("signal", limit=10), count_access=False)
    assert set(ids(hits)) == {memory.id for memory in recent}
    assert old_important.id not in ids(hits)
    assert all(hit.score > 0 for hit in hits)


def test_filters_apply_before_the_cap(store, monkeypatch):
    monkeypatch.setattr(recall_module, "CANDIDATE_CAP", 3)
    wanted = put(store, "queue latency", namespace="project:q")
    for index in range(10):
        put(store, f"queue latency {index}")
    hits = recall(store, make_recall_query("queue", namespace="project:q"), count_access=False)
    assert ids(hits) == [wanted.id]


def test_words_in_most_recent_memories_rank_by_importance_and_recency(store, monkeypatch):
    monkeypatch.setattr(recall_module, "CANDIDATE_CAP", 4)
    for index in range(6):
        put(store, f"the thing {index}", importance=3)
    top = put(store, "the important thing", importance=9)
    hits = recall(store, make_recall_query("the", limit=3), count_access=False)
    assert ids(hits)[0] == top.id
    assert hits[0].score == pytest.approx(1.4 * 1.0, rel=0.01)


def test_an_archived_memory_among_the_newest_matches_does_not_shrink_the_candidates(
        store, monkeypatch):
    monkeypatch.setattr(recall_module, "CANDIDATE_CAP", 3)
    for index in range(20):
        put(store, f"filler {index}")
    older = put(store, "relay note zero", importance=9)
    newer = [put(store, f"relay note {index}", importance=2) for index in (1, 2)]
    put(store, "relay note archived", importance=10, archived=True)
    hits = recall(store, make_recall_query("relay", limit=10), count_access=False)
    assert set(ids(hits)) == {older.id, *(memory.id for memory in newer)}


def test_equal_scores_rank_the_most_recently_stored_first(store, monkeypatch):
    monkeypatch.setattr(recall_module, "CANDIDATE_CAP", 3)
    same = [put(store, "twin entry", importance=5, updated_at="2026-01-01T00:00:00.000000Z")
            for _ in range(5)]
    hits = recall(store, make_recall_query("twin", limit=5), count_access=False)
    assert ids(hits) == [memory.id for memory in reversed(same)][:len(hits)]


def test_a_namespace_filter_never_drives_the_search_through_the_namespace_index(store):
    """The full-text index must lead: walking a namespace and matching each of its memories
    took seconds at 100,000 memories (bench.recall's recall_in_one_namespace)."""
    for index in range(30):
        put(store, f"plan word {index}", namespace="project:a" if index % 2 else "global")
    statements = []
    connection = store.database.connection()

    def trace(_cursor, sql, bindings):
        statements.append((sql, bindings))
        return True

    connection.exectrace = trace  # the name APSW 3.40 (Debian 12) knows too
    try:
        recall(store, make_recall_query("plan", namespace="project:a"), count_access=False)
    finally:
        connection.exectrace = None
    searched = [(sql, bindings) for sql, bindings in statements if "memories_fts" in sql]
    assert searched
    for sql, bindings in searched:
        plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sql}", bindings)]
        assert "memories_namespace" not in " ".join(plan), (sql, plan)
