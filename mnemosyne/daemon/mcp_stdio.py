"""Run `mnemosyne mcp`: an MCP server on stdin/stdout for one agent, registered as an instance.

It opens the shared store (no daemon needed), registers a new instance id (or the given one)
of kind "mcp" with the working directory's worktree and branch, so `instances` and the
dashboards show the agent, and answers JSON-RPC lines until stdin closes or SIGTERM/SIGINT
(exit status 0). The registry heartbeat runs from the same loop, between messages, and also
collects the instance's new messages for the `inbox` tool (so none expire in the queue). The
default namespace of its tools is `project:<name of the main worktree's directory>` inside a
git repository, else `global`. Nothing but JSON-RPC is written to stdout: logs go to stderr.
Must not: print; stdio.py writes the protocol, logging the rest.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import BinaryIO

from mnemosyne.config import Settings
from mnemosyne.coord.context import make_coordinator
from mnemosyne.coord.identity import new_instance_id, validate_instance_id
from mnemosyne.coord.root import GitLocation, locate_git
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.errors import MnemosyneError
from mnemosyne.logs import set_instance_context
from mnemosyne.mcp.server import McpServer, McpSession, project_namespace
from mnemosyne.mcp.stdio import serve_stdio
from mnemosyne.store import open_store

logger = logging.getLogger(__name__)

INSTANCE_KIND = "mcp"


def current_branch(location: GitLocation | None) -> str | None:
    """Return the branch checked out where *location* is, or None (detached, unreadable)."""
    if location is None:
        return None
    dot_git = location.top / ".git"
    try:
        if dot_git.is_dir():
            head = dot_git / "HEAD"
        else:
            gitdir = Path(dot_git.read_text(encoding="utf-8").strip().removeprefix("gitdir:")
                          .strip())
            head = (gitdir if gitdir.is_absolute() else location.top / gitdir) / "HEAD"
        text = head.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    branch = text.removeprefix("ref: refs/heads/") if text.startswith("ref: refs/heads/") else None
    return branch if branch and len(branch) <= 255 else None


def run_mcp_stdio(settings: Settings, instance_id: str | None = None,
                  start: Path | None = None, output: BinaryIO | None = None) -> int:
    """Serve MCP on stdin/stdout until stdin closes or SIGTERM/SIGINT; return 0.

    Raises UsageError for a bad id, ConflictError if a live instance holds it, UnsafeError
    or UnavailableError if the coordination root or the store cannot be used.
    """
    instance_id = new_instance_id() if instance_id is None else validate_instance_id(instance_id)
    set_instance_context(instance_id)
    start = Path.cwd() if start is None else start
    location = locate_git(start)
    session = McpSession(default_namespace=project_namespace(location))
    signals = SignalQueue()
    signals.install()
    try:
        with open_store(settings, batch_access_counts=True) as store:
            coordinator = make_coordinator(settings, instance_id, start)
            coordinator.register(kind=INSTANCE_KIND, branch=current_branch(location),
                                 worktree_path=str(location.top) if location else None)
            session.coordinator = coordinator
            try:
                session.collect_messages()
                logger.info("MCP server on stdio: instance %s, namespace %s, root %s",
                            instance_id, session.default_namespace, coordinator.root.path)

                def stop_requested() -> bool:
                    return any(signum in (signal.SIGTERM, signal.SIGINT)
                               for signum in signals.pending())

                reason = serve_stdio(McpServer(store), session, sys.stdin.fileno(),
                                     output or sys.stdout.buffer, wakeup=signals,
                                     stop_requested=stop_requested,
                                     on_idle=lambda: heartbeat(session),
                                     idle_interval_s=settings.heartbeat_interval_s)
                logger.info("MCP server ends: %s", reason)
            finally:
                coordinator.unregister()
    finally:
        signals.restore()
    return 0


def heartbeat(session: McpSession) -> None:
    """Refresh the registry entry and collect new messages for the `inbox` tool.

    A failure is logged and the server goes on (the next turn retries).
    """
    try:
        if session.coordinator is not None:
            session.coordinator.heartbeat()
        session.collect_messages()
    except (MnemosyneError, OSError) as error:
        logger.warning("heartbeat failed: %s", error)
