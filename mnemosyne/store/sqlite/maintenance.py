"""The SQLite side of `mnemosyne optimize`: find and apply upkeep in short transactions.

Read-only finders (`duplicate_groups`, `decay_candidates`, `archive_candidates`) say what a
pass would change; appliers change it in batches of about WRITE_BATCH memories per
transaction, so the writers' lock is never held for more than a few milliseconds, and after
each batch they rest PACE times as long as the batch held it (`_paced_write`), so the writers
have the lock at least three quarters of the time. The rules
(documented in README, decided in mnemosyne/optimize/rules.py):
- duplicates: live memories (not archived, not superseded) of one namespace whose content has
  the same normalised text; the survivor keeps the highest importance, the union of the tags
  and every link of the others, and each other one is marked superseded by it (a `supersedes`
  link: never deleted, export still shows it);
- decay: a live memory idle (neither accessed nor changed) for `rules.DECAY_IDLE_DAYS` loses one
  point of importance (its change time is then now, so the next point goes after as long again);
  importance 10 never decays;
- archive: a live memory of importance 1 idle for `rules.ARCHIVE_IDLE_DAYS` is archived.
`compact` then merges the full-text index's segments a little at a time, runs
`PRAGMA optimize` and a passive WAL checkpoint (which never waits for readers or writers).
Must not: decide the rules' numbers (optimize/rules.py does) or take the one-optimizer lock.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import apsw

from mnemosyne.store import model
from mnemosyne.store.model import MEMORY_COLUMNS, Link, Memory
from mnemosyne.store.sqlite.backend import SqliteBackend, insert_link, memory_from_row

# Memories changed per transaction: ~0.2 ms of the writers' lock at the median. Batches of 20
# added ~3 ms to 8 writers' p99 at 100,000 memories, batches of 10 ~1.5 ms (a 50 % longer pass).
WRITE_BATCH = 10
PACE = 3.0  # after each batch, rest this many times as long as it held the writers' lock
READ_PAGE = 500  # memories read per query while looking
FTS_MERGE_PAGES = 64  # pages of the full-text index merged per transaction
FTS_MERGE_ROUNDS = 200  # at most this many merge transactions per pass

LIVE = "archived = 0 AND superseded_by IS NULL"


@dataclasses.dataclass(frozen=True)
class DuplicateGroup:
    """Memories of one namespace with the same normalised text: the survivor first."""

    survivor: Memory
    merged: tuple[Memory, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form the CLI prints."""
        return {"namespace": self.survivor.namespace, "survivor": self.survivor.id,
                "merged": [memory.id for memory in self.merged]}


def _live_memories(store: SqliteBackend, where: str = "",
                   parameters: Iterable[Any] = ()) -> Iterable[Memory]:
    """Yield the live memories in storage order, read in pages of READ_PAGE.

    Paged by the rowid, with no index (`NOT INDEXED`): the whole walk reads the table once,
    where an index on a filtered column would make each page sort its matches again. The walk
    ends at the newest memory there was when it began: what instances store meanwhile is for
    the next pass (a walk chasing busy writers' inserts might never end).
    """
    last = store.database.read(lambda connection: connection.execute(
        "SELECT coalesce(max(seq), 0) FROM memories").fetchall()[0][0])
    after = 0
    extra = f" AND {where}" if where else ""
    while True:
        rows = store.database.read(lambda connection, start=after: connection.execute(
            f"SELECT seq, {MEMORY_COLUMNS} FROM memories NOT INDEXED WHERE seq > ? AND "
            f"seq <= ? AND {LIVE}{extra} ORDER BY seq LIMIT {READ_PAGE}",
            (start, last, *parameters)).fetchall())
        if not rows:
            return
        for row in rows:
            yield memory_from_row(row[1:])
        after = rows[-1][0]


def duplicate_groups(store: SqliteBackend, normalise: Callable[[str], str],
                     rank: Callable[[Memory], Any]) -> list[DuplicateGroup]:
    """Return the groups of duplicates, survivors chosen by the lowest *rank*, in a stable order.

    *normalise* maps content to the text compared; memories whose normalised text is empty
    are never grouped.
    """
    by_key: dict[tuple[str, str], list[Memory]] = {}
    for memory in _live_memories(store):
        key = normalise(memory.content)
        if key:
            by_key.setdefault((memory.namespace, key), []).append(memory)
    groups = []
    for members in by_key.values():
        if len(members) > 1:
            ordered = sorted(members, key=rank)
            groups.append(DuplicateGroup(ordered[0], tuple(ordered[1:])))
    groups.sort(key=lambda group: (group.survivor.namespace, group.survivor.id))
    return groups


def _paced_write(store: SqliteBackend, work: Callable[[apsw.Connection], Any]) -> Any:
    """Run one batch as a write transaction, then rest PACE times as long as it held the lock.

    Held: from the start of the work (the lock taken, the transaction begun) to the end of
    the commit. Waiting for the lock is not counted: it took nothing from the writers.
    """
    began: list[float] = []

    def timed(connection: apsw.Connection) -> Any:
        began.append(time.monotonic())
        return work(connection)

    result = store.database.write(timed)
    _rest((time.monotonic() - began[-1]) * PACE)
    return result


def _rest(seconds: float) -> None:
    time.sleep(seconds)


