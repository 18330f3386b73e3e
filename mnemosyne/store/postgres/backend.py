"""The PostgreSQL store: every MemoryBackend operation on a PostgreSQL server.

Behaves as the SQLite store (mnemosyne/store/sqlite/backend.py, recall.py, transfer.py, changes.py):
the same validation before any statement, strict namespaces, id prefixes, links and
supersession, access counts, the export bytes and the change events. Writes are retried by
connection.py, so each one here is idempotent: a memory is inserted by its id with ON CONFLICT
DO NOTHING and, when the id is already there, compared with what was meant (a retry after a
commit whose answer was lost), never stored twice.
Must not: import from cli/, daemon/ or api/; build its own SQL for ranking (recall.py) or
read and write files (transfer.py).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from typing import IO, Any

import psycopg
from psycopg.types.json import Jsonb

from mnemosyne.errors import MnemosyneError, NotFoundError
from mnemosyne.store import model
from mnemosyne.store.backend import DatabaseHealth
from mnemosyne.store.model import MEMORY_COLUMNS, Link, Memory
from mnemosyne.store.postgres import recall as recall_sql
from mnemosyne.store.postgres import transfer
from mnemosyne.store.postgres.changes import PostgresChangeFeed
from mnemosyne.store.postgres.connection import Connections
from mnemosyne.store.postgres.migrations import apply_pending_migrations
from mnemosyne.store.postgres.rows import (
    PLACEHOLDERS,
    memory_from_row,
    memory_parameters,
    reject_nul,
)
from mnemosyne.store.query import RecallHit, RecallQuery
from mnemosyne.store.records import ImportReport

logger = logging.getLogger(__name__)

SAME_MEMORY_FIELDS = ("id", "namespace", "content", "summary", "memory_type", "importance",
                      "tags", "created_at")


class PostgresBackend:
    """The memory operations every front end calls, on one PostgreSQL database."""

    def __init__(self, connections: Connections, max_content_bytes: int = 65536) -> None:
        self.connections = connections
        self.max_content_bytes = max_content_bytes
        self.display_url = connections.display_url

    def __enter__(self) -> PostgresBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def migrate(self) -> list[int]:
        """Bring the schema up to date; return the versions this call applied.

        Raises UnavailableError if the schema is newer than this program's.
        """
        return self.connections.write(
            lambda connection, _attempt: apply_pending_migrations(connection,
                                                                  self.display_url),
            notify=False)

    def close(self) -> None:
        """Close every connection."""
        self.connections.close()

    def remember(self, content: str, *, namespace: str = "global",
                 importance: int | str = model.DEFAULT_IMPORTANCE,
                 tags: str | Iterable[str] | None = None,
                 memory_type: str = model.DEFAULT_MEMORY_TYPE,
                 summary: str | None = None) -> Memory:
        """Validate and store one new memory; return it once committed.

        Raises UsageError for invalid input (nothing is written), UnavailableError if the
        server cannot take it before the write deadline.
        """
        memory = model.new_memory(content, namespace=namespace, importance=importance,
                                  tags=tags, memory_type=memory_type, summary=summary,
                                  max_content_bytes=self.max_content_bytes)
        reject_nul([memory.summary, memory.tags])

        def insert(connection: psycopg.Connection, _attempt: int) -> None:
            inserted = connection.execute(
                f"INSERT INTO memories ({MEMORY_COLUMNS}) VALUES ({PLACEHOLDERS}) "
                "ON CONFLICT (id) DO NOTHING RETURNING seq", memory_parameters(memory)).fetchone()
            if inserted is None:
                self._check_same(connection, memory)

        self.connections.write(insert, transaction=False)
        return memory

    @staticmethod
    def _check_same(connection: psycopg.Connection, memory: Memory) -> None:
        """Accept an id already stored only if it is *memory* (an earlier attempt committed).

        Raises MnemosyneError otherwise.
        """
        row = connection.execute(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id = %s",
                                 (memory.id,)).fetchone()
        stored = None if row is None else memory_from_row(row)
        if stored is None or any(getattr(stored, field) != getattr(memory, field)
                                 for field in SAME_MEMORY_FIELDS):
            raise MnemosyneError(f"memory id {memory.id} is already used by another memory")

    def resolve_id(self, id_or_prefix: str) -> str:
        """Return the full id of the one memory whose id is or starts with *id_or_prefix*.

        Raises UsageError if the prefix is too short or ambiguous, NotFoundError if none match.
        """
        low, high = model.id_prefix_range(id_or_prefix)
        rows = self.connections.read(lambda connection: connection.execute(
            "SELECT id FROM memories WHERE id >= %s AND id < %s ORDER BY id LIMIT 2",
            (low, high)).fetchall())
        return model.the_one_id([row[0] for row in rows], id_or_prefix)

    def _read_memory(self, memory_id: str) -> Memory | None:
        row = self.connections.read(lambda connection: connection.execute(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id = %s", (memory_id,)).fetchone())
        return None if row is None else memory_from_row(row)

    def get(self, id_or_prefix: str) -> Memory:
        """Return one memory by id or unique id prefix. Raises NotFoundError or UsageError."""
        memory = self._read_memory(self.resolve_id(id_or_prefix))
        if memory is None:
            raise NotFoundError(f"no memory with id {id_or_prefix}")
        return memory

    def links_of(self, memory_id: str) -> list[Link]:
        """Return the links that start or end at *memory_id*."""
        rows = self.connections.read(lambda connection: connection.execute(
            "SELECT source_id, target_id, link_type, strength, created_at FROM memory_links "
            "WHERE source_id = %s OR target_id = %s ORDER BY created_at",
            (memory_id, memory_id)).fetchall())
        return [Link(*row) for row in rows]

    def list(self, namespace: str | None = None, limit: int | None = None,
             include_archived: bool = False) -> list[Memory]:
        """Return memories most recently stored first, optionally of one namespace, up to *limit*.

        Raises UsageError for an invalid namespace or limit.
        """
        clauses: list[str] = []
        parameters: list[Any] = []
        if namespace is not None:
            clauses.append("namespace = %s")
            parameters.append(model.validate_namespace(namespace))
        if not include_archived:
            clauses.append("NOT archived")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        most = model.validate_list_limit(limit)
        limit_sql = f"LIMIT {most}" if most else ""
        rows = self.connections.read(lambda connection: connection.execute(
            f"SELECT {MEMORY_COLUMNS} FROM memories {where} ORDER BY seq DESC {limit_sql}",
            parameters).fetchall())
        return [memory_from_row(row) for row in rows]

    def count(self, namespace: str | None = None) -> int:
        """Return how many memories there are (in *namespace*, if given)."""
        if namespace is None:
            sql, parameters = "SELECT count(*) FROM memories", ()
        else:
            sql = "SELECT count(*) FROM memories WHERE namespace = %s"
            parameters = (model.validate_namespace(namespace),)
        return int(self.connections.read(lambda connection: connection.execute(
            sql, parameters).fetchone()[0]))

    def update(self, id_or_prefix: str, *, content: str | None = None,
               summary: str | None = None, importance: int | str | None = None,
               tags: str | Iterable[str] | None = None, memory_type: str | None = None,
               archived: bool | None = None) -> Memory:
        """Change the given fields of one memory in one write transaction; return it updated.

        None leaves a field as it is; `archived` True archives, False unarchives. The change
        time (`updated_at`) is set only when some value really changes.
        Raises UsageError for invalid input or when nothing is given (nothing is written),
        NotFoundError if the memory does not exist (or was deleted meanwhile).
        """
        changes = model.validate_changes(
            content=content, summary=summary, importance=importance, tags=tags,
            memory_type=memory_type, archived=archived, max_content_bytes=self.max_content_bytes)
        reject_nul(changes.values())
        memory_id = self.resolve_id(id_or_prefix)

        def change(connection: psycopg.Connection, _attempt: int) -> Memory:
            row = connection.execute(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id = %s "
                                     "FOR UPDATE", (memory_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no memory with id {id_or_prefix}")
            current = memory_from_row(row)
            differing = {column: value for column, value in changes.items()
                         if getattr(current, column) != value}
            if differing:
                values = [Jsonb(list(value)) if column == "tags" else value
                          for column, value in differing.items()]
                assignments = ", ".join(f"{column} = %s" for column in differing)
                row = connection.execute(
                    f"UPDATE memories SET {assignments}, updated_at = %s WHERE id = %s "
                    f"RETURNING {MEMORY_COLUMNS}",
                    (*values, model.utc_now(), memory_id)).fetchone()
            return memory_from_row(row)

        return self.connections.write(change)

    def forget(self, id_or_prefix: str) -> Memory:
        """Delete one memory (and its links); return what was deleted.

        Raises NotFoundError if it does not exist (or was deleted meanwhile).
        """
        memory = self.get(id_or_prefix)

        def delete(connection: psycopg.Connection, attempt: int) -> bool:
            deleted = connection.execute("DELETE FROM memories WHERE id = %s RETURNING id",
                                         (memory.id,)).fetchone()
            # On a retry, the first attempt may have committed before its answer was lost.
            return deleted is not None or attempt > 0

        if not self.connections.write(delete):
            raise NotFoundError(f"no memory with id {id_or_prefix}")
        return memory

    def link(self, source: str, target: str, link_type: str, strength: float = 1.0) -> Link:
        """Link two existing memories; `A supersedes B` also marks B as superseded by A.

        Raises UsageError for a bad type, strength or a self-link; NotFoundError for a missing id.
        """
        link_type, strength = model.validate_link_fields(link_type, strength)  # before lookups
        link = model.new_link(self.resolve_id(source), self.resolve_id(target), link_type,
                              strength)

        def store(connection: psycopg.Connection, _attempt: int) -> None:
            found = connection.execute(
                "SELECT id FROM memories WHERE id IN (%s, %s) FOR SHARE",
                (link.source_id, link.target_id)).fetchall()
            if len(found) != 2:
                raise NotFoundError("a linked memory was deleted meanwhile")
            connection.execute(
                "INSERT INTO memory_links (source_id, target_id, link_type, strength, "
                "created_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT "
                "(source_id, target_id, link_type) DO UPDATE SET strength = excluded.strength",
                (link.source_id, link.target_id, link.link_type, link.strength,
                 link.created_at))
            if link.link_type == "supersedes":
                connection.execute("UPDATE memories SET superseded_by = %s WHERE id = %s",
                                   (link.source_id, link.target_id))

        self.connections.write(store, notify=False)
        return link

    def mark_accessed(self, memory_ids: Sequence[str], when: str) -> None:
        """Count one access for each of *memory_ids* at *when*, in one short write."""
        if not memory_ids:
            return
        # One statement, committed without waiting for the WAL flush (set_config(..., true)
        # lasts until this statement's own commit): a count is not worth an fsync per recall,
        # and a crash loses at most the last fraction of a second of counts.
        self.connections.write(lambda connection, _attempt: connection.execute(
            "UPDATE memories SET access_count = access_count + 1, last_accessed_at = %s "
            "FROM (SELECT set_config('synchronous_commit', 'off', true)) AS asynchronous "
            "WHERE id = ANY(%s)", (when, sorted(memory_ids))), notify=False, transaction=False)

    def recall(self, query: RecallQuery, count_access: bool = True) -> list[RecallHit]:
        """Return the best memories for *query*, best first, counting one access for each.

        A failure to record the accesses is logged, not raised.
        Raises UsageError for a bad query, UnavailableError if the server fails.
        """
        if query.text:
            recall_sql.build_text_queries(query.text)  # refuse a bad query before connecting

        hits = self.connections.read(lambda connection: recall_sql.search(connection, query))
        if not (count_access and hits):
            return hits
        when = model.utc_now()
        try:
            self.mark_accessed([hit.memory.id for hit in hits], when)
        except MnemosyneError as error:
            logger.warning("recall could not record access counts: %s", error)
            return hits
        return [RecallHit(dataclasses.replace(hit.memory,
                                              access_count=hit.memory.access_count + 1,
                                              last_accessed_at=when), hit.score)
                for hit in hits]

    def export(self, output: IO[str], namespace: str | None = None) -> int:
        """Write every memory (of *namespace*) as JSON Lines; return how many were written.

        The bytes are the SQLite store's for the same data. Raises UsageError for an invalid
        namespace, UnavailableError if the server fails.
        """
        return transfer.export_memories(self.connections, output, namespace)

    def import_lines(self, lines: Iterable[str], replace: bool = False,
                     continue_on_error: bool = False) -> ImportReport:
        """Import JSON Lines *lines*, idempotent by id; return what was done.

        Raises UsageError naming the first bad line unless *continue_on_error*.
        """
        return transfer.import_memories(self.connections, lines, self.max_content_bytes,
                                        replace, continue_on_error)

    def change_feed(self) -> PostgresChangeFeed:
        """Return a new change feed starting at the journal's end; the caller closes it.

        Raises UnavailableError if the server cannot be reached.
        """
        return PostgresChangeFeed(self.connections)

    def health(self) -> DatabaseHealth:
        """Return whether the server answers a query now; answers within about 1 s."""
        ok, detail = self.connections.probe()
        return DatabaseHealth(ok, detail, False, self.connections.oldest_write_s())

