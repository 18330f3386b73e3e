"""Store, fetch, list, update, forget and link memories in the shared database.

Validation happens before any transaction starts, so bad input never touches stored data.
Must not: rank search results (recall.py) or read and write files (transfer.py).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import apsw

from mnemosyne.errors import MnemosyneError, NotFoundError
from mnemosyne.store import model
from mnemosyne.store.access import AccessBatcher
from mnemosyne.store.backend import DatabaseHealth
from mnemosyne.store.model import MEMORY_COLUMNS, Link, Memory
from mnemosyne.store.sqlite.database import Database

if TYPE_CHECKING:
    from mnemosyne.store.query import RecallHit, RecallQuery
    from mnemosyne.store.records import ImportReport
    from mnemosyne.store.sqlite.changes import ChangeFeed
    from mnemosyne.store.sqlite.writehealth import WriteHealth



def memory_from_row(row: Sequence[Any]) -> Memory:
    """Build a Memory from a row selected with MEMORY_COLUMNS (in that order)."""
    (memory_id, namespace, content, summary, memory_type, importance, tags, created_at,
     updated_at, access_count, last_accessed_at, archived, superseded_by) = row[:13]
    return Memory(memory_id, namespace, content, summary, memory_type, importance,
                  () if tags == "[]" else tuple(json.loads(tags)), created_at, updated_at,
                  access_count, last_accessed_at, bool(archived), superseded_by)


REPLACE_ALL_COLUMNS = ", ".join(f"{column}=excluded.{column}"
                                for column in MEMORY_COLUMNS.replace(" ", "").split(",")[1:])


def memory_values(memory: Memory) -> tuple[Any, ...]:
    """Return *memory* as a row of MEMORY_COLUMNS values."""
    return (memory.id, memory.namespace, memory.content, memory.summary, memory.memory_type,
            memory.importance, json.dumps(list(memory.tags)), memory.created_at,
            memory.updated_at, memory.access_count, memory.last_accessed_at,
            int(memory.archived), memory.superseded_by)


def conflict_clause(replace: bool) -> str:
    """Return the upsert clause: keep the existing row, or overwrite it with *replace*."""
    return f"ON CONFLICT(id) DO UPDATE SET {REPLACE_ALL_COLUMNS}" if replace \
        else "ON CONFLICT(id) DO NOTHING"


def insert_memory(connection: apsw.Connection, memory: Memory, replace: bool = False) -> bool:
    """Insert *memory* inside the caller's transaction; return False if its id already exists.

    With *replace*, an existing memory with the same id is overwritten instead.
    """
    connection.execute(
        f"INSERT INTO memories ({MEMORY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) "
        f"{conflict_clause(replace)}", memory_values(memory))
    return connection.changes() > 0


def insert_link(connection: apsw.Connection, link: Link) -> None:
    """Insert or update *link* inside the caller's transaction (same triple: new strength)."""
    connection.execute(
        "INSERT INTO memory_links (source_id, target_id, link_type, strength, created_at) "
        "VALUES (?,?,?,?,?) ON CONFLICT(source_id, target_id, link_type) "
        "DO UPDATE SET strength=excluded.strength",
        (link.source_id, link.target_id, link.link_type, link.strength, link.created_at))
    if link.link_type == "supersedes":
        connection.execute("UPDATE memories SET superseded_by=? WHERE id=?",
                           (link.source_id, link.target_id))


