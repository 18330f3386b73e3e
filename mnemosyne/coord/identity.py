"""Who an instance is: its 8-hex-digit id, and facts about a process that cannot be faked.

A PID alone is reused by the kernel; the PID together with the process's start time (field 22 of
/proc/PID/stat, in clock ticks since boot) names one process for the machine's whole uptime.
Must not: touch the coordination directory.
"""

from __future__ import annotations

import os
import re
import socket
import uuid

from mnemosyne.errors import UsageError

INSTANCE_ID_RE = re.compile(r"[0-9a-f]{8}")


def new_instance_id() -> str:
    """Return a fresh instance id: 8 lowercase hex digits from a uuid4."""
    return uuid.uuid4().hex[:8]


def validate_instance_id(raw: str) -> str:
    """Return *raw* if it is 8 lowercase hex digits. Raises UsageError otherwise."""
    if not isinstance(raw, str) or not INSTANCE_ID_RE.fullmatch(raw):
        raise UsageError(f"invalid instance id {raw!r}: use 8 lowercase hex digits, "
                         "e.g. a1b2c3d4")
    return raw


def process_start_time(pid: int) -> int | None:
    """Return the start time of process *pid* in clock ticks since boot, or None if it is gone.

    A zombie (exited, not yet reaped by its parent) counts as gone.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        if fields[0] in (b"Z", b"X"):  # field 3: state
            return None
        return int(fields[19])  # field 22 overall; fields[0] here is field 3
    except (IndexError, ValueError):
        return None


def process_is_running(pid: int, start_time: int | None) -> bool:
    """Return True if *pid* exists and, when *start_time* is given, is that same process.

    EPERM from `kill(pid, 0)` means the process exists but is another user's: alive.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    current = process_start_time(pid)
    if current is None and os.path.exists(f"/proc/{pid}"):
        return False  # a zombie: it has exited
    return start_time is None or current == start_time


def this_host() -> str:
    """Return this machine's host name, as registry entries record it."""
    return socket.gethostname()
