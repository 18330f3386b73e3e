"""Configure logging once for every command: stderr, journald-aware, instance-tagged.

When stderr is the journal's stream (systemd sets `JOURNAL_STREAM` to its device and inode),
records go to journald's native socket with their priority and a MNEMOSYNE_INSTANCE field
(daemon/systemd.py), or, failing that, to stderr as lines starting with the syslog priority
`<N>` and no timestamp (journald adds one); otherwise lines read
`2026-01-31T12:00:00Z INFO message`. Records carry the instance id when a
daemon sets one with `set_instance_context`, shown as `[a1b2c3d4]`.
Must not: be called from library code; only `mnemosyne.cli` configures logging.
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

SYSLOG_PRIORITIES = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}
LEVEL_NAMES = {"warning": "WARN"}


def syslog_priority(levelno: int) -> int:
    """Map a logging level number to the nearest syslog priority (0 = emerg .. 7 = debug)."""
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if levelno >= threshold:
            return SYSLOG_PRIORITIES[threshold]
    return SYSLOG_PRIORITIES[logging.DEBUG]


class InstanceContextFilter(logging.Filter):
    """Adds `instance_prefix` ('[id] ' or '') to every record passing through a handler."""

    def __init__(self) -> None:
        super().__init__()
        self.instance_id: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the prefix, the id and the syslog priority; never drops a record."""
        record.instance_prefix = f"[{self.instance_id}] " if self.instance_id else ""
        record.instance_id = self.instance_id
        record.priority = syslog_priority(record.levelno)
        return True


class JournalFormatter(logging.Formatter):
    """`<N>[id] message`: priority prefix for journald, no timestamp."""

    def format(self, record: logging.LogRecord) -> str:
        """Format *record*, prefixing every line of a multi-line message with the priority."""
        message = super().format(record)
        priority = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(priority + line for line in message.split("\n"))


class ConsoleFormatter(logging.Formatter):
    """`2026-01-31T12:00:00Z INFO [id] message`, in UTC as the seed's examples show."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        """Format *record* with the short level name."""
        record.levelshort = LEVEL_NAMES.get(record.levelname.lower(), record.levelname)
        return super().format(record)


_CONTEXT = InstanceContextFilter()


def configure_logging(level: str, stream: TextIO, journal: bool,
                      native: logging.Handler | None = None) -> None:
    """Send every mnemosyne log record at *level* or above to *stream*.

    *journal* (stderr is journald's stream) selects *native*, a handler writing to journald's
    own socket that the caller made (daemon/systemd.py), or without one the `<N>` priority
    format on *stream*.
    """
    handler: logging.Handler = logging.StreamHandler(stream)
    if journal:
        handler = native or handler
        formatter: logging.Formatter = logging.Formatter("%(instance_prefix)s%(message)s")
        if isinstance(handler, logging.StreamHandler):
            formatter = JournalFormatter("%(instance_prefix)s%(message)s")
        handler.setFormatter(formatter)
    else:
        handler.setFormatter(ConsoleFormatter(
            "%(asctime)s %(levelshort)s %(instance_prefix)s%(message)s",
            datefmt="%Y-%m-%dT%H:%M:%SZ"))
    handler.addFilter(_CONTEXT)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if getattr(old, "made_by_mnemosyne", False):
            old.close()
    handler.made_by_mnemosyne = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())


def set_log_level(level: str) -> None:
    """Change the level at run time (SIGHUP reload)."""
    logging.getLogger().setLevel(level.upper())


def set_instance_context(instance_id: str | None) -> None:
    """Tag every later log line with *instance_id* (None removes the tag)."""
    _CONTEXT.instance_id = instance_id