def _merge_in(connection: apsw.Connection, group: DuplicateGroup, now: str) -> bool:
    """Merge *group* inside the caller's transaction; False if any of it changed meanwhile."""
    ids = [group.survivor.id, *(memory.id for memory in group.merged)]
    marks = ",".join("?" * len(ids))
    current = {row[0]: memory_from_row(row) for row in connection.execute(
        f"SELECT {MEMORY_COLUMNS} FROM memories WHERE id IN ({marks}) AND {LIVE}", ids)}
    if len(current) != len(ids):
        return False  # forgotten, archived or superseded since it was found
    members = [current[memory_id] for memory_id in ids]
    tags = tuple(dict.fromkeys(tag for member in members for tag in member.tags))
    importance = max(member.importance for member in members)
    survivor = members[0]
    if tags != survivor.tags or importance != survivor.importance:
        connection.execute("UPDATE memories SET tags=?, importance=?, updated_at=? WHERE id=?",
                           (json.dumps(list(tags)), importance, now, survivor.id))
    for member in members[1:]:
        for old_source, old_target, link_type, strength in connection.execute(
                "SELECT source_id, target_id, link_type, strength FROM memory_links "
                "WHERE source_id=? OR target_id=?", (member.id, member.id)).fetchall():
            source = survivor.id if old_source == member.id else old_source
            target = survivor.id if old_target == member.id else old_target
            if source != target and link_type != "supersedes":
                insert_link(connection, Link(source, target, link_type, strength, now))
        insert_link(connection, Link(survivor.id, member.id, "supersedes", 1.0, now))
    return True


def merge_groups(store: SqliteBackend, groups: list[DuplicateGroup]) -> int:
    """Merge *groups*, about WRITE_BATCH memories per transaction; return how many were merged.

    A group any of whose memories changed since it was found (forgotten, archived,
    superseded) is left alone.
    """
    merged = 0
    batch: list[DuplicateGroup] = []
    size = 0
    for index, group in enumerate(groups):
        batch.append(group)
        size += 1 + len(group.merged)
        if size < WRITE_BATCH and index + 1 < len(groups):
            continue
        now = model.utc_now()
        merged += _paced_write(store, lambda connection, batch=batch, now=now: sum(
            len(group.merged) for group in batch if _merge_in(connection, group, now)))
        batch, size = [], 0
    return merged


def _idle_since(memory: Memory) -> str:
    """Return when the memory was last accessed or changed, whichever is later."""
    return max(memory.updated_at, memory.last_accessed_at or "")


def decay_candidates(store: SqliteBackend, idle_before: str) -> list[Memory]:
    """Return the live memories of importance 2-9 idle since before *idle_before*."""
    return [memory for memory in _live_memories(
                store, "importance BETWEEN 2 AND 9 AND updated_at < ?", (idle_before,))
            if _idle_since(memory) < idle_before]


def archive_candidates(store: SqliteBackend, idle_before: str) -> list[Memory]:
    """Return the live memories of importance 1 idle since before *idle_before*."""
    return [memory for memory in _live_memories(
                store, "importance = 1 AND updated_at < ?", (idle_before,))
            if _idle_since(memory) < idle_before]


def _apply_in_batches(store: SqliteBackend, memories: list[Memory], idle_before: str,
                      statement: str) -> int:
    """Run *statement* (parameters: now, id, idle_before) for each memory, WRITE_BATCH at a time.

    The memory is changed only if it is still live and still idle: an access or a change
    meanwhile keeps it. Return how many were changed.
    """
    changed = 0
    for start in range(0, len(memories), WRITE_BATCH):
        batch = memories[start:start + WRITE_BATCH]
        now = model.utc_now()

        def work(connection: apsw.Connection, batch: list[Memory] = batch,
                 now: str = now) -> int:
            done = 0
            for memory in batch:
                connection.execute(
                    f"{statement} WHERE id=? AND {LIVE} AND updated_at < ? AND "
                    "coalesce(last_accessed_at, '') < ?",
                    (now, memory.id, idle_before, idle_before))
                done += connection.changes()
            return done

        changed += _paced_write(store, work)
    return changed


def apply_decay(store: SqliteBackend, memories: list[Memory], idle_before: str) -> int:
    """Lower each memory's importance by one; return how many were lowered."""
    return _apply_in_batches(store, memories, idle_before,
                             "UPDATE memories SET importance = importance - 1, updated_at = ?")


def apply_archive(store: SqliteBackend, memories: list[Memory], idle_before: str) -> int:
    """Archive each memory; return how many were archived."""
    return _apply_in_batches(store, memories, idle_before,
                             "UPDATE memories SET archived = 1, updated_at = ?")


def compact(store: SqliteBackend) -> dict[str, Any]:
    """Merge the full-text index a little at a time, `PRAGMA optimize`, passive checkpoint."""
    rounds = 0
    for rounds in range(1, FTS_MERGE_ROUNDS + 1):  # noqa: B007 - reported below
        def merge(connection: apsw.Connection) -> int:
            # totalchanges: the name APSW 3.40 (Debian 12) knows too
            before = connection.totalchanges()
            connection.execute("INSERT INTO memories_fts(memories_fts, rank) VALUES "
                               f"('merge', {FTS_MERGE_PAGES})")
            return connection.totalchanges() - before

        if _paced_write(store, merge) < 2:  # FTS5: fewer than 2 changes, nothing left
            break

    store.database.write(lambda connection: connection.execute("PRAGMA optimize").fetchall())
    busy, log, moved = store.database.read(lambda connection: connection.execute(
        "PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0])
    return {"fts_merge_rounds": rounds, "wal_frames": log, "wal_frames_checkpointed": moved,
            "checkpoint_busy": bool(busy)}
