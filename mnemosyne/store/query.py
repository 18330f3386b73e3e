"""What a recall asks for and what it answers, whichever engine ranks it.

`make_recall_query` validates raw filter values into a `RecallQuery`; `build_match_expressions`
turns the user's words into the expressions to try in order (all words, then any word; `word*`
is a prefix of 3 characters or more, at most 32 words); a `RecallHit` is one memory found with
its score. The ranking itself is each engine's (sqlite/recall.py, postgres/recall.py), with the
same documented formula: relevance * (0.5 + importance/10) * (0.5 + 0.5 / (1 + age_days/30)).
Must not: touch a database.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from mnemosyne.errors import UsageError
from mnemosyne.store import model
from mnemosyne.store.model import Memory

TERM_RE = re.compile(r"\w+\*?")
MAX_QUERY_TERMS = 32
MIN_PREFIX = 3  # the FTS5 prefix index covers 3 and 4 characters
MAX_LIMIT = 1000
CANDIDATE_CAP = 500
RECENCY_HALF_LIFE_DAYS = 30.0


@dataclasses.dataclass(frozen=True)
class RecallQuery:
    """What to look for, already validated (build it with `make_recall_query`)."""

    text: str = ""
    namespace: str | None = None
    memory_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    min_importance: int | None = None
    limit: int = 10


@dataclasses.dataclass(frozen=True)
class RecallHit:
    """One memory found, with the score it was ranked by."""

    memory: Memory
    score: float

    def to_dict(self) -> dict[str, Any]:
        """Return the memory's JSON form with its score added."""
        return {**self.memory.to_dict(), "score": round(self.score, 6)}


def make_recall_query(text: str = "", *, namespace: str | None = None,
                      memory_types: str | Iterable[str] | None = None,
                      tags: str | Iterable[str] | None = None,
                      min_importance: int | str | None = None, limit: int | str = 10,
                      ) -> RecallQuery:
    """Validate raw filter values into a RecallQuery. Raises UsageError for any bad value."""
    if isinstance(memory_types, str):
        memory_types = memory_types.split(",")
    types = tuple(dict.fromkeys(model.validate_memory_type(item)
                                for item in (memory_types or ()) if str(item).strip()))
    try:
        limit_value = int(limit)
    except (TypeError, ValueError):
        raise UsageError(f"limit must be a whole number from 1 to {MAX_LIMIT}, "
                         f"not {limit!r}") from None
    if not 1 <= limit_value <= MAX_LIMIT:
        raise UsageError(f"limit {limit_value} is out of range: use 1 to {MAX_LIMIT}")
    return RecallQuery(
        text=str(text or "").strip(),
        namespace=None if namespace is None else model.validate_namespace(namespace),
        memory_types=types,
        tags=model.parse_tags(tags),
        min_importance=(None if min_importance is None
                        else model.validate_importance(min_importance)),
        limit=limit_value,
    )


def build_match_expressions(text: str) -> list[str]:
    """Return FTS5 MATCH expressions to try in order: all terms, then any term.

    Raises UsageError if the query has more than 32 terms or a prefix shorter than 3 characters
    (those match so many words that they cost more than they find).
    """
    terms = TERM_RE.findall(text)
    if len(terms) > MAX_QUERY_TERMS:
        raise UsageError(f"query has {len(terms)} words: at most {MAX_QUERY_TERMS} are allowed")
    short = [term for term in terms if term.endswith("*") and len(term) - 1 < MIN_PREFIX]
    if short:
        raise UsageError(f"prefix search {short[0]!r} is too short: give at least {MIN_PREFIX} "
                         "characters before '*'")
    quoted = [f'"{term[:-1]}"*' if term.endswith("*") else f'"{term}"' for term in terms]
    if not quoted:
        return []
    expressions = [" ".join(quoted)]
    if len(quoted) > 1:
        expressions.append(" OR ".join(quoted))
    return expressions
