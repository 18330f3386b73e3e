"""Run the dashboard: a live screen with keys, or one JSON snapshot for scripts.

The live screen redraws four times a second from what the watchers collected; keys are read
in cbreak mode when standard input is a terminal (f: next event type, h: heartbeats, q: quit).
Must not: print (the command line prints snapshots) or exit the process.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import sys
import termios
import time
import tty
from collections.abc import Iterator
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live

from mnemosyne.dash.sse_client import get_json
from mnemosyne.dash.state import DashboardState, EventFilter
from mnemosyne.dash.view import render
from mnemosyne.dash.watcher import REQUEST_TIMEOUT_S, InstanceWatcher, fetch_health

REFRESH_S = 0.25
REGISTRY_EVERY_S = 2.0
SNAPSHOT_EVENTS = 50


@contextlib.contextmanager
def keys_from(stream: TextIO) -> Iterator[int | None]:
    """Yield stdin's descriptor in cbreak mode (None when it is not a terminal)."""
    if not stream.isatty():
        yield None
        return
    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def read_keys(fd: int | None, timeout_s: float) -> str:
    """Wait up to *timeout_s* for keys; return those pressed ('' for none, 'q' at EOF)."""
    if fd is None:
        time.sleep(timeout_s)
        return ""
    ready, _, _ = select.select([fd], [], [], timeout_s)
    if not ready:
        return ""
    data = os.read(fd, 64)
    return data.decode(errors="replace").lower() if data else "q"


def fetch_registry(urls: list[str], token: str | None) -> list[dict[str, Any]] | None:
    """Return /instances from the first instance that answers, or None."""
    for url in urls:
        try:
            views = get_json(url, "/instances", REQUEST_TIMEOUT_S, token)
        except (OSError, ValueError, http.client.HTTPException):
            continue
        if isinstance(views, list):
            return views
    return None


def run_live(urls: list[str], token: str | None, initial_filter: EventFilter,
             console: Console | None = None, stdin: TextIO = sys.stdin) -> int:
    """Show the live dashboard until q (or Ctrl-C); return the exit status (0)."""
    console = console or Console()
    state = DashboardState(initial_filter)
    watchers = [InstanceWatcher(url, state.add, token) for url in urls]
    for watcher in watchers:
        watcher.start()
    registry: list[dict[str, Any]] | None = None
    next_registry = 0.0
    rows = max(5, console.height - 20)
    try:
        with keys_from(stdin) as fd, Live(console=console, screen=True,
                                           auto_refresh=False) as live:
            while True:
                if time.monotonic() >= next_registry:
                    registry = fetch_registry(urls, token) or registry
                    next_registry = time.monotonic() + REGISTRY_EVERY_S
                live.update(render([w.status for w in watchers], state, registry, rows),
                            refresh=True)
                for key in read_keys(fd, REFRESH_S):
                    if key == "q":
                        return 0
                    if key == "f":
                        state.cycle_type()
                    elif key == "h":
                        state.toggle_heartbeats()
    finally:
        for watcher in watchers:
            watcher.stop()


def snapshot(urls: list[str], token: str | None) -> tuple[dict[str, Any], bool]:
    """Return one snapshot of every instance, and whether all of them answered."""
    instances = []
    for url in urls:
        health = fetch_health(url, token)
        try:
            events = get_json(url, f"/events/recent?limit={SNAPSHOT_EVENTS}",
                              REQUEST_TIMEOUT_S, token) if health else []
        except (OSError, ValueError, http.client.HTTPException):
            events = []
        instances.append({"url": url, "reachable": health is not None, "health": health,
                          "events": events})
    registry = fetch_registry(urls, token)
    everyone = all(instance["reachable"] for instance in instances)
    return {"instances": instances, "registry": registry}, everyone
