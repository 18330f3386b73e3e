"""Connections to a PostgreSQL server: one per thread, reconnected, writes retried, health probed.

Each thread gets its own autocommit psycopg connection, opened on first use and opened again
after the server went away. A write runs in one transaction (or as one autocommit statement)
and is retried whole on a serialization failure, a deadlock or a lost connection until the
write deadline; the work must therefore be idempotent (an insert by id: ON CONFLICT DO
NOTHING, then compare). Once it has committed, a NOTIFY in a transaction of its own tells the
change feeds of every instance (NOTIFY inside the write would serialize all commits, as
PostgreSQL holds a database-wide lock from a notifying transaction's commit until its WAL
flush). A read is retried once on a fresh connection. The health probe answers within 1 s
even when the server does not answer at all. Passwords are removed from every URL and message shown.
Must not: know about memories (backend.py) or read the environment (libpq reads PG*).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import psycopg.errors

from mnemosyne.errors import UnavailableError

logger = logging.getLogger(__name__)

Result = TypeVar("Result")

CHANNEL = "mnemosyne_changes"
# Nothing to make durable: the change is committed already, and a lost notification is made
# up for by the feeds' periodic look.
NOTIFY_SQL = f"BEGIN; SET LOCAL synchronous_commit = off; NOTIFY {CHANNEL}; COMMIT"
CONNECT_TIMEOUT_S = 2  # libpq's smallest effective connect_timeout
HEALTH_TIMEOUT_S = 0.9
NOTIFY_INTERVAL_S = 0.01
RETRY_PAUSE_S = (0.05, 0.1, 0.2, 0.4, 0.5)
RETRYABLE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


def split_password(url: str) -> tuple[str, list[str]]:
    """Return *url* without its password (URL or key=value form), and the passwords it held."""
    if "://" not in url:
        try:
            parameters = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            return "(an invalid connection string)", []
        password = parameters.pop("password", None)
        return psycopg.conninfo.make_conninfo(**parameters), [str(password)] if password else []
    parts = urllib.parse.urlsplit(url)
    secrets: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, hosts = netloc.rpartition("@")
        user, has_password, password = credentials.partition(":")
        if has_password:
            secrets += [password, urllib.parse.unquote(password)]
        netloc = f"{user}@{hosts}"
    query = parts.query
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if any(key == "password" for key, _ in pairs):
        secrets += [value for key, value in pairs if key == "password"]
        query = urllib.parse.urlencode([(key, value) for key, value in pairs
                                        if key != "password"], safe="/")
    redacted = f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "") \
        + (f"#{parts.fragment}" if parts.fragment else "")
    return redacted, [secret for secret in secrets if secret]


def redact_url(url: str) -> str:
    """Return *url* with any password removed."""
    return split_password(url)[0]


class Connections:
    """Per-thread connections to one PostgreSQL database; safe to use from many threads."""

    def __init__(self, url: str, write_deadline_s: float = 30.0,
                 statement_timeout_ms: int = 30000) -> None:
        self.url = url
        self.display_url, self._secrets = split_password(url)
        self.write_deadline_s = write_deadline_s
        self.statement_timeout_ms = statement_timeout_ms
        self._local = threading.local()
        self._all: list[psycopg.Connection] = []
        self._all_guard = threading.Lock()
        self._pending_writes: dict[int, float] = {}
        self._probe: _HealthProbe | None = None
        self._probe_guard = threading.Lock()
        self._health_connection: psycopg.Connection | None = None
        self._notifier: _Notifier | None = None
        self.closed = False

    def describe(self, error: BaseException) -> str:
        """Return the first line of *error*'s message, with any password replaced by ***."""
        text = (str(error).strip().splitlines() or [type(error).__name__])[0]
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def unavailable(self, error: BaseException, doing: str = "use") -> UnavailableError:
        """Return the user-facing error for *error* (one line, no password)."""
        return UnavailableError(f"cannot {doing} PostgreSQL at {self.display_url}: "
                                f"{self.describe(error)}")

    def connect(self, timeout_s: int = CONNECT_TIMEOUT_S) -> psycopg.Connection:
        """Open a new autocommit connection. Raises UnavailableError if that fails."""
        if self.closed:
            raise UnavailableError(f"the store at {self.display_url} is closed")
        try:
            connection = psycopg.connect(self.url, autocommit=True, connect_timeout=timeout_s,
                                         application_name="mnemosyne")
        except psycopg.Error as error:
            raise self.unavailable(error, "connect to") from None
        try:
            # A SET, not `options`: the URL's own options (a search_path...) stay in force.
            connection.execute(f"SET statement_timeout = {int(self.statement_timeout_ms)}")
        except psycopg.Error as error:
            connection.close()
            raise self.unavailable(error, "connect to") from None
        return connection

    def connection(self) -> psycopg.Connection:
        """Return this thread's connection, opening it (again) if needed.

        Raises UnavailableError if the server cannot be reached.
        """
        connection = getattr(self._local, "connection", None)
        if connection is not None and not connection.closed:
            return connection
        if connection is not None:
            self._forget(connection)
        connection = self.connect()
        self._local.connection = connection
        with self._all_guard:
            self._all.append(connection)
        return connection

    def _forget(self, connection: psycopg.Connection) -> None:
        """Close and drop *connection* (after an error that may have broken it)."""
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._all_guard:
            if connection in self._all:
                self._all.remove(connection)
        try:
            connection.close()
        except psycopg.Error:
            logger.debug("closing a broken connection failed", exc_info=True)

    def read(self, work: Callable[[psycopg.Connection], Result], retry: bool = True) -> Result:
        """Run *work* on this thread's connection; once more on a new one if it was lost.

        Without *retry* (work with side effects, such as writing out an export), only once.
        Raises UnavailableError if the server cannot be reached or the query fails.
        """
        for attempt in range(2 if retry else 1):
            connection = self.connection()
            try:
                return work(connection)
            except psycopg.OperationalError as error:
                self._forget(connection)
                if attempt or not retry:
                    raise self.unavailable(error, "read from") from None
            except psycopg.Error as error:
                raise self.unavailable(error, "read from") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def write(self, work: Callable[[psycopg.Connection, int], Result], notify: bool = True,
              transaction: bool = True) -> Result:
        """Run *work(connection, attempt)* in one transaction, retried whole until it commits.

        With *notify*, the change feeds are woken once it has committed. Without
        *transaction*, *work* runs in autocommit mode (one statement: one round trip less).
        A retry after a lost connection may follow a commit that did happen: *work* must be
        idempotent. Raises UnavailableError if it cannot commit within the write deadline.
        """
        token = object()
        self._pending_writes[id(token)] = started = time.monotonic()
        attempt = 0
        try:
            while True:
                connection = None
                try:
                    connection = self.connection()
                    if transaction:
                        with connection.transaction():
                            result = work(connection, attempt)
                    else:
                        result = work(connection, attempt)
                    if notify:
                        self.notify()
                    return result
                except RETRYABLE as error:
                    last_error: BaseException = error
                except psycopg.OperationalError as error:
                    if connection is not None:
                        self._forget(connection)
                    last_error = error
                except UnavailableError as error:
                    if connection is not None:
                        raise  # from *work*, not from connecting
                    last_error = error
                except psycopg.Error as error:
                    raise self.unavailable(error, "write to") from None
                pause = RETRY_PAUSE_S[min(attempt, len(RETRY_PAUSE_S) - 1)]
                if time.monotonic() - started + pause > self.write_deadline_s:
                    if isinstance(last_error, UnavailableError):
                        raise last_error
                    raise self.unavailable(last_error, "write to")
                logger.debug("retrying a write to %s: %s", self.display_url,
                             self.describe(last_error))
                time.sleep(pause)
                attempt += 1
        finally:
            del self._pending_writes[id(token)]

    def notify(self) -> None:
        """Ask the notifier thread to wake every change feed (started on first use)."""
        with self._all_guard:
            if self._notifier is None or not self._notifier.is_alive():
                self._notifier = _Notifier(self)
                self._notifier.start()
            notifier = self._notifier
        notifier.wanted.set()

    def send_notification(self, connection: psycopg.Connection | None) -> psycopg.Connection | None:
        """Send one NOTIFY on *connection* (opened if None); return the connection, or None.

        A failure is logged only: the feeds look again every few seconds anyway.
        """
        try:
            connection = connection if connection is not None and not connection.closed \
                else self.connect()
            connection.execute(NOTIFY_SQL)
        except (psycopg.Error, UnavailableError) as error:
            logger.debug("could not notify the change feeds: %s", self.describe(error))
            if connection is not None:
                connection.close()
            return None
        return connection

    def oldest_write_s(self) -> float:
        """Return how long the oldest write of this process still running has taken (0: none)."""
        started = min(list(self._pending_writes.values()), default=None)
        return 0.0 if started is None else time.monotonic() - started

    def probe(self) -> tuple[bool, str]:
        """Return (ok, one-line detail) from a `SELECT 1`, answering within about 1 s."""
        with self._probe_guard:
            if self._probe is None or not self._probe.is_alive():
                self._probe = _HealthProbe(self)
                self._probe.start()
            probe = self._probe
        probe.join(HEALTH_TIMEOUT_S)
        if probe.is_alive():
            return False, f"PostgreSQL at {self.display_url} did not answer within 1 s"
        return probe.outcome

    def run_probe(self) -> tuple[bool, str]:
        """Run one `SELECT 1` on the health connection (in the probe's thread)."""
        try:
            if self._health_connection is None or self._health_connection.closed:
                self._health_connection = self.connect()
            self._health_connection.execute("SELECT 1").fetchall()
        except UnavailableError as error:
            return False, error.message
        except psycopg.Error as error:
            connection, self._health_connection = self._health_connection, None
            if connection is not None:
                connection.close()
            return False, self.unavailable(error, "reach").message
        return True, f"PostgreSQL at {self.display_url} answers"

    def close(self) -> None:
        """Close every connection; the object must not be used afterwards."""
        with self._all_guard:
            notifier, self._notifier = self._notifier, None
        if notifier is not None:
            notifier.stop()
        self.closed = True
        with self._all_guard:
            connections, self._all = self._all, []
        if self._health_connection is not None:
            connections.append(self._health_connection)
            self._health_connection = None
        for connection in connections:
            try:
                connection.close()
            except psycopg.Error:
                logger.debug("closing a connection failed", exc_info=True)
        self._local = threading.local()


