"""Find the memories that best answer a query: full-text relevance, importance and recency.

score = relevance * (0.5 + importance/10) * (0.5 + 0.5 / (1 + age_days/30)), where relevance is
FTS5's bm25 (content 1, summary 0.5, tags 2). User text never reaches FTS5 syntax directly:
words are quoted, `word*` is a prefix search (3 characters or more), all words must match;
if none match that way, any word may. Filters (namespace, types, tags, minimum importance)
apply before the limit.
An empty query returns the most important, then most recently stored memories. When more than
CANDIDATE_CAP memories match (a common word), only the most recently stored CANDIDATE_CAP of
them that pass the filters are ranked, and words found in most memories rank by importance and
recency alone (see `_rank_expression`): this keeps every query to a few milliseconds.
Equal scores rank the most recently stored memory first.
Must not: write anything except the access counts of the memories it returns.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import apsw

from mnemosyne.errors import MnemosyneError
from mnemosyne.store import model
from mnemosyne.store.model import MEMORY_COLUMNS
from mnemosyne.store.query import (
    CANDIDATE_CAP,
    RECENCY_HALF_LIFE_DAYS,
    RecallHit,
    RecallQuery,
    build_match_expressions,
)
from mnemosyne.store.sqlite.backend import SqliteBackend, memory_from_row

logger = logging.getLogger(__name__)

IMPORTANCE_WEIGHT = "(0.5 + m.importance / 10.0)"
RECENCY_WEIGHT = (f"(0.5 + 0.5 / (1.0 + max(0.0, :now - julianday(m.updated_at)) "
                  f"/ {RECENCY_HALF_LIFE_DAYS}))")
RELEVANCE = "(-bm25(memories_fts, 1.0, 0.5, 2.0))"


UNFILTERED = "m.archived = 0 AND m.superseded_by IS NULL"  # what every recall leaves out


def _filter_sql(query: RecallQuery) -> tuple[str, dict[str, Any]]:
    clauses = [UNFILTERED]
    parameters: dict[str, Any] = {}
    if query.namespace is not None:
        clauses.append("m.namespace = :namespace")
        parameters["namespace"] = query.namespace
    if query.memory_types:
        names = [f":type{index}" for index in range(len(query.memory_types))]
        clauses.append(f"m.memory_type IN ({', '.join(names)})")
        parameters.update({name[1:]: value for name, value in zip(names, query.memory_types,
                                                                   strict=True)})
    for index, tag in enumerate(query.tags):
        clauses.append(f"EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = :tag{index})")
        parameters[f"tag{index}"] = tag
    if query.min_importance is not None:
        clauses.append("m.importance >= :min_importance")
        parameters["min_importance"] = query.min_importance
    return " AND ".join(clauses), parameters


def _newest_matches(connection: apsw.Connection, match: str) -> list[int]:
    """Return the `seq` of the most recently stored CANDIDATE_CAP matches, newest first.

    One evaluation of the full-text query: for a common word or prefix (tens of thousands of
    matches) each evaluation costs milliseconds, so the rest of the ranking reuses this list.
    """
    return [row[0] for row in connection.execute(
        "SELECT rowid FROM memories_fts WHERE memories_fts MATCH :match "
        "ORDER BY rowid DESC LIMIT :cap", {"match": match, "cap": CANDIDATE_CAP})]


def _all_pass(connection: apsw.Connection, ids: str, count: int, where: str,
              parameters: dict[str, Any]) -> bool:
    """Return True if all *count* memories of the JSON list *ids* pass the filters."""
    return connection.execute(
        f"SELECT count(*) FROM memories m WHERE m.seq IN (SELECT value FROM json_each(:ids)) "
        f"AND {where}", {**parameters, "ids": ids}).fetchall()[0][0] == count


def _rank_by_importance(connection: apsw.Connection, ids: str, where: str,
                        parameters: dict[str, Any]) -> list[tuple[int, float]]:
    """Rank the memories of the JSON list *ids* by importance and recency, best first."""
    return connection.execute(
        f"SELECT m.seq, {IMPORTANCE_WEIGHT} * {RECENCY_WEIGHT} AS score FROM memories m "
        f"WHERE m.seq IN (SELECT value FROM json_each(:ids)) AND {where} "
        f"ORDER BY score DESC, m.seq DESC LIMIT :limit", {**parameters, "ids": ids}).fetchall()


def _newest_passing(connection: apsw.Connection, where: str,
                    parameters: dict[str, Any]) -> list[int]:
    """Return the `seq` of the most recent CANDIDATE_CAP matches passing the filters."""
    return [row[0] for row in connection.execute(
        f"SELECT m.seq FROM memories_fts CROSS JOIN memories m ON m.seq = memories_fts.rowid "
        f"WHERE memories_fts MATCH :match AND {where} "
        f"ORDER BY memories_fts.rowid DESC LIMIT :cap", {**parameters, "cap": CANDIDATE_CAP})]


def _rank_matches(connection: apsw.Connection, relevance: str, where: str,
                  parameters: dict[str, Any]) -> list[tuple[int, float]]:
    """Rank the matches from `seq` :floor up that pass the filters, best first."""
    return connection.execute(
        f"SELECT m.seq, {relevance} * {IMPORTANCE_WEIGHT} * {RECENCY_WEIGHT} AS score "
        f"FROM memories_fts CROSS JOIN memories m ON m.seq = memories_fts.rowid "
        f"WHERE memories_fts MATCH :match AND memories_fts.rowid >= :floor AND {where} "
        f"ORDER BY score DESC, m.seq DESC LIMIT :limit", parameters).fetchall()


def _rank_expression(connection: apsw.Connection, where: str,
                     parameters: dict[str, Any]) -> list[tuple[int, float]]:
    """Return (seq, score) of the best matches of parameters["match"], best first.

    At most CANDIDATE_CAP matches: all of them, with bm25. More: only the most recently stored
    CANDIDATE_CAP matches that pass the filters (bm25 over every match of a common word costs
    ~1 µs a memory). When the newest CANDIDATE_CAP matches all pass the filters (no filter, or
    one they all meet), they are those candidates and no further search finds them. If more
    than half of the latest CANDIDATE_CAP memories match, the words do not discriminate (FTS5's
    bm25 gives a word found in over half of all rows no weight): the candidates rank by
    importance and recency alone, and the costly bm25 statistics pass is skipped.
    """
    newest = _newest_matches(connection, parameters["match"])
    if len(newest) < CANDIDATE_CAP:
        parameters["floor"] = 0
        return _rank_matches(connection, RELEVANCE, where, parameters)
    latest = connection.execute("SELECT coalesce(max(seq), 0) FROM memories").fetchall()[0][0]
    recent_matches = sum(1 for seq in newest if seq > latest - CANDIDATE_CAP)
    candidates, ids = newest, json.dumps(newest)
    # With a filter (a namespace, say) most of `newest` fail it: search the passing ones at once.
    if where != UNFILTERED or not _all_pass(connection, ids, len(newest), where, parameters):
        candidates = _newest_passing(connection, where, parameters)
        ids = json.dumps(candidates)
    if recent_matches * 2 > CANDIDATE_CAP:
        return _rank_by_importance(connection, ids, where, parameters)
    parameters["floor"] = candidates[-1] if len(candidates) == CANDIDATE_CAP else 0
    return _rank_matches(connection, RELEVANCE, where, parameters)


def _search(connection: apsw.Connection, query: RecallQuery) -> list[tuple[int, float]]:
    """Return (seq, score) of the best memories, best first."""
    where, parameters = _filter_sql(query)
    parameters["limit"] = query.limit
    parameters["now"] = connection.execute("SELECT julianday('now')").fetchall()[0][0]
    if not query.text or not (expressions := build_match_expressions(query.text)):
        return connection.execute(
            f"SELECT m.seq, (m.importance / 10.0) * {RECENCY_WEIGHT} FROM memories m "
            f"WHERE {where} ORDER BY m.importance DESC, m.seq DESC LIMIT :limit",
            parameters).fetchall()
    ranked: list[tuple[int, float]] = []
    for expression in expressions:
        parameters["match"] = expression
        ranked = _rank_expression(connection, where, parameters)
        if ranked:
            break
    return ranked


def _fetch_hits(connection: apsw.Connection, ranked: list[tuple[int, float]]) -> list[RecallHit]:
    """Load the full memories for ranked (seq, score) pairs, keeping their order."""
    if not ranked:
        return []
    marks = ",".join("?" * len(ranked))
    rows = connection.execute(f"SELECT seq, {MEMORY_COLUMNS} FROM memories WHERE seq IN ({marks})",
                              [seq for seq, _ in ranked]).fetchall()
    by_seq = {row[0]: memory_from_row(row[1:]) for row in rows}
    return [RecallHit(by_seq[seq], float(score)) for seq, score in ranked if seq in by_seq]


def recall(store: SqliteBackend, query: RecallQuery, count_access: bool = True) -> list[RecallHit]:
    """Return the best memories for *query*, best first, counting one access for each.

    A failure to record the accesses (a read-only database) is logged, not raised.
    """
    def search(connection: apsw.Connection) -> list[RecallHit]:
        # One read transaction: the ranking and the rows it names come from one snapshot.
        connection.execute("BEGIN")
        try:
            return _fetch_hits(connection, _search(connection, query))
        finally:
            connection.execute("COMMIT")

    hits = store.database.read(search)
    if not (count_access and hits):
        return hits
    when = model.utc_now()
    try:
        store.mark_accessed([hit.memory.id for hit in hits], when)
    except MnemosyneError as error:
        logger.warning("recall could not record access counts: %s", error)
        return hits
    return [RecallHit(dataclasses.replace(hit.memory, access_count=hit.memory.access_count + 1,
                                          last_accessed_at=when), hit.score) for hit in hits]
