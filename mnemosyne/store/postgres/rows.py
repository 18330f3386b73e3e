"""Memories as PostgreSQL rows: the column list, row to Memory, Memory to parameters.

The columns are the model's (`model.MEMORY_COLUMNS`, in SQLite's order); tags are a jsonb
array and `archived` a boolean. PostgreSQL text cannot hold NUL characters, so they are
refused here as invalid input before any statement runs.
Must not: run statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from psycopg.types.json import Jsonb

from mnemosyne.errors import UsageError
from mnemosyne.store.model import MEMORY_COLUMNS, Memory

COLUMNS = tuple(MEMORY_COLUMNS.replace(" ", "").split(","))
PLACEHOLDERS = ", ".join(["%s"] * len(COLUMNS))


def memory_from_row(row: Sequence[Any]) -> Memory:
    """Build a Memory from a row selected with MEMORY_COLUMNS (in that order)."""
    (memory_id, namespace, content, summary, memory_type, importance, tags, created_at,
     updated_at, access_count, last_accessed_at, archived, superseded_by) = row[:13]
    return Memory(memory_id, namespace, content, summary, memory_type, int(importance),
                  tuple(tags), created_at, updated_at, int(access_count), last_accessed_at,
                  bool(archived), superseded_by)


def memory_parameters(memory: Memory) -> tuple[Any, ...]:
    """Return *memory* as parameters for MEMORY_COLUMNS placeholders."""
    return (memory.id, memory.namespace, memory.content, memory.summary, memory.memory_type,
            memory.importance, Jsonb(list(memory.tags)), memory.created_at, memory.updated_at,
            memory.access_count, memory.last_accessed_at, memory.archived,
            memory.superseded_by)


def reject_nul(values: Iterable[Any]) -> None:
    """Raise UsageError if any text among *values* (or inside a list of them) holds a NUL."""
    for value in values:
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if isinstance(item, str) and "\x00" in item:
                raise UsageError("text contains a NUL character, which PostgreSQL cannot store")