class SqliteBackend:
    """The SQLite engine of MemoryBackend (store/backend.py): one database file."""

    def __init__(self, database: Database, max_content_bytes: int = 65536,
                 batch_access_counts: bool = False) -> None:
        """Operate on *database*.

        *batch_access_counts*: a long-running process writes recall's access counts in
        batches (store/access.py) instead of after each recall.
        """
        self.database = database
        self.max_content_bytes = max_content_bytes
        self.access_batcher = AccessBatcher(self.count_accesses) if batch_access_counts else None
        self._health_guard = threading.Lock()
        self._write_health: WriteHealth | None = None
        # Now: it remembers which file was opened, to tell if it is replaced later (if it
        # cannot look now, health() tries again and reports the problem).
        with contextlib.suppress(OSError):
            self._write_health = database.write_health()

    def __enter__(self) -> SqliteBackend:
        return self

    @property
    def path(self) -> Path:
        """The database file (SQLite only: for the doctor's file checks)."""
        return self.database.path

    @property
    def display_url(self) -> str:
        """The database as a URL (sqlite:///absolute/path), for logs and health."""
        return f"sqlite://{self.database.path.absolute()}"

    def recall(self, query: RecallQuery, count_access: bool = True) -> list[RecallHit]:
        """Return the best memories for *query*, best first (store/sqlite/recall.py's ranking).

        Raises UsageError for a bad query, UnavailableError if the database fails.
        """
        from mnemosyne.store.sqlite.recall import recall  # noqa: PLC0415 - recall.py imports us

        return recall(self, query, count_access)

    def export(self, output: IO[str], namespace: str | None = None) -> int:
        """Write every memory (of *namespace*) as JSON Lines; return how many were written."""
        from mnemosyne.store.sqlite.transfer import export_memories  # noqa: PLC0415 - imports us

        return export_memories(self, output, namespace)

    def import_lines(self, lines: Iterable[str], replace: bool = False,
                     continue_on_error: bool = False) -> ImportReport:
        """Import JSON Lines *lines*, idempotent by id; return what was done.

        Raises UsageError naming the first bad line unless *continue_on_error*.
        """
        from mnemosyne.store.sqlite.transfer import import_memories  # noqa: PLC0415 - imports us

        return import_memories(self, lines, replace, continue_on_error)

    def change_feed(self) -> ChangeFeed:
        """Return a new change feed at the journal's end, woken by the WAL; the caller closes it.

        Raises UnavailableError if the journal cannot be read.
        """
        from mnemosyne.store.sqlite.changes import ChangeFeed  # noqa: PLC0415
        from mnemosyne.store.sqlite.walwatch import WalWatch  # noqa: PLC0415

        # The watch before the cursor: a commit after the cursor is read always leaves an
        # inotify event behind, so none falls between the two.
        watch = WalWatch.open(self.database.path)
        try:
            return ChangeFeed(self.database, watch)
        except BaseException:
            if watch is not None:
                watch.close()
            raise

    def health(self) -> DatabaseHealth:
        """Return whether the database can be written now: a few system calls (writehealth.py).

        Only when the files are fine, a `SELECT 1` (which takes no lock) checks that SQLite
        answers. Never waits on a database lock.
        """
        with self._health_guard:
            try:
                if self._write_health is None:
                    self._write_health = self.database.write_health()
                problem = self._write_health.inspect()
            except OSError as error:
                return DatabaseHealth(False, f"cannot look at {self.database.path}: "
                                      f"{error.strerror or error}")
        writing = self.database.writer_active()
        oldest = self.database.oldest_write_s()
        if problem is not None:
            return DatabaseHealth(False, problem.text, writing, oldest,
                                  problem.by_another_process)
        try:
            self.database.read(lambda connection: connection.execute("SELECT 1").fetchall())
        except MnemosyneError as error:
            return DatabaseHealth(False, str(error), writing, oldest)
        return DatabaseHealth(True, "ok", writing, oldest)

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Write batched access counts, then close the database (and a checkpoint due)."""
        if self.access_batcher is not None:
            self.access_batcher.close()
        self.database.close()

    def remember(self, content: str, *, namespace: str = "global",
                 importance: int | str = model.DEFAULT_IMPORTANCE,
                 tags: str | Iterable[str] | None = None,
                 memory_type: str = model.DEFAULT_MEMORY_TYPE,
                 summary: str | None = None) -> Memory:
        """Validate and store one new memory; return it once committed.

        Raises UsageError for invalid input (nothing is written).
        """
        memory = model.new_memory(content, namespace=namespace, importance=importance,
                                  tags=tags, memory_type=memory_type, summary=summary,
                                  max_content_bytes=self.max_content_bytes)
        self.database.write(lambda connection: insert_memory(connection, memory))
        return memory

    def resolve_id(self, id_or_prefix: str) -> str:
        """Return the full id of the one memory whose id is or starts with *id_or_prefix*.

        Raises UsageError if the prefix is too short or ambiguous, NotFoundError if none match.
        """
        low, high = model.id_prefix_range(id_or_prefix)
        rows = self.database.read(lambda connection: connection.execute(
            "SELECT id FROM memories WHERE id >= ? AND id < ? LIMIT 2",
            (low, high)).fetchall())
        return model.the_one_id([row[0] for row in rows], id_or_prefix)

    def get(self, id_or_prefix: str) -> Memory:
        """Return one memory by id or unique id prefix. Raises NotFoundError or UsageError."""
        memory_id = self.resolve_id(id_or_prefix)
        rows = self.database.read(lambda connection: connection.execute(
            f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id=?", (memory_id,)).fetchall())
        if not rows:
            raise NotFoundError(f"no memory with id {id_or_prefix}")
        return memory_from_row(rows[0])

    def links_of(self, memory_id: str) -> list[Link]:
        """Return the links that start or end at *memory_id*."""
        rows = self.database.read(lambda connection: connection.execute(
            "SELECT source_id, target_id, link_type, strength, created_at FROM memory_links "
            "WHERE source_id=? OR target_id=? ORDER BY created_at",
            (memory_id, memory_id)).fetchall())
        return [Link(*row) for row in rows]

    def list(self, namespace: str | None = None, limit: int | None = None,
             include_archived: bool = False) -> list[Memory]:
        """Return memories most recently stored first, optionally of one namespace, up to *limit*.

        Raises UsageError for an invalid namespace or limit.
        """
        clauses, parameters = [], []
        if namespace is not None:
            clauses.append("namespace = ?")
            parameters.append(model.validate_namespace(namespace))
        if not include_archived:
            clauses.append("archived = 0")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        most = model.validate_list_limit(limit)
        limit_sql = f"LIMIT {most}" if most else ""
        rows = self.database.read(lambda connection: connection.execute(
            f"SELECT {MEMORY_COLUMNS} FROM memories {where} ORDER BY seq DESC "
            f"{limit_sql}", parameters).fetchall())
        return [memory_from_row(row) for row in rows]

    def count(self, namespace: str | None = None) -> int:
        """Return how many memories there are (in *namespace*, if given)."""
        if namespace is None:
            sql, parameters = "SELECT count(*) FROM memories", ()
        else:
            sql = "SELECT count(*) FROM memories WHERE namespace=?"
            parameters = (model.validate_namespace(namespace),)
        return self.database.read(lambda connection: connection.execute(
            sql, parameters).fetchall()[0][0])

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
        # As stored in SQLite: tags as a JSON list, archived as 0 or 1.
        if "tags" in changes:
            changes["tags"] = json.dumps(list(changes["tags"]))
        if "archived" in changes:
            changes["archived"] = int(changes["archived"])
        memory_id = self.resolve_id(id_or_prefix)

        def change(connection: apsw.Connection) -> Memory:
            rows = connection.execute(f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id=?",
                                      (memory_id,)).fetchall()
            if not rows:
                raise NotFoundError(f"no memory with id {id_or_prefix}")
            current = memory_values(memory_from_row(rows[0]))
            columns = MEMORY_COLUMNS.replace(" ", "").split(",")
            differing = {column: value for column, value in changes.items()
                         if current[columns.index(column)] != value}
            if differing:
                assignments = ", ".join(f"{column}=?" for column in differing)
                connection.execute(f"UPDATE memories SET {assignments}, updated_at=? WHERE id=?",
                                   (*differing.values(), model.utc_now(), memory_id))
            return memory_from_row(connection.execute(
                f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id=?", (memory_id,)).fetchall()[0])

        return self.database.write(change)

    def forget(self, id_or_prefix: str) -> Memory:
        """Delete one memory (and its links); return what was deleted.

        Raises NotFoundError if it does not exist (or was deleted meanwhile).
        """
        memory = self.get(id_or_prefix)

        def delete(connection: apsw.Connection) -> int:
            connection.execute("DELETE FROM memories WHERE id=?", (memory.id,))
            return connection.changes()

        if not self.database.write(delete):
            raise NotFoundError(f"no memory with id {id_or_prefix}")
        return memory

    def link(self, source: str, target: str, link_type: str, strength: float = 1.0) -> Link:
        """Link two existing memories; `A supersedes B` also marks B as superseded by A.

        Raises UsageError for a bad type, strength or a self-link; NotFoundError for a missing id.
        """
        link_type, strength = model.validate_link_fields(link_type, strength)  # before lookups
        link = model.new_link(self.resolve_id(source), self.resolve_id(target), link_type,
                              strength)

        def store(connection: apsw.Connection) -> None:
            found = connection.execute("SELECT count(*) FROM memories WHERE id IN (?, ?)",
                                       (link.source_id, link.target_id)).fetchall()[0][0]
            if found != 2:
                raise NotFoundError("a linked memory was deleted meanwhile")
            insert_link(connection, link)

        self.database.write(store)
        return link

    def mark_accessed(self, memory_ids: Sequence[str], when: str) -> None:
        """Count one access for each of *memory_ids* at *when*.

        In one short write now, or within a second when access counts are batched.
        """
        if not memory_ids:
            return
        if self.access_batcher is not None:
            self.access_batcher.add(memory_ids, when)
            return
        self.count_accesses(dict.fromkeys(memory_ids, 1), when)

    def count_accesses(self, counts: Mapping[str, int], when: str) -> None:
        """Add *counts* (memory id -> accesses) to the access counts, in one short write.

        The last access becomes *when* unless a later one is recorded; memories deleted
        meanwhile are skipped.
        """
        rows = [(count, when, when, memory_id) for memory_id, count in counts.items()]
        self.database.write(lambda connection: connection.executemany(
            "UPDATE memories SET access_count = access_count + ?, last_accessed_at = "
            "CASE WHEN coalesce(last_accessed_at, '') < ? THEN ? ELSE last_accessed_at END "
            "WHERE id = ?", rows))


