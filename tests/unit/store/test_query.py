"""What a recall asks for: validation of filters and the words turned into search expressions."""

import pytest

from mnemosyne.errors import UsageError
from mnemosyne.store.model import new_memory
from mnemosyne.store.query import RecallHit, build_match_expressions, make_recall_query


def test_user_text_is_quoted_never_fts_syntax():
    assert build_match_expressions('cache "NEAR( x- OR') == [
        '"cache" "NEAR" "x" "OR"', '"cache" OR "NEAR" OR "x" OR "OR"']
    assert build_match_expressions("datab*") == ['"datab"*']
    assert build_match_expressions("  ?? ") == []
    with pytest.raises(UsageError, match="too short"):
        build_match_expressions("ab*")
    with pytest.raises(UsageError, match="at most 32"):
        build_match_expressions(" ".join(["w"] * 33))


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1001}, {"limit": "ten"},
                                    {"namespace": "bad ns"}, {"min_importance": 0},
                                    {"memory_types": "nonsense"}, {"tags": "a b"}])
def test_invalid_filters(kwargs):
    with pytest.raises(UsageError):
        make_recall_query("x", **kwargs)


def test_a_valid_query_is_normalised():
    query = make_recall_query("  cache  ", namespace="project:x", memory_types="bug,fix",
                              tags="a,b", min_importance="7", limit="3")
    assert (query.text, query.namespace, query.memory_types, query.tags,
            query.min_importance, query.limit) == ("cache", "project:x", ("bug_fix",),
                                                   ("a", "b"), 7, 3)


def test_a_hit_is_the_memory_with_its_score():
    memory = new_memory("found", namespace="global", importance=5, tags=None, memory_type="note",
                        summary=None, max_content_bytes=65536)
    assert RecallHit(memory, 1.23456789).to_dict() == {**memory.to_dict(), "score": 1.234568}
