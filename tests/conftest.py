"""Shared fixtures: an isolated home, and the real CLI run as a subprocess."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.store import open_store
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from tests import postgres_server
from tests.helpers import CliResult, DaemonProcess, run_git


@pytest.fixture(scope="session", autouse=True)
def private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the user's real state directory out of tests that resolve default settings.

    Every coordination command records its root in `$XDG_STATE_HOME/mnemosyne/roots`; a
    test that builds settings without XDG_STATE_HOME would otherwise write there.
    """
    state = tmp_path_factory.mktemp("state-home")
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(state)
    try:
        yield state
    finally:
        if previous is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME and XDG directories are private to the test."""
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MNEMOSYNE_", "XDG_", "JOURNAL_STREAM", "NOTIFY_SOCKET",
                                  "INVOCATION_ID", "WATCHDOG_"))
           and key != "DATABASE_URL"}
    env.update(MNEMOSYNE_ROOT=str(tmp_path / "coord"),
               HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), XDG_STATE_HOME=str(home / ".local/state"),
               PYTHONUNBUFFERED="1")
    return env


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "mnemosyne.db"


@pytest.fixture
def cli(isolated_env: dict[str, str], db_path: Path, tmp_path: Path):
    """Run `python -m mnemosyne --db <db_path> ARGS...` and return a CliResult."""

    def run(*args: str, input: str | None = None, db: Path | None = db_path,
            env: dict[str, str] | None = None, prefix: tuple[str, ...] = (),
            timeout: float = 60, cwd: Path | None = None) -> CliResult:
        command = [*prefix, sys.executable, "-m", "mnemosyne"]
        if db is not None:
            command += ["--db", str(db)]
        completed = subprocess.run([*command, *args], input=input, capture_output=True,
                                   text=True, env={**isolated_env, **(env or {})},
                                   timeout=timeout, check=False, cwd=cwd or tmp_path)
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    run.root = Path(isolated_env["MNEMOSYNE_ROOT"])
    return run


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteBackend]:
    """A migrated store on a fresh database file."""
    database = Database.open(db_path)
    try:
        yield SqliteBackend(database)
    finally:
        database.close()


@pytest.fixture(scope="session")
def postgres_server_session() -> Iterator[postgres_server.PostgresServer]:
    """One real PostgreSQL 15 server for the whole run (tests/postgres_server.py).

    As root (CI), it runs as the system user `mnemosyne-pgtest`, created if absent.
    """
    postgres_server.require()
    with postgres_server.running_server() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server_session: postgres_server.PostgresServer) -> str:
    """The URL of the session server's maintenance database (`postgres`)."""
    return postgres_server_session.url()


@pytest.fixture
def postgres_database_url(postgres_server_session: postgres_server.PostgresServer,
                          request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh, empty database on the session server, dropped afterwards."""
    name = f"t_{os.getpid()}_{abs(hash(request.node.nodeid)) % 10**12}"
    postgres_server_session.drop_database(name)
    url = postgres_server_session.create_database(name)
    try:
        yield url
    finally:
        postgres_server_session.drop_database(name)


@pytest.fixture
def start_daemon(isolated_env: dict[str, str], db_path: Path, tmp_path: Path):
    """Start `mnemosyne serve` children; every one is stopped and reaped at teardown."""
    started: list[DaemonProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
              prefix: tuple[str, ...] = ()) -> DaemonProcess:
        command = [*prefix, sys.executable, "-m", "mnemosyne", "--db", str(db_path), "serve",
                   *args]
        daemon = DaemonProcess(command, {**isolated_env, **(env or {})}, cwd or tmp_path)
        started.append(daemon)
        return daemon

    try:
        yield start
    finally:
        for daemon in started:
            daemon.stop()


def pytest_runtest_makereport(item, call):
    """In CI (CI=true) a skipped test is a failure: every suite must really run there."""
    if call.excinfo is None or not call.excinfo.errisinstance(pytest.skip.Exception):
        return None
    if os.environ.get("CI", "").lower() not in ("true", "1", "yes"):
        return None
    reason = str(call.excinfo.value)
    report = pytest.TestReport.from_item_and_call(item, call)
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, which must run every test: {reason}"
    return report


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real repository with one commit on branch main and a subdirectory."""
    repo = tmp_path / "repo"
    (repo / "src" / "deep").mkdir(parents=True)
    run_git("init", "-q", "-b", "main", str(repo), cwd=tmp_path)
    (repo / "README").write_text("hello\n")
    (repo / "src" / "deep" / "code.py").write_text("x = 1\n")
    run_git("add", ".", cwd=repo)
    run_git("commit", "-q", "-m", "first", cwd=repo)
    return repo


@dataclasses.dataclass
class RunningApi:
    """An API started in this process (CherryPy is imported only by tests that use one)."""

    api: Any
    store: SqliteBackend

    @property
    def url(self) -> str:
        return self.api.url


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator:
    """Start APIs on 127.0.0.1:0 with settings overrides; all are stopped at teardown."""
    started: list[RunningApi] = []

    from mnemosyne.api.service import start_api  # noqa: PLC0415

    def make(instances=lambda: [], checks=(), **overrides) -> RunningApi:
        environ = {"XDG_CONFIG_HOME": str(tmp_path / "config"),
                   "XDG_DATA_HOME": str(tmp_path / "data")}
        flags = {"db_path": str(tmp_path / "m.db"), "api_addr": "127.0.0.1:0", **overrides}
        settings = resolve_settings(flags, environ=environ)
        store = open_store(settings)
        api = start_api(settings, "a1b2c3d4", store, instances, checks,
                        token=settings.api_token)
        assert api is not None
        running = RunningApi(api, store)
        started.append(running)
        return running

    yield make
    for running in started:
        running.api.stop()
        running.store.close()


@pytest.fixture
def running_api(make_api) -> RunningApi:
    return make_api()
