"""The engine-neutral store interface every caller outside the store uses.

`MemoryBackend` is what the CLI, the daemon, the API, MCP, workflows and the doctor call;
SQLite (`sqlite.backend.SqliteBackend`, the default) and PostgreSQL (`postgres.PostgresBackend`)
implement it with the same behaviour, so a caller never sends SQL nor looks at a file.
`ChangeFeed` is the cursor into the change journal the daemon waits on; `DatabaseHealth` is
what `health()` answers (the /health endpoint, the watchdog and the doctor read it).
Errors: NotFoundError, UsageError and UnavailableError from mnemosyne.errors, as each method
says; an engine's own exceptions never leave it.
Must not: import an engine (callers get one from `mnemosyne.store.open_store`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any, Protocol

CHANGE_BATCH = 1000  # most changes one ChangeFeed.poll returns
PREVIEW_CHARS = 160  # how much of a memory's content a change event carries

if TYPE_CHECKING:
    from mnemosyne.store.model import Link, Memory
    from mnemosyne.store.query import RecallHit, RecallQuery
    from mnemosyne.store.records import ImportReport


@dataclasses.dataclass(frozen=True)
class Change:
    """One journal entry; the memory's details are None once it is gone."""

    seq: int
    op: str  # stored, updated or deleted
    memory_id: str
    namespace: str
    memory_type: str | None
    importance: int | None
    preview: str | None

    def to_event_data(self) -> dict[str, Any]:
        """Return the event payload (no field names shared with the event envelope)."""
        return {"memory_id": self.memory_id, "namespace": self.namespace,
                "memory_type": self.memory_type, "importance": self.importance,
                "preview": self.preview, "change_seq": self.seq}


@dataclasses.dataclass(frozen=True)
class DatabaseHealth:
    """Whether the database answers and can be written right now.

    *detail* is one line without a password ("ok" when fine). *writer_active*: a write
    transaction may be committing now. *oldest_write_s*: how long this process's oldest
    running write has taken (0.0 when none, or the engine does not know).
    *by_another_process*: the problem is a lock another process holds, which restarting this
    one cannot fix (the watchdog ignores those).
    """

    ok: bool
    detail: str
    writer_active: bool = False
    oldest_write_s: float = 0.0
    by_another_process: bool = False


class ChangeFeed(Protocol):
    """A cursor into the change journal, starting at its end; the caller closes it.

    Wait for `fileno()` to become readable, `drain()`, then `poll()`. When `writer_active()`
    was True before a `poll`, poll again shortly (SQLite: a commit may not be visible yet).
    """

    def fileno(self) -> int:
        """Return a descriptor readable when there may be news (-1: none, poll on a timer)."""
        ...

    def drain(self) -> bool | None:
        """Consume the readiness so the next wait blocks; False if it was not about us."""
        ...

    def writer_active(self) -> bool:
        """Return True if a write may be committing now (poll again after it ends)."""
        ...

    def poll(self) -> list[Change]:
        """Return the changes committed since the last call, oldest first (at most 1,000).

        Raises UnavailableError if the journal cannot be read.
        """
        ...

    def close(self) -> None:
        """Release the descriptor and anything else the feed holds."""
        ...


class MemoryBackend(Protocol):
    """Memories, links, recall, transfer, change events and health on one database."""

    max_content_bytes: int

    def __enter__(self) -> MemoryBackend:
        ...

    def __exit__(self, *exc_info: object) -> None:
        """Close the backend."""
        ...

    @property
    def display_url(self) -> str:
        """The database's URL without any password, for logs, health and `config show`."""
        ...

    def remember(self, content: str, *, namespace: str = "global",
                 importance: int | str = ..., tags: str | Iterable[str] | None = None,
                 memory_type: str = ..., summary: str | None = None) -> Memory:
        """Validate and store one memory; return it once committed.

        Raises UsageError (nothing written), UnavailableError.
        """
        ...

    def resolve_id(self, id_or_prefix: str) -> str:
        """Return the one full id starting with *id_or_prefix*; UsageError, NotFoundError."""
        ...

    def get(self, id_or_prefix: str) -> Memory:
        """Return one memory; raises NotFoundError or UsageError."""
        ...

    def links_of(self, memory_id: str) -> list[Link]:
        """Return the links that start or end at *memory_id*."""
        ...

    def list(self, namespace: str | None = None, limit: int | None = None,
             include_archived: bool = False) -> list[Memory]:
        """Return memories, most recently stored first; UsageError for bad arguments."""
        ...

    def count(self, namespace: str | None = None) -> int:
        """Return how many memories there are (in *namespace*, if given)."""
        ...

    def update(self, id_or_prefix: str, *, content: str | None = None,
               summary: str | None = None, importance: int | str | None = None,
               tags: str | Iterable[str] | None = None, memory_type: str | None = None,
               archived: bool | None = None) -> Memory:
        """Change the given fields; return the memory. UsageError, NotFoundError."""
        ...

    def forget(self, id_or_prefix: str) -> Memory:
        """Delete one memory and its links; return it. NotFoundError."""
        ...

    def link(self, source: str, target: str, link_type: str, strength: float = 1.0) -> Link:
        """Link two memories (`supersedes` marks the target). UsageError, NotFoundError."""
        ...

    def mark_accessed(self, memory_ids: Sequence[str], when: str) -> None:
        """Count one access for each of *memory_ids* at *when*."""
        ...

    def recall(self, query: RecallQuery, count_access: bool = True) -> list[RecallHit]:
        """Return the best memories for *query*, best first (documented ranking).

        Raises UsageError for a bad query, UnavailableError.
        """
        ...

    def export(self, output: IO[str], namespace: str | None = None) -> int:
        """Write memories as JSON Lines (the same bytes for every engine); return the count."""
        ...

    def import_lines(self, lines: Iterable[str], replace: bool = False,
                     continue_on_error: bool = False) -> ImportReport:
        """Import JSON Lines, idempotent by id; UsageError names the first bad line."""
        ...

    def change_feed(self) -> ChangeFeed:
        """Return a new change feed at the journal's end (the caller closes it)."""
        ...

    def health(self) -> DatabaseHealth:
        """Return whether the database answers and can be written now, within about 1 s."""
        ...

    def close(self) -> None:
        """Close every connection."""
        ...
