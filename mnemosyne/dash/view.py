"""Draw the dashboard with rich: instance overview, live events, the instance registry.

Every value from the network is shown as plain text (rich markup in event data is escaped).
Must not: fetch anything; it draws what it is given.
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mnemosyne.dash.state import DashboardState
from mnemosyne.dash.watcher import WatcherStatus

KEYS_HELP = "keys: f next event type · h heartbeats · q quit"
TYPE_STYLES = {"memory_stored": "green", "memory_deleted": "red", "memory_updated": "yellow",
               "memory_recalled": "cyan", "lagged": "bold red", "peer_joined": "blue",
               "peer_left": "magenta", "instance_stopping": "red", "heartbeat": "dim"}


def format_uptime(seconds: float | None) -> str:
    """Return e.g. '1h 02m 03s'."""
    if seconds is None:
        return "-"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def connection_text(status: WatcherStatus, now: float) -> Text:
    """Return LIVE, or DOWN with the reason and the retry countdown."""
    if status.connected:
        return Text("LIVE", style="bold green")
    retry = ""
    if status.retry_at is not None:
        retry = f", retry in {max(0.0, status.retry_at - now):.0f}s"
    return Text(f"DOWN ({status.problem or 'connecting'}{retry})", style="bold red")


def overview_table(statuses: list[WatcherStatus]) -> Table:
    """Return the instance overview: one row per watched instance."""
    table = Table(expand=True, box=None, header_style="bold")
    for column in ("INSTANCE", "URL", "STREAM", "HEALTH", "DB", "UPTIME", "PORT", "SUBS"):
        table.add_column(column, overflow="fold")
    now = time.monotonic()
    for status in statuses:
        health: dict[str, Any] = status.health or {}
        state = health.get("status", "unreachable")
        table.add_row(escape(str(health.get("instance_id", "?"))), escape(status.url),
                      connection_text(status, now),
                      Text(str(state), style="green" if state == "ok" else "bold red"),
                      escape(str(health.get("db", "-"))),
                      format_uptime(health.get("uptime_s")), str(health.get("port", "-")),
                      str(health.get("subscribers", "-")))
    return table


def events_table(state: DashboardState, rows: int, several: bool) -> Table:
    """Return the newest visible events (newest first)."""
    table = Table(expand=True, box=None, header_style="bold")
    table.add_column("TIME", no_wrap=True)
    if several:
        table.add_column("INSTANCE", no_wrap=True)
    table.add_column("TYPE", no_wrap=True)
    table.add_column("DETAILS", overflow="ellipsis", no_wrap=True)
    for row in state.visible(rows):
        stamp = str(row.envelope.get("timestamp", ""))[11:19]
        cells = [stamp]
        if several:
            cells.append(escape(str(row.envelope.get("instance_id", "?"))))
        cells += [Text(row.type, style=TYPE_STYLES.get(row.type, "")), Text(row.summary())]
        table.add_row(*cells)
    return table


def registry_table(views: list[dict[str, Any]] | None) -> Table:
    """Return the registry as the instances report it."""
    table = Table(expand=True, box=None, header_style="bold")
    for column in ("ID", "PID", "STATE", "API", "BRANCH", "UNIT"):
        table.add_column(column, overflow="fold")
    for view in views or []:
        table.add_row(*(escape(str(view.get(field) or "-")) for field in
                        ("instance_id", "pid", "state", "api_url", "branch", "systemd_unit")))
    return table


def render(statuses: list[WatcherStatus], state: DashboardState,
           registry: list[dict[str, Any]] | None, event_rows: int = 15) -> Group:
    """Return the whole screen."""
    return Group(
        Panel(overview_table(statuses), title="Instances watched", title_align="left"),
        Panel(events_table(state, event_rows, len(statuses) > 1),
              title=f"Live events ({state.filter.describe()})", title_align="left"),
        Panel(registry_table(registry), title="Registry", title_align="left"),
        Text(KEYS_HELP, style="dim"),
    )
