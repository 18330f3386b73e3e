"""A real PostgreSQL 15 server for tests and benchmarks, started by the test run itself.

`initdb` and `pg_ctl` (Debian's postgresql-15, under /usr/lib/postgresql/15/bin) make a
cluster in a fresh temporary directory; the server listens only on a Unix socket in that
directory (`listen_addresses = ''`), so parallel runs never collide on a port.

PostgreSQL refuses to run as root. When the tests run as root (CI does), the server runs as
the system user `mnemosyne-pgtest`, created with `useradd --system` if it does not exist yet
(a machine-wide resource, created once and shared by parallel runs; it owns only the
temporary cluster directories). Otherwise the server runs as the current user.

Local connections use `trust`, except the role PASSWORD_ROLE, which must give its password
(SCRAM): the tests that check that a password never shows use it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path("/usr/lib/postgresql/15/bin")
TEST_USER = "mnemosyne-pgtest"
SUPERUSER = "mnemosyne_test"
PASSWORD_ROLE = "mnemosyne_secret"
PORT = 5432  # only names the socket file: there is no TCP listener


def available() -> bool:
    """Return True if the PostgreSQL 15 server binaries are installed."""
    return all((BIN / name).exists() for name in ("initdb", "pg_ctl", "postgres"))


def require() -> None:
    """Skip the test without PostgreSQL 15; in CI (CI=true), where .ci/run installs it, fail."""
    if available():
        return
    reason = f"PostgreSQL 15 is not installed ({BIN}): apt-get install postgresql-15"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _server_user() -> str | None:
    """Return the user to run the server as (None: the current one); create it if needed."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        pwd.getpwnam(TEST_USER)
        return TEST_USER
    result = subprocess.run(["useradd", "--system", "--no-create-home",
                             "--shell", "/usr/sbin/nologin", TEST_USER],
                            capture_output=True, text=True, check=False)
    # 9: a parallel run created it first.
    if result.returncode not in (0, 9):
        raise RuntimeError(f"cannot create the user {TEST_USER}: {result.stderr.strip()}")
    return TEST_USER


class PostgresServer:
    """One throw-away cluster; `start()`, then `stop()` (always, in a finally)."""

    def __init__(self, fsync: bool = False) -> None:
        """Prepare a cluster directory; *fsync* False is faster and safe unless the OS crashes."""
        self.user = _server_user()
        self.directory = Path(tempfile.mkdtemp(prefix="mnemosyne-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.fsync = fsync
        self.started = False
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)

    def _run(self, *command: str, check: bool = True,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a server tool as the server's user."""
        extra = {}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            extra = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        environment = {"PATH": f"{BIN}:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
                       "HOME": str(self.directory)}
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                timeout=timeout, env=environment, cwd=self.directory, **extra)
        if check and result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): "
                               f"{result.stdout}{result.stderr}\n{log}")
        return result

    def initialize(self) -> None:
        """Create the cluster and its configuration."""
        self._run(str(BIN / "initdb"), "--pgdata", str(self.data), "--username", SUPERUSER,
                  "--auth-local", "trust", "--auth-host", "reject", "--encoding", "UTF8",
                  "--locale", "C.UTF-8", "--no-sync")
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.directory}'",
            "port": str(PORT),
            "max_connections": "200",
            "fsync": "on" if self.fsync else "off",
            # Always on: a commit is written to the WAL before it is acknowledged, so a
            # `pg_ctl stop -m immediate` loses nothing (the OS keeps what fsync skips).
            "synchronous_commit": "on",
            "full_page_writes": "on" if self.fsync else "off",
            "shared_buffers": "128MB",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        (self.data / "pg_hba.conf").write_text(
            f"local all {PASSWORD_ROLE} scram-sha-256\nlocal all all trust\n")

    def start(self) -> None:
        """Initialize (once) and start the server; wait until it accepts connections."""
        if not self.data.exists():
            self.initialize()
        self._run(str(BIN / "pg_ctl"), "--pgdata", str(self.data), "--log", str(self.log),
                  "--wait", "--timeout", "60", "start")
        self.started = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: clean; `immediate`: as if it crashed)."""
        if not self.started:
            return
        self._run(str(BIN / "pg_ctl"), "--pgdata", str(self.data), "--mode", mode, "--wait",
                  "--timeout", "60", "stop", check=False)
        self.started = False

    def crash_and_restart(self, down_s: float = 0.0) -> None:
        """Stop the server with `-m immediate`, wait *down_s* seconds, start it again."""
        self.stop("immediate")
        time.sleep(down_s)
        self.start()

    def remove(self) -> None:
        """Stop the server if it runs and delete its directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres", user: str = SUPERUSER,
            password: str | None = None) -> str:
        """Return a postgresql:// URL for *database* over this server's Unix socket."""
        credentials = user if password is None else \
            f"{user}:{urllib.parse.quote(password, safe='')}"
        host = urllib.parse.quote(str(self.directory), safe="")
        return f"postgresql://{credentials}@/{database}?host={host}&port={PORT}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run *sql* with psql as the superuser; return its output. Raises RuntimeError."""
        result = self._run(str(BIN / "psql"), "--no-psqlrc", "--quiet", "--tuples-only",
                           "--no-align", "--set", "ON_ERROR_STOP=1", "--host",
                           str(self.directory), "--port", str(PORT), "--username", SUPERUSER,
                           "--dbname", database, "--command", sql)
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        """Create an empty database *name*; return its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database *name*, disconnecting whoever still uses it."""
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def pgbench(self, *arguments: str, database: str = "postgres",
                timeout: float = 600) -> str:
        """Run pgbench against *database*; return its standard output. Raises RuntimeError."""
        return self._run(str(BIN / "pgbench"), "--host", str(self.directory), "--port",
                         str(PORT), "--username", SUPERUSER, *arguments, database,
                         timeout=timeout).stdout


@contextlib.contextmanager
def running_server(fsync: bool = False) -> Iterator[PostgresServer]:
    """Start a server for the duration of the block; always stop and remove it."""
    server = PostgresServer(fsync=fsync)
    try:
        server.start()
        yield server
    finally:
        server.remove()
