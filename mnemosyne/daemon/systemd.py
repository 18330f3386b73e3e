"""Everything that talks to systemd, and a no-op when not running under it.

sd_notify goes through the `sdnotify` package, wrapped to add what it lacks: it never reads
WATCHDOG_USEC or WATCHDOG_PID, and it encodes latin-1 strictly and silently drops a message
that does not fit (a STATUS with "→" would vanish), so STATUS text is made safe here first.
`ServiceManager.from_environment()` reads NOTIFY_SOCKET, WATCHDOG_*, INVOCATION_ID and the unit
name, then removes NOTIFY_SOCKET, WATCHDOG_* and LISTEN_* from the environment so that child
processes (git, editors an agent starts) do not inherit them.
`report_failure` is how the command line tells systemd why it exits with an error.
Must not: decide when to notify (daemon/main.py, loop.py and cli/main.py do); be needed off
systemd.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import struct
import time
from pathlib import Path

JOURNAL_SOCKET = Path("/run/systemd/journal/socket")
MAX_JOURNAL_MESSAGE = 48 * 1024
INHERITED_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                       "LISTEN_PID", "LISTEN_FDNAMES")
MAX_STATUS = 200


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


def under_systemd() -> bool:
    """Return True when a service manager started this process (not merely an ancestor)."""
    return bool(os.environ.get("INVOCATION_ID") or os.environ.get("NOTIFY_SOCKET"))


def safe_status(text: str) -> str:
    """Return *text* as one latin-1 line of at most 200 characters (what sdnotify can send)."""
    line = " ".join(text.split()).replace("→", "->").replace("—", "-")
    line = line.encode("latin-1", errors="replace").decode("latin-1")
    return line[:MAX_STATUS]


def unit_from_cgroup(cgroup_text: str) -> str | None:
    """Return the `*.service` unit named in /proc/self/cgroup text, if any."""
    for line in cgroup_text.splitlines():
        hierarchy, _, path = line.partition(":")[2].partition(":")
        if hierarchy in ("", "name=systemd"):
            for part in reversed(path.split("/")):
                if part.endswith(".service"):
                    return part
    return None


@dataclasses.dataclass
class ServiceManager:
    """The notify socket and watchdog this process was given (all absent off systemd)."""

    notifier: object | None = None
    watchdog_usec: int | None = None
    unit: str | None = None

    @classmethod
    def from_environment(cls) -> ServiceManager:
        """Read what systemd passed, connect the notify socket, and hide it from children."""
        environ = os.environ
        notifier = None
        if environ.get("NOTIFY_SOCKET"):
            import sdnotify  # noqa: PLC0415 - only under a service manager

            notifier = sdnotify.SystemdNotifier()
            if getattr(notifier, "socket", None) is None:
                notifier = None
            else:
                # Never block on a full notify queue: a dropped STATUS beats a hung daemon.
                notifier.socket.setblocking(False)
        watchdog = None
        usec = environ.get("WATCHDOG_USEC", "")
        watched_pid = environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not watched_pid
                                                  or watched_pid == str(os.getpid())):
            watchdog = int(usec)
        unit = None
        if environ.get("INVOCATION_ID"):
            try:
                unit = unit_from_cgroup(Path("/proc/self/cgroup").read_text())
            except OSError:
                unit = None
        for name in INHERITED_VARIABLES:
            environ.pop(name, None)
        return cls(notifier, watchdog, unit)

    @property
    def watchdog_interval_s(self) -> float | None:
        """Half of WatchdogSec: how often to send WATCHDOG=1, or None without a watchdog."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2e6

    def _send(self, *fields: str) -> None:
        if self.notifier is not None:
            self.notifier.notify("\n".join(fields))  # type: ignore[attr-defined]

    def ready(self, status: str) -> None:
        """READY=1: the store is open, the instance registered (and the API listening)."""
        self._send("READY=1", f"STATUS={safe_status(status)}")

    def status(self, text: str) -> None:
        """STATUS=: the one line `systemctl status` shows."""
        self._send(f"STATUS={safe_status(text)}")

    def reloading(self) -> None:
        """RELOADING=1 with MONOTONIC_USEC= (systemd >= 253 wants it); READY=1 ends it."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self._send("RELOADING=1", f"MONOTONIC_USEC={usec}", "STATUS=reloading")

    def stopping(self) -> None:
        """STOPPING=1: shutdown has begun."""
        self._send("STOPPING=1", "STATUS=stopping")

    def watchdog(self) -> None:
        """WATCHDOG=1: the loop, the database and the registry heartbeat are healthy."""
        self._send("WATCHDOG=1")

    def close(self) -> None:
        """Close the notify socket."""
        sock = getattr(self.notifier, "socket", None)
        if sock is not None:
            sock.close()
        self.notifier = None

    def failed(self, reason: str, errno: int | None = None) -> None:
        """STATUS= with why start-up failed, and ERRNO= when an OS error caused it."""
        fields = [f"STATUS=failed: {safe_status(reason)}"]
        if errno is not None:
            fields.append(f"ERRNO={errno}")
        self._send(*fields)


class JournalHandler(logging.Handler):
    """Log records to journald's native socket, each with MNEMOSYNE_INSTANCE and its priority.

    LogExtraFields= would add the field, but a user manager does not export it to journald
    (seen with systemd 252), so the daemon sets it itself. Records need the attributes that
    logs.InstanceContextFilter adds.
    """

    def __init__(self, identifier: str, path: Path | None = None) -> None:
        super().__init__()
        self.identifier = identifier
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            self.socket.connect(str(path or JOURNAL_SOCKET))
        except OSError:
            self.socket.close()
            raise

    def emit(self, record: logging.LogRecord) -> None:
        """Send one record as a native journal entry."""
        try:
            message = self.format(record)[:MAX_JOURNAL_MESSAGE]
            fields = {"MESSAGE": message, "PRIORITY": str(record.priority),  # type: ignore[attr-defined]
                      "SYSLOG_IDENTIFIER": self.identifier, "LOGGER": record.name,
                      "CODE_FILE": record.pathname, "CODE_LINE": str(record.lineno),
                      "CODE_FUNC": record.funcName}
            fields["MNEMOSYNE_INSTANCE"] = getattr(record, "instance_id", None) or None
            self.socket.send(journal_entry(fields))
        except Exception:  # noqa: BLE001 - logging must never raise; Handler reports it
            self.handleError(record)

    def close(self) -> None:
        """Close the socket."""
        self.socket.close()
        super().close()


def journal_entry(fields: dict[str, str | None]) -> bytes:
    """Encode a native journal entry; fields whose value is None are left out."""
    return b"".join(_journal_field(key, str(value)) for key, value in fields.items()
                    if value is not None)


def instance_of_unit(unit: str | None) -> str | None:
    """Return the instance part of a templated unit's name (`%i`), or None."""
    prefix, at, rest = (unit or "").partition("@")
    return rest.rsplit(".", 1)[0] or None if prefix and at else None


