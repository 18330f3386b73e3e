"""Keep the WAL bounded without putting checkpoint work on anyone's request path.

SQLite's auto-checkpoint runs inside the COMMIT of whichever request crossed the threshold.
Instead, a WAL hook on each connection notes when the WAL passed the threshold after a commit,
and a background thread with its own connection runs the checkpoint: first beside the writers,
then again, briefly, under the writer queue's lock for the frames added meanwhile. (A checkpoint
that only ever races continuous writers never completes, so the WAL would never be reset.)
Closing runs any checkpoint still wanted, so even a
short-lived CLI process leaves the WAL bounded.
Must not: run TRUNCATE or RESTART checkpoints, which wait for readers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import apsw

from mnemosyne.errors import MnemosyneError
from mnemosyne.store.sqlite.transactions import WriterLock

logger = logging.getLogger(__name__)

CHECKPOINT_AFTER_PAGES = 500


def watch_wal(connection: apsw.Connection, on_large: Callable[[], None],
              threshold_pages: int = CHECKPOINT_AFTER_PAGES,
              on_commit: Callable[[], None] | None = None) -> None:
    """Call *on_large* after any commit on *connection* that leaves the WAL over the threshold.

    This replaces SQLite's auto-checkpoint for that connection. *on_commit*, if given, is
    called after every commit (the index merger's request: as cheap).
    """

    def after_commit(connection: apsw.Connection, database_name: str, pages: int) -> int:
        if on_commit is not None:
            on_commit()
        if pages >= threshold_pages:
            on_large()
        return apsw.SQLITE_OK

    set_hook = getattr(connection, "set_wal_hook", None) or connection.setwalhook
    set_hook(after_commit)


class Checkpointer:
    """A lazily started thread that runs PASSIVE checkpoints when `request` is called."""

    def __init__(self, open_connection: Callable[[], apsw.Connection],
                 make_lock: Callable[[], WriterLock], gate: threading.Lock | None = None) -> None:
        self._open_connection = open_connection
        self._make_lock = make_lock
        self._gate = gate or threading.Lock()  # held around the part under the writers' lock
        self._wanted = threading.Event()
        self._stopping = False
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    def request(self) -> None:
        """Ask for a checkpoint soon; cheap enough to call after every commit."""
        if self._thread is None:
            with self._guard:
                if self._thread is None and not self._stopping:
                    self._thread = threading.Thread(target=self._run, name="wal-checkpointer",
                                                    daemon=True)
                    self._thread.start()
        self._wanted.set()

    def _run(self) -> None:
        try:
            connection = self._open_connection()
        except (MnemosyneError, OSError, apsw.Error) as error:
            logger.warning("WAL checkpointer not started: %s", error)
            return  # requests are then no-ops; closing connections still checkpoint
        lock = self._make_lock()
        try:
            while True:
                self._wanted.wait()
                if self._stopping:
                    return
                self._wanted.clear()
                self._checkpoint(connection, lock)
        finally:
            connection.close()
            lock.close()

    def _checkpoint(self, connection: apsw.Connection, lock: WriterLock) -> None:
        """Copy the WAL beside running writers, then finish under the lock (a short pause)."""
        try:
            connection.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
            with self._gate:
                lock.acquire()
                try:
                    connection.wal_checkpoint(mode=apsw.SQLITE_CHECKPOINT_PASSIVE)
                finally:
                    lock.release()
            self.checkpoints += 1
        except apsw.BusyError:
            logger.debug("another process is checkpointing; skipped")
        except apsw.Error as error:
            logger.warning("WAL checkpoint failed: %s", error)

    def close(self) -> None:
        """Stop the thread, first running a checkpoint that is still wanted."""
        with self._guard:
            self._stopping = True
            thread, self._thread = self._thread, None
        if thread is None:
            return
        pending = self._wanted.is_set()
        self._wanted.set()
        thread.join()
        if pending:
            try:
                connection = self._open_connection()
            except (MnemosyneError, OSError, apsw.Error) as error:
                logger.warning("WAL not checkpointed at close: %s", error)
                return
            lock = self._make_lock()
            try:
                self._checkpoint(connection, lock)
            finally:
                connection.close()
                lock.close()
