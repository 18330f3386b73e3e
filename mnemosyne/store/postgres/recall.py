"""Recall on PostgreSQL: full-text search ranked by relevance, importance and recency.

The same ranking and rules as the SQLite store (mnemosyne/store/sqlite/recall.py): score =
relevance * (0.5 + importance/10) * (0.5 + 0.5 / (1 + age_days/30)); relevance is
`ts_rank` over the `search` column (English stemming; tags weigh 2, content 1, summary 0.5);
all words must match, and if none match that way any word may; `word*` is a prefix search
(`:*`, 3 characters or more); the same filters apply before the limit; an empty query returns
the most important, then most recently stored memories. Only the most recently stored
CANDIDATE_CAP matches are ranked, which keeps a common word as fast as a rare one.
Differences from FTS5: English stop words ("the", "and") are not searchable, and a prefix is
stemmed like a word.
Must not: write anything (the backend counts the accesses).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from mnemosyne.store.model import MEMORY_COLUMNS
from mnemosyne.store.postgres.rows import memory_from_row
from mnemosyne.store.query import (
    CANDIDATE_CAP,
    RECENCY_HALF_LIFE_DAYS,
    TERM_RE,
    RecallHit,
    RecallQuery,
    build_match_expressions,
)

# ts_rank's weights are {D, C, B, A}: summary (C) 0.5, content (B) 1, tags (A) 2, halved.
RANK_WEIGHTS = "{0.0, 0.25, 0.5, 1.0}"
IMPORTANCE_WEIGHT = "(0.5 + m.importance / 10.0)"
RECENCY_WEIGHT = (f"(0.5 + 0.5 / (1.0 + greatest(0.0, date_part('epoch', now() - "
                  f"m.updated_at::timestamptz) / 86400.0) / {RECENCY_HALF_LIFE_DAYS}))")


def build_text_queries(text: str) -> list[str]:
    """Return `to_tsquery` texts to try in order: all terms, then any term.

    Raises UsageError for the same queries as the SQLite store (too many terms, short prefix).
    """
    if not build_match_expressions(text):
        return []
    lexemes = [f"'{term[:-1]}':*" if term.endswith("*") else f"'{term}'"
               for term in TERM_RE.findall(text)]
    queries = [" & ".join(lexemes)]
    if len(lexemes) > 1:
        queries.append(" | ".join(lexemes))
    return queries


def filter_sql(query: RecallQuery) -> tuple[str, dict[str, Any]]:
    """Return the WHERE clause of *query*'s filters and its parameters."""
    clauses = ["NOT m.archived", "m.superseded_by IS NULL"]
    parameters: dict[str, Any] = {}
    if query.namespace is not None:
        clauses.append("m.namespace = %(namespace)s")
        parameters["namespace"] = query.namespace
    if query.memory_types:
        clauses.append("m.memory_type = ANY(%(types)s)")
        parameters["types"] = list(query.memory_types)
    if query.tags:
        clauses.append("m.tags @> %(tags)s")
        parameters["tags"] = Jsonb(list(query.tags))
    if query.min_importance is not None:
        clauses.append("m.importance >= %(min_importance)s")
        parameters["min_importance"] = query.min_importance
    return " AND ".join(clauses), parameters


def _prefixed_columns(alias: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in MEMORY_COLUMNS.split(","))


def search(connection: psycopg.Connection, query: RecallQuery) -> list[RecallHit]:
    """Return the hits for *query*, best first; each statement reads one snapshot."""
    where, parameters = filter_sql(query)
    parameters["limit"] = query.limit
    text_queries = build_text_queries(query.text) if query.text else []
    if not text_queries:
        rows = connection.execute(
            f"SELECT (m.importance / 10.0) * {RECENCY_WEIGHT}, {_prefixed_columns('m')} "
            f"FROM memories m WHERE {where} ORDER BY m.importance DESC, m.seq DESC "
            f"LIMIT %(limit)s", parameters).fetchall()
        return [RecallHit(memory_from_row(row[1:]), float(row[0])) for row in rows]
    rows = []
    for text_query in text_queries:
        parameters["query"] = text_query
        rows = connection.execute(
            f"SELECT candidates.score, {_prefixed_columns('hit')} FROM ("
            f"SELECT m.seq, ts_rank('{RANK_WEIGHTS}', m.search, "
            f"to_tsquery('english', %(query)s))::float8 * {IMPORTANCE_WEIGHT} "
            f"* {RECENCY_WEIGHT} AS score FROM memories m "
            f"WHERE m.search @@ to_tsquery('english', %(query)s) AND {where} "
            f"ORDER BY m.seq DESC LIMIT {CANDIDATE_CAP}) AS candidates "
            f"JOIN memories hit ON hit.seq = candidates.seq "
            f"ORDER BY candidates.score DESC, candidates.seq DESC LIMIT %(limit)s",
            parameters).fetchall()
        if rows:
            break
    return [RecallHit(memory_from_row(row[1:]), float(row[0])) for row in rows]