def report_failure(line: str, reason: str, errno: int | None = None) -> str | None:
    """Tell systemd why this process is about to fail; return what to print on stderr.

    Sends STATUS=failed: *reason* (and ERRNO=) if the notify socket is still there (serve
    sends it itself, and hides the socket). When stderr is the journal stream, *line* is
    written to the journal natively at priority err with MNEMOSYNE_INSTANCE (the instance
    of the mnemosyne@ unit; a user manager does not apply LogExtraFields=), and None is
    returned; if that fails, *line* comes back with the `<3>` priority prefix.
    """
    manager = ServiceManager.from_environment()
    manager.failed(reason, errno)
    manager.close()
    if not stderr_is_journal():
        return line
    fields = {"MESSAGE": line, "PRIORITY": "3", "SYSLOG_IDENTIFIER": "mnemosyne",
              "MNEMOSYNE_INSTANCE": instance_of_unit(manager.unit)}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(str(JOURNAL_SOCKET))
            sock.send(journal_entry(fields))
    except OSError:
        return f"<3>{line}"
    return None


def _journal_field(key: str, value: str) -> bytes:
    """Encode one field of the native protocol (length-prefixed when it spans lines)."""
    data = value.encode("utf-8", errors="replace")
    if b"\n" not in data:
        return key.encode("ascii") + b"=" + data + b"\n"
    return key.encode("ascii") + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"


def journal_handler(identifier: str) -> JournalHandler | None:
    """Return a native journal handler if journald's socket is there, else None."""
    try:
        return JournalHandler(identifier)
    except OSError:
        return None