class _Notifier(threading.Thread):
    """Sends the NOTIFY after writes, at most one every NOTIFY_INTERVAL_S.

    A write sets `wanted` after its commit; the thread clears it before sending, so every
    commit is followed by a notification (a burst of writes shares one).
    """

    def __init__(self, connections: Connections) -> None:
        super().__init__(name="mnemosyne-pg-notify", daemon=True)
        self.connections = connections
        self.wanted = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        connection = None
        try:
            while True:
                self.wanted.wait()
                self.wanted.clear()
                connection = self.connections.send_notification(connection)
                if self.stopping.wait(NOTIFY_INTERVAL_S):
                    if self.wanted.is_set():
                        self.connections.send_notification(connection)
                    return
        finally:
            if connection is not None:
                connection.close()

    def stop(self) -> None:
        """Send a last notification, then end the thread."""
        self.stopping.set()
        self.wanted.set()
        self.join(5)


class _HealthProbe(threading.Thread):
    """One health query in its own thread, so a silent server cannot block the caller."""

    def __init__(self, connections: Connections) -> None:
        super().__init__(name="mnemosyne-pg-health", daemon=True)
        self.connections = connections
        self.outcome: tuple[bool, str] = (False, "not probed yet")

    def run(self) -> None:
        self.outcome = self.connections.run_probe()


def first_value(connection: psycopg.Connection, sql: str, parameters: Any = None) -> Any:
    """Return the first column of the first row of *sql* (None when there is no row)."""
    row = connection.execute(sql, parameters).fetchone()
    return None if row is None else row[0]
