import dataclasses

import pytest

from mnemosyne.errors import UsageError
from mnemosyne.store.postgres import recall as recall_module
from mnemosyne.store.postgres.recall import build_text_queries
from mnemosyne.store.query import make_recall_query


def put(backend, sql, content, **changes):
    """Store a memory, then overwrite fields (e.g. an old timestamp) directly."""
    memory = backend.remember(content, **{k: v for k, v in changes.items()
                                         if k in ("namespace", "importance", "tags",
                                                  "memory_type", "summary")})
    extra = {k: v for k, v in changes.items() if k in ("updated_at", "archived")}
    if extra:
        assignments = ", ".join(f"{column} = %s" for column in extra)
        sql(f"UPDATE memories SET {assignments} WHERE id = %s", (*extra.values(), memory.id))
        memory = dataclasses.replace(memory, **extra)
    return memory


def ids(hits):
    return [hit.memory.id for hit in hits]


def test_user_text_becomes_quoted_lexemes_never_tsquery_syntax():
    assert build_text_queries("cache & !x | y:*") == ["'cache' & 'x' & 'y'",
                                                       "'cache' | 'x' | 'y'"]
    assert build_text_queries("datab*") == ["'datab':*"]
    assert build_text_queries("  ?? ") == []
    with pytest.raises(UsageError, match="too short"):
        build_text_queries("ab*")
    with pytest.raises(UsageError, match="at most 32"):
        build_text_queries(" ".join(["w"] * 33))


def test_hostile_text_is_searched_not_run(backend, sql):
    memory = put(backend, sql, "quotes ' and backslashes \\ are text")
    for text in ("'); DROP TABLE memories; --", "a'b:* & !", "\\ ' \" :*"):
        backend.recall(make_recall_query(text))
    assert ids(backend.recall(make_recall_query("backslashes"))) == [memory.id]


def test_relevance_importance_and_recency_combine(backend, sql):
    for index in range(30):
        put(backend, sql, f"filler note number {index} about nothing in particular")
    low = put(backend, sql, "the deploy pipeline uses blue green switching", importance=2)
    high = put(backend, sql, "the deploy pipeline uses blue green switching", importance=9)
    old = put(backend, sql, "the deploy pipeline uses blue green switching", importance=9,
              updated_at="2020-01-01T00:00:00.000000Z")
    hits = backend.recall(make_recall_query("deploy pipeline"))
    assert ids(hits) == [high.id, old.id, low.id]
    assert hits[0].score > hits[1].score > hits[2].score > 0


def test_tags_weigh_more_than_content_and_content_more_than_summary(backend, sql):
    in_summary = put(backend, sql, "one thing", summary="kubernetes")
    in_content = put(backend, sql, "kubernetes thing")
    in_tags = put(backend, sql, "another thing", tags="kubernetes")
    hits = backend.recall(make_recall_query("kubernetes"), count_access=False)
    assert ids(hits) == [in_tags.id, in_content.id, in_summary.id]


def test_filters_apply_before_the_limit(backend, sql):
    for index in range(20):
        put(backend, sql, f"retry loop detail {index}", importance=9, namespace="global")
    wanted = put(backend, sql, "retry loop detail in the app", importance=3,
                 namespace="project:app", tags="net,db", memory_type="bug_fix")
    query = make_recall_query("retry", namespace="project:app", limit=1)
    assert ids(backend.recall(query)) == [wanted.id]
    assert ids(backend.recall(make_recall_query("retry", tags="db", limit=1))) == [wanted.id]
    assert ids(backend.recall(make_recall_query("retry", memory_types="bug", limit=1))) \
        == [wanted.id]
    assert backend.recall(make_recall_query("retry", namespace="project:app",
                                            min_importance=4)) == []
    assert backend.recall(make_recall_query("retry", namespace="project:other")) == []


def test_empty_query_gives_most_important_then_most_recent(backend, sql):
    a = put(backend, sql, "a", importance=5)
    b = put(backend, sql, "b", importance=8)
    c = put(backend, sql, "c", importance=5)
    assert ids(backend.recall(make_recall_query(""))) == [b.id, c.id, a.id]


def test_prefix_and_or_fallback(backend, sql):
    db = put(backend, sql, "database migrations are versioned")
    other = put(backend, sql, "the cache warms lazily")
    assert ids(backend.recall(make_recall_query("datab*"))) == [db.id]
    assert set(ids(backend.recall(make_recall_query("database cache")))) == {db.id, other.id}
    assert backend.recall(make_recall_query("zebra")) == []


def test_stemming_matches_word_forms(backend, sql):
    memory = put(backend, sql, "caching strategies for builds")
    assert ids(backend.recall(make_recall_query("cached"))) == [memory.id]


def test_archived_and_superseded_are_not_recalled(backend, sql):
    put(backend, sql, "obsolete advice", archived=True)
    old = put(backend, sql, "obsolete advice two")
    new = put(backend, sql, "better advice")
    backend.link(new.id, old.id, "supersedes")
    assert backend.recall(make_recall_query("obsolete")) == []


def test_recall_counts_accesses(backend, sql):
    memory = put(backend, sql, "counted thing")
    first = backend.recall(make_recall_query("counted"))
    assert first[0].memory.access_count == 1
    assert first[0].memory.last_accessed_at is not None
    backend.recall(make_recall_query("counted"))
    assert backend.get(memory.id).access_count == 2
    backend.recall(make_recall_query("counted"), count_access=False)
    assert backend.get(memory.id).access_count == 2


def test_over_the_cap_only_the_most_recent_matches_are_ranked(backend, sql, monkeypatch):
    monkeypatch.setattr(recall_module, "CANDIDATE_CAP", 4)
    old_important = put(backend, sql, "signal handling note", importance=10)
    for index in range(20):
        put(backend, sql, f"filler {index}")
    recent = [put(backend, sql, f"signal handling detail {index}", importance=2)
              for index in range(4)]
    hits = backend.recall(make_recall_query("signal", limit=10), count_access=False)
    assert set(ids(hits)) == {memory.id for memory in recent}
    assert old_important.id not in ids(hits)


def test_filters_apply_before_the_cap(backend, sql, monkeypatch):
    monkeypatch.setattr(recall_module, "CANDIDATE_CAP", 3)
    wanted = put(backend, sql, "queue latency", namespace="project:q")
    for index in range(10):
        put(backend, sql, f"queue latency {index}")
    hits = backend.recall(make_recall_query("queue", namespace="project:q"),
                          count_access=False)
    assert ids(hits) == [wanted.id]
