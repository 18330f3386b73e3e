"""Tail the PostgreSQL change journal, woken by LISTEN/NOTIFY.

The journal (`change_log`, schema 0001) has SQLite's columns, event ids (`seq`) and resume
rules: each change is recorded by triggers in the same transaction as the change, pruned to
about the last 10,000 entries. Writers only append to `change_pending`; `poll` first moves
the committed pending rows into `change_log` under an advisory lock, numbering them there, so
that `seq` follows the order in which changes became visible and never fills in behind a
reader (see schema/0001_initial.sql). A feed starts at the journal's end; `poll` returns what
was committed since. `fileno` is a descriptor that becomes readable when there may be news: a
pipe the feed's listener thread writes to on every NOTIFY on `mnemosyne_changes` (sent after
each write commits), after each (re)connection, since notifications sent while it was away
are lost, and every RESCAN_S (a change made by another program sends none). It stays the
same descriptor while the listener reconnects by itself, so a caller can keep it in its
selector.
Must not: decide what to do with a change (the daemon publishes events).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading

import psycopg

from mnemosyne.errors import UnavailableError
from mnemosyne.store.backend import CHANGE_BATCH as BATCH
from mnemosyne.store.backend import PREVIEW_CHARS, Change
from mnemosyne.store.postgres.connection import CHANNEL, Connections

logger = logging.getLogger(__name__)

RECONNECT_PAUSE_S = 0.5
RESCAN_S = 1.0
SEQUENCER_LOCK_KEY = 7262011
KEEP_CHANGES = 10000


def sequence_pending(connection: psycopg.Connection) -> None:
    """Move the committed pending changes into the journal, numbered in the order seen.

    One transaction under the sequencer's advisory lock: it commits before the next one
    starts, so journal numbers only ever grow in the order readers can see them.
    """
    if not connection.execute("SELECT EXISTS (SELECT 1 FROM change_pending)").fetchone()[0]:
        return
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (SEQUENCER_LOCK_KEY,))
        # The ORDER BY in a subquery keeps nextval() in the pending order.
        connection.execute(
            "WITH moved AS (DELETE FROM change_pending RETURNING id, op, memory_id, namespace) "
            "INSERT INTO change_log (seq, op, memory_id, namespace) "
            "SELECT nextval('change_log_seq'), op, memory_id, namespace "
            "FROM (SELECT * FROM moved ORDER BY id) AS ordered")
        # As SQLite's trigger: keep what follows the last multiple of 1,000, minus 10,000.
        connection.execute(
            "DELETE FROM change_log WHERE seq <= "
            "(SELECT max(seq) / 1000 * 1000 - %s FROM change_log)", (KEEP_CHANGES,))


class PostgresChangeFeed:
    """A cursor into the change journal plus a wake-up descriptor; close it when done.

    Raises UnavailableError from the constructor if the journal cannot be read.
    """

    def __init__(self, connections: Connections) -> None:
        self.connections = connections
        def end_of_journal(connection: psycopg.Connection) -> int:
            sequence_pending(connection)
            return connection.execute("SELECT coalesce(max(seq), 0) FROM change_log"
                                       ).fetchone()[0]

        self.cursor = connections.read(end_of_journal)
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stop_read, self._stop_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.listening = threading.Event()
        self._listener = threading.Thread(target=self._listen, name="mnemosyne-pg-listen",
                                          daemon=True)
        self._listener.start()

    def fileno(self) -> int:
        """Return the descriptor that becomes readable when there may be new changes."""
        return self._wake_read

    def drain(self) -> None:
        """Consume the pending wake-ups, so that the next wait blocks until new ones."""
        try:
            while os.read(self._wake_read, 4096):
                pass
        except BlockingIOError:
            pass

    def writer_active(self) -> bool:
        """Return False: PostgreSQL commits are visible once NOTIFY arrives (no re-poll)."""
        return False

    def poll(self) -> list[Change]:
        """Return the changes committed since the last call, oldest first (at most 1,000).

        Raises UnavailableError if the server cannot be reached.
        """
        def fetch(connection: psycopg.Connection) -> list[tuple]:
            sequence_pending(connection)
            return connection.execute(
                "SELECT c.seq, c.op, c.memory_id, c.namespace, m.memory_type, m.importance, "
                f"substr(coalesce(m.summary, m.content), 1, {PREVIEW_CHARS}) "
                "FROM change_log c LEFT JOIN memories m ON m.id = c.memory_id AND c.op <> "
                "'deleted' WHERE c.seq > %s ORDER BY c.seq LIMIT %s",
                (self.cursor, BATCH)).fetchall()

        rows = self.connections.read(fetch)
        changes = [Change(*row) for row in rows]
        if changes:
            self.cursor = changes[-1].seq
        return changes

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full of wake-ups already
            os.write(self._wake_write, b"!")

    def _listen(self) -> None:
        """Run in the listener thread: LISTEN, forward notifications, reconnect when lost."""
        while True:
            connection = None
            try:
                connection = self.connections.connect()
                connection.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                self._wake()  # anything committed while not listening
                if self._forward(connection):
                    return
            except (UnavailableError, psycopg.Error) as error:
                logger.debug("change listener: %s", error)
            finally:
                self.listening.clear()
                if connection is not None:
                    connection.close()
            ready, _, _ = select.select([self._stop_read], [], [], RECONNECT_PAUSE_S)
            if ready:
                return

    def _forward(self, connection: psycopg.Connection) -> bool:
        """Wake the feed for each batch of notifications; return True when asked to stop.

        Raises psycopg.Error when the connection is lost.
        """
        pgconn = connection.pgconn
        while True:
            ready, _, _ = select.select([pgconn.socket, self._stop_read], [], [], RESCAN_S)
            if self._stop_read in ready:
                return True
            if not ready:
                self._wake()
                continue
            pgconn.consume_input()
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("the change listener's connection was lost")
            notified = False
            while pgconn.notifies() is not None:
                notified = True
            if notified:
                self._wake()

    def close(self) -> None:
        """Stop the listener and close the descriptors; the feed must not be used afterwards."""
        if self._stop_write < 0:
            return
        os.write(self._stop_write, b"!")
        self._listener.join(5)
        for descriptor in (self._wake_read, self._wake_write, self._stop_read,
                           self._stop_write):
            os.close(descriptor)
        self._stop_write = -1
