"""Everything that talks to systemd, and a no-op when not running under it.

Must not: be needed off systemd; every function here degrades to doing nothing.
"""

from __future__ import annotations

import os


def stderr_is_journal() -> bool:
    """Return True when fd 2 is the journal stream systemd connected (`JOURNAL_STREAM`)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        status = os.fstat(2)
    except OSError:
        return False
    return status.st_dev == int(device) and status.st_ino == int(inode)
