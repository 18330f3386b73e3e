"""GET /health: a fast, truthful answer without CherryPy's dispatch.

"ok" means the database can be written and the instance's main loop is keeping its heartbeat;
otherwise 503 with status "degraded" and the problems found. The database check is the
backend's `health()` (SQLite: a handful of system calls, store/sqlite/writehealth.py: the file is
still the one we opened, it, its -wal, -shm and -lock files and its directory are writable,
the disk has room, SQLite's write lock is not held past 5 s without a commit, no write of ours
has waited that long; PostgreSQL: a query answered within about a second), repeated at most
every quarter second by one request at a time (the others use the last answer), so a database
that turns read-only or a server that stops shows within a second without /health ever
waiting on a database lock, and a rendered answer is reused for 50 ms so that a flood of
health checks costs almost nothing.
A caller without the token (front.py marks the request) gets the same status and fields but
not the problem list, which can name files: it learns that the instance is degraded, not why.
Must not: open transactions (a health check must not queue behind writers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mnemosyne import __version__
from mnemosyne.api.events import EventHub
from mnemosyne.api.responses import json_response, rendered
from mnemosyne.store.backend import DatabaseHealth

CHECK_EVERY_S = 0.25
# A rendered answer is reused this long: under load /health costs a dictionary lookup, not a
# check and a JSON encoding; a change still shows within CHECK_EVERY_S + ANSWER_REUSE_S.
ANSWER_REUSE_S = 0.05

Check = Callable[[], str | None]


class DatabaseProbe:
    """Whether the database can be written right now (the backend's `health`), cached briefly."""

    def __init__(self, health: Callable[[], DatabaseHealth],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.health = health
        self.clock = clock
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
        health = self.health()
        return None if health.ok else health.detail


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
        self._answers: dict[bool, tuple[float, str, list[tuple[str, str]], bytes]] = {}

    def report(self, private: bool = True) -> tuple[int, dict[str, Any]]:
        """Return the status code and the health document (problems only if *private*)."""
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
        if problems and private:
            body["problems"] = problems
        return (503 if problems else 200), body

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer one /health request."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return json_response(start_response, 405, {"error": "use GET for /health"},
                                 [("Allow", "GET, HEAD")])
        private = environ.get("mnemosyne.authenticated", True)
        now = self.clock()
        answer = self._answers.get(private)
        if answer is None or now - answer[0] >= ANSWER_REUSE_S:
            code, body = self.report(private)
            answer = (now, *rendered(code, body))
            self._answers[private] = answer
        _, status, headers, data = answer
        start_response(status, headers)
        return [data]
