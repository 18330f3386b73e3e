"""One instance's view of the coordination directory, in the reference system's shape.

`CrossProcessCoordinator(root, instance_id, ...)` takes the instance's liveness lock and
registry entry (`register`), keeps it fresh (`heartbeat`), lists the others
(`active_processes`), removes the provably dead (`cleanup_stale_processes`), messages them
(`send_message`, `receive_messages`), claims branches (`claim_branch`) and leaves
(`unregister`). Registering an id that a live instance holds is refused.
Must not: run loops or threads; the daemon calls `heartbeat` on its own schedule.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from mnemosyne import __version__
from mnemosyne.coord.branches import BranchRegistry
from mnemosyne.coord.identity import process_start_time, this_host, validate_instance_id
from mnemosyne.coord.liveness import InstanceLock
from mnemosyne.coord.queue import Message, MessageQueue
from mnemosyne.coord.registry import InstanceView, ProcessRegistry, utc_timestamp
from mnemosyne.coord.root import CoordinationRoot

logger = logging.getLogger(__name__)

ENTRY_FIELDS = ("api_url", "worktree_path", "branch", "systemd_unit")
# Written only when given: `kind` says what runs as the instance ("mcp" for an MCP server).
OPTIONAL_ENTRY_FIELDS = ("kind",)


class CrossProcessCoordinator:
    """The coordination directory as seen by one instance."""

    def __init__(self, root: CoordinationRoot, instance_id: str, key: bytes,
                 stale_threshold_s: float = 30.0,
                 clock: Callable[[], float] = time.time, *,
                 message_size_cap: int = 1024, message_ttl_s: float = 300.0) -> None:
        self.root = root
        self.instance_id = validate_instance_id(instance_id)
        self.key = key
        self.clock = clock
        self.registry = ProcessRegistry(root, key, stale_threshold_s, clock)
        self.branches = BranchRegistry(self.registry)
        self.lock = InstanceLock(root.locks, instance_id)
        self.messages = MessageQueue(root, instance_id, key, max_bytes=message_size_cap,
                                     ttl_s=message_ttl_s)
        self.entry: dict[str, Any] | None = None
        self._last_read: dict[str, Any] | None = None

    def register(self, **fields: Any) -> dict[str, Any]:
        """Take the liveness lock and write this instance's entry; return the entry.

        *fields* sets api_url, worktree_path, branch, systemd_unit or kind.
        Raises ConflictError if a live instance already holds this id, UnsafeError if the
        registry file is a symbolic link or another user's (a running instance sets such a
        file aside instead), UnavailableError if it cannot be written.
        """
        unknown = set(fields) - set(ENTRY_FIELDS) - set(OPTIONAL_ENTRY_FIELDS)
        if unknown:
            raise TypeError(f"unknown registry fields: {sorted(unknown)}")
        self.lock.acquire()
        now = utc_timestamp(self.clock())
        pid = os.getpid()
        entry = {"instance_id": self.instance_id, "pid": pid,
                 "pid_start_time": process_start_time(pid), "hostname": this_host(),
                 "registered_at": now, "last_heartbeat": now, "version": __version__,
                 **dict.fromkeys(ENTRY_FIELDS), **fields}
        try:
            self.entry = self.registry.put(entry, refuse_unsafe=True)
        except BaseException:
            self.lock.release()
            raise
        logger.info("registered instance %s (pid %d)", self.instance_id, pid)
        return self.entry

    def update(self, **fields: Any) -> dict[str, Any]:
        """Change fields of this instance's entry (e.g. the API URL once bound)."""
        if self.entry is None:
            raise RuntimeError("update() before register()")
        unknown = set(fields) - set(ENTRY_FIELDS)
        if unknown:
            raise TypeError(f"unknown registry fields: {sorted(unknown)}")
        self.entry = self.registry.put({**self.entry, **fields})
        return self.entry

    def heartbeat(self) -> dict[str, Any]:
        """Refresh this instance's heartbeat, re-adding the entry if the file lost it.

        The registry read for it is kept: `active_processes(fresh=False)` judges the peers
        from it instead of reading the file again.
        """
        if self.entry is None:
            raise RuntimeError("heartbeat() before register()")
        self.entry, self._last_read = self.registry.put_and_read(
            {**self.entry, "last_heartbeat": utc_timestamp(self.clock())})
        return self.entry

    def send_message(self, to_agent: str | None, message_type: str,
                     payload: Any = None) -> Message:
        """Send to one instance, or to all others when *to_agent* is None (see queue.py)."""
        return self.messages.send(to_agent, message_type, payload)

    def receive_messages(self) -> list[Message]:
        """Return the messages that arrived for this instance since the last call."""
        return self.messages.receive()

    def claim_branch(self, branch: str, mode: str = "isolated",
                     intent: str = "full") -> dict[str, Any]:
        """Assign *branch* to this instance. Raises ConflictError if the rules refuse."""
        return self.branches.claim(branch, self.instance_id, mode, intent)

    def unregister(self) -> None:
        """Release this instance's branches, remove its entry and release its lock."""
        if self.entry is not None:
            self.branches.release(self.instance_id)
            self.registry.remove(self.instance_id)
            self.entry = None
            logger.info("unregistered instance %s", self.instance_id)
        self.lock.release()

    def instances(self) -> list[InstanceView]:
        """Return every registry entry, judged now."""
        return self.registry.views()

    def active_processes(self, fresh: bool = True) -> list[InstanceView]:
        """Return the live instances other than this one.

        With *fresh* False, judge the entries the last heartbeat read (if any) instead of
        reading the registry again: the main loop asks right after each heartbeat.
        """
        entries = None if fresh else self._last_read
        return [view for view in self.registry.views(entries, skip=self.instance_id)
                if view.state == "live" and view.instance_id != self.instance_id]

    def cleanup_stale_processes(self) -> list[str]:
        """Remove provably dead entries; return their ids. Hung (stale) ones are kept."""
        return self.registry.remove_dead()
