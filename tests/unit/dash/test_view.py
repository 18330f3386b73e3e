"""The screen: overview, events and registry panels, drawn as text."""

from __future__ import annotations

import time

from rich.console import Console

from mnemosyne.dash.state import DashboardState
from mnemosyne.dash.view import connection_text, format_uptime, render
from mnemosyne.dash.watcher import WatcherStatus


def draw(renderable) -> str:
    console = Console(record=True, width=140, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_screen_shows_instances_events_and_registry():
    live = WatcherStatus("http://127.0.0.1:3000", connected=True,
                         health={"instance_id": "a1b2c3d4", "status": "ok", "db": "ok",
                                 "uptime_s": 3725, "port": 3000, "subscribers": 2})
    down = WatcherStatus("http://127.0.0.1:3001", problem="connection refused",
                         retry_at=time.monotonic() + 4)
    state = DashboardState()
    state.add(live.url, {"type": "memory_stored", "instance_id": "a1b2c3d4",
                         "timestamp": "2026-11-28T07:00:01.000000Z",
                         "data": {"namespace": "global", "memory_id": "abcdef123",
                                  "preview": "[red]not markup[/red]"}})
    text = draw(render([live, down], state, [{"instance_id": "a1b2c3d4", "pid": 42,
                                              "state": "live"}]))
    assert "a1b2c3d4" in text and "LIVE" in text and "1h 02m 05s" in text
    assert "DOWN (connection refused, retry in" in text
    assert "memory_stored" in text and "[red]not markup[/red]" in text
    assert "07:00:01" in text and "Registry" in text and "42" in text
    assert "heartbeats hidden" in text and "q quit" in text


def test_helpers():
    assert format_uptime(None) == "-"
    assert format_uptime(65) == "1m 05s"
    assert str(connection_text(WatcherStatus("u", connected=True), 0)) == "LIVE"
    assert str(connection_text(WatcherStatus("u"), 0)) == "DOWN (connecting)"
