"""Tail the change journal: what was stored, changed or deleted since the last look.

The journal (`change_log`, schema 0002) is written by triggers in the same transaction as the
change, by whichever process made it, so a running instance sees memories stored through the
CLI, another instance or its own API alike, in commit order and exactly once.
Must not: decide what to do with a change (the daemon publishes events).
"""

from __future__ import annotations

import logging
from typing import Any

import apsw

from mnemosyne.store.backend import CHANGE_BATCH, PREVIEW_CHARS, Change
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.walwatch import WalWatch

logger = logging.getLogger(__name__)

BATCH = CHANGE_BATCH


class ChangeFeed:
    """A cursor into the change journal, starting at its end.

    The WAL's inotify event comes from a writer's first `pwrite`, before its commit is visible:
    a `poll` made in that window sees nothing, and no further event may come. So a caller woken
    by the WAL asks `writer_active()` first, polls, and polls again once no writer holds the
    lock (`poll_after_wakeup` returns whether that is still to do): every commit is then seen
    at once, also the first one on a fresh database.
    """

    def __init__(self, database: Database, watch: WalWatch | None = None) -> None:
        self.database = database
        self.watch = watch  # opened before the cursor is read: no commit falls between
        self.cursor = database.read(lambda connection: connection.execute(
            "SELECT coalesce(max(seq), 0) FROM change_log").fetchall()[0][0])

    def fileno(self) -> int:
        """Return the WAL watch's descriptor, or -1 without one (poll on a timer then)."""
        return self.watch.fileno() if self.watch is not None else -1

    def drain(self) -> bool:
        """Consume the WAL's pending events; return True if the WAL was written."""
        return self.watch.drain() if self.watch is not None else True

    def close(self) -> None:
        """Stop watching the WAL."""
        if self.watch is not None:
            self.watch.close()

    def writer_active(self) -> bool:
        """Return True if a write transaction (of any process) may be committing right now."""
        return self.database.writer_active()

    def poll(self) -> list[Change]:
        """Return the changes committed since the last call, oldest first (at most 1,000)."""

        def fetch(connection: apsw.Connection) -> list[Any]:
            return connection.execute(
                "SELECT c.seq, c.op, c.memory_id, c.namespace, m.memory_type, m.importance, "
                f"substr(coalesce(m.summary, m.content), 1, {PREVIEW_CHARS}) "
                "FROM change_log c LEFT JOIN memories m ON m.id = c.memory_id AND c.op != "
                "'deleted' WHERE c.seq > ? ORDER BY c.seq LIMIT ?",
                (self.cursor, BATCH)).fetchall()

        rows = self.database.read(fetch)
        if rows and rows[0][0] > self.cursor + 1 and self.cursor:
            logger.warning("change journal: %d changes were pruned before this instance "
                           "read them", rows[0][0] - self.cursor - 1)
        changes = [Change(*row) for row in rows]
        if changes:
            self.cursor = changes[-1].seq
        return changes
