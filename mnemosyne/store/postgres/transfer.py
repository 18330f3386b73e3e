"""Export and import on PostgreSQL: the same JSON Lines, byte for byte, as the SQLite store.

Export reads one REPEATABLE READ snapshot through a server-side cursor (constant memory) and
writes the records exactly as mnemosyne/store/sqlite/transfer.py does: ordered by creation, links by
(source, target, type) in byte order. Import validates everything first with the SQLite
store's record parser, then writes batches of BATCH_ROWS in one statement each; ids already
present are skipped (or replaced), so a retried batch or a re-run import writes nothing twice.
Must not: open files by name (the CLI passes streams).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import IO, Any

import psycopg
from psycopg.types.json import Jsonb

from mnemosyne.errors import UsageError
from mnemosyne.store import model
from mnemosyne.store.model import MEMORY_COLUMNS
from mnemosyne.store.postgres.connection import Connections
from mnemosyne.store.postgres.rows import COLUMNS, memory_from_row, reject_nul
from mnemosyne.store.records import (
    BATCH_ROWS,
    LINK_FIELDS_ORDER,
    ImportReport,
    Record,
    validate_records,
)

RECORD_TYPES = ("id text, namespace text, content text, summary text, memory_type text, "
                "importance integer, tags jsonb, created_at text, updated_at text, "
                "access_count bigint, last_accessed_at text, archived boolean")


def format_record(memory: model.Memory, links: list[dict[str, Any]]) -> str:
    """Return one export line (with its newline), exactly as the SQLite store writes it."""
    record = memory.to_dict()
    record["links"] = links
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def export_memories(connections: Connections, output: IO[str],
                    namespace: str | None = None) -> int:
    """Write every memory (of *namespace*, if given) to *output*; return how many.

    Raises UsageError for an invalid namespace, UnavailableError if the server fails.
    """
    where, parameters = "", ()
    if namespace is not None:
        where, parameters = "WHERE namespace = %s", (model.validate_namespace(namespace),)

    def read_all(connection: psycopg.Connection) -> int:
        with connection.transaction():
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            links: dict[str, list[dict[str, Any]]] = {}
            for source, *link in connection.execute(
                    "SELECT source_id, target_id, link_type, strength, created_at "
                    "FROM memory_links ORDER BY source_id, target_id, link_type"):
                links.setdefault(source, []).append(dict(zip(LINK_FIELDS_ORDER, link,
                                                             strict=True)))
            count = 0
            with connection.cursor(name="mnemosyne_export") as cursor:
                cursor.itersize = BATCH_ROWS
                cursor.execute(f"SELECT {MEMORY_COLUMNS} FROM memories {where} "
                               "ORDER BY created_at, seq", parameters)
                for row in cursor:
                    memory = memory_from_row(row)
                    output.write(format_record(memory, links.get(memory.id, [])))
                    count += 1
            return count

    return connections.read(read_all, retry=False)  # lines already written stay written


def existing_ids(connections: Connections, ids: Iterable[str]) -> set[str]:
    """Return those of *ids* that are stored."""
    wanted = list(ids)
    if not wanted:
        return set()
    return {row[0] for row in connections.read(lambda connection: connection.execute(
        "SELECT id FROM memories WHERE id = ANY(%s)", (wanted,)).fetchall())}


def _batch_writer(batch: list[Record],
                  replace: bool) -> Callable[[psycopg.Connection, int], list[Record]]:
    rows = [{"position": position, **dict(zip(COLUMNS, (
        record.memory.id, record.memory.namespace, record.memory.content,
        record.memory.summary, record.memory.memory_type, record.memory.importance,
        list(record.memory.tags), record.memory.created_at, record.memory.updated_at,
        record.memory.access_count, record.memory.last_accessed_at,
        record.memory.archived), strict=False))} for position, record in enumerate(batch)]
    # superseded_by is set once every memory of the import is there (write_references).
    updates = ", ".join(f"{column} = excluded.{column}" for column in COLUMNS[1:])
    conflict = f"DO UPDATE SET {updates}" if replace else "DO NOTHING"

    def work(connection: psycopg.Connection, _attempt: int) -> list[Record]:
        inserted = {row[0] for row in connection.execute(
            f"INSERT INTO memories ({MEMORY_COLUMNS}) "
            f"SELECT {', '.join(COLUMNS[:-1])}, NULL FROM jsonb_to_recordset(%s) "
            f"AS r({RECORD_TYPES}, position bigint) ORDER BY position "
            f"ON CONFLICT (id) {conflict} RETURNING id", (Jsonb(rows),)).fetchall()}
        return [record for record in batch if record.memory.id in inserted]

    return work


def import_memories(connections: Connections, lines: Iterable[str], max_content_bytes: int,
                    replace: bool = False, continue_on_error: bool = False) -> ImportReport:
    """Import JSON Lines *lines*; return what was done (as the SQLite store's import).

    Raises UsageError naming the first bad line unless *continue_on_error*.
    """
    report = ImportReport()
    records = validate_records(lines, report, max_content_bytes,
                               lambda ids: existing_ids(connections, ids),
                               lambda memory: reject_nul([memory.summary, memory.tags]))
    if report.rejected and not continue_on_error:
        line, reason = report.rejected[0]
        more = len(report.rejected) - 1
        suffix = f" (and {more} more bad line{'s' * (more > 1)})" if more else ""
        raise UsageError(f"line {line}: {reason}{suffix}; nothing was imported")
    if replace:
        report.replaced = len(existing_ids(connections,
                                           (record.memory.id for record in records)))
    written: list[Record] = []
    for start in range(0, len(records), BATCH_ROWS):
        written += connections.write(_batch_writer(records[start:start + BATCH_ROWS],
                                                   replace))
    report.imported = len(written) - report.replaced
    report.already_present = len(records) - len(written)

    def write_references(connection: psycopg.Connection, _attempt: int) -> int:
        links = [link for record in written for link in record.links]
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO memory_links (source_id, target_id, link_type, strength, "
                "created_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT "
                "(source_id, target_id, link_type) DO UPDATE SET strength = excluded.strength",
                [(link.source_id, link.target_id, link.link_type, link.strength,
                  link.created_at) for link in links])
            superseded = {link.target_id: link.source_id for link in links
                          if link.link_type == "supersedes"}
            # The records' own superseded_by wins over whatever the links implied.
            cursor.executemany(
                "UPDATE memories SET superseded_by = %s WHERE id = %s",
                [(record.memory.superseded_by, record.memory.id) for record in written
                 if record.memory.superseded_by or record.memory.id in superseded])
        return len(links)

    if any(record.links or record.memory.superseded_by for record in written):
        report.links = connections.write(write_references)
    return report
