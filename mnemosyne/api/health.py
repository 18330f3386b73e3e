"""GET /health: a fast, truthful answer without CherryPy's dispatch.

"ok" means the database can be written and the instance's main loop is keeping its heartbeat;
otherwise 503 with status "degraded" and the problems found. The database check is a handful
of system calls (the file is still the one we opened, it and its directory are writable, the
disk has room), repeated at most every quarter second, so a database that turns read-only
shows within a second without /health ever waiting on a database lock, and a rendered answer is
reused for 50 ms so that a flood of health checks costs almost nothing.
Must not: open transactions (a health check must not queue behind writers).
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mnemosyne import __version__
from mnemosyne.api.events import EventHub
from mnemosyne.api.responses import json_response, rendered

CHECK_EVERY_S = 0.25
# A rendered answer is reused this long: under load /health costs a dictionary lookup, not a
# check and a JSON encoding; a change still shows within CHECK_EVERY_S + ANSWER_REUSE_S.
ANSWER_REUSE_S = 0.05
MIN_FREE_BYTES = 1024 * 1024

Check = Callable[[], str | None]


class DatabaseProbe:
    """Whether the database file can still be written; cheap, cached briefly."""

    def __init__(self, db_path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = db_path
        self.clock = clock
        status = os.stat(db_path)
        self.identity = (status.st_dev, status.st_ino)
        self._checked_at = -float("inf")
        self._problem: str | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str | None:
        """Return what is wrong with the database, or None if it is writable."""
        now = self.clock()
        if now - self._checked_at >= CHECK_EVERY_S and self._lock.acquire(blocking=False):
            try:
                self._problem = self.inspect()
                self._checked_at = now
            finally:
                self._lock.release()
        return self._problem

    def inspect(self) -> str | None:
        """Check now (uncached)."""
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            return f"database file {self.path} was removed"
        except OSError as error:
            return f"cannot stat the database file: {error.strerror}"
        if (status.st_dev, status.st_ino) != self.identity:
            return f"database file {self.path} was replaced by another file"
        for path in (self.path, self.path.parent):
            if not os.access(path, os.W_OK):
                kind = "directory" if path == self.path.parent else "file"
                reason = "is read-only" if _read_only_fs(path) else "is not writable"
                return f"database {kind} {path} {reason}"
        try:
            space = os.statvfs(self.path.parent)
        except OSError as error:
            return f"cannot check free space: {error.strerror}"
        if space.f_bavail * space.f_frsize < MIN_FREE_BYTES:
            return f"no space left for the database in {self.path.parent}"
        return None


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError as error:
        return error.errno == errno.EROFS


class HealthEndpoint:
    """The WSGI application behind GET /health."""

    def __init__(self, hub: EventHub, port: int, database: Check,
                 checks: tuple[Check, ...] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hub = hub
        self.port = port
        self.database = database
        self.checks = checks
        self.clock = clock
        self.started = clock()
        self._answer: tuple[float, str, list[tuple[str, str]], bytes] | None = None

    def report(self) -> tuple[int, dict[str, Any]]:
        """Return the status code and the health document."""
        db_problem = self.database()
        problems = [problem for problem in (db_problem, *(check() for check in self.checks))
                    if problem]
        body: dict[str, Any] = {
            "status": "degraded" if problems else "ok",
            "version": __version__,
            "instance_id": self.hub.instance_id,
            "subscribers": self.hub.subscribers,
            "uptime_s": round(self.clock() - self.started, 3),
            "port": self.port,
            "db": "error" if db_problem else "ok",
        }
        if problems:
            body["problems"] = problems
        return (503 if problems else 200), body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer one /health request."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return json_response(start_response, 405, {"error": "use GET for /health"},
                                 [("Allow", "GET, HEAD")])
        now = self.clock()
        answer = self._answer
        if answer is None or now - answer[0] >= ANSWER_REUSE_S:
            code, body = self.report()
            answer = (now, *rendered(code, body))
            self._answer = answer
        _, status, headers, data = answer
        start_response(status, headers)
        return [data]
