"""The coordination queue: one signed file per message in `coordination_queue/`.

A message is published by writing a hidden temporary file and renaming it to
`<time ns>-<from>-<to|all>-<random>.json`: readers see whole messages only, names sort by send
time, and a receiver picks its own by name without opening the others. Delivery:
- direct (to one id): its recipient reads it, deletes it, then hands it over: exactly once;
- broadcast: every other instance gets it exactly once, never the sender. Each receiver keeps a
  cursor file (`cursors/<id>.json`: a time floor plus the names seen since), so a restarted
  instance neither misses nor repeats one. A new id's cursor starts when it first receives.
- expired (older than the TTL: e.g. to an instance that died or never existed): deleted by
  whoever scans.
Checks at both ends: at most `max_bytes` serialized (clear error at send), valid JSON with the
expected fields, and an HMAC signature. A malformed or oversized file is moved once to
`rejected/`; so is a direct message whose signature fails. A broadcast whose signature fails is
skipped, with a warning, by the receivers that cannot verify it (it may come from instances
sharing another secret), and never re-read.
Must not: wait or loop (the daemon does, woken by inotify.py); or touch the registries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from mnemosyne.atomicfile import atomic_output
from mnemosyne.coord import signing
from mnemosyne.coord.identity import INSTANCE_ID_RE, validate_instance_id
from mnemosyne.coord.registry import utc_timestamp
from mnemosyne.coord.root import CoordinationRoot
from mnemosyne.errors import UsageError

logger = logging.getLogger(__name__)

PROTOCOL_TYPES = ("JoinRequest", "JoinApproval", "JoinDenial", "ConflictNotification",
                  "IsolationRequest", "Heartbeat")
TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
NAME_RE = re.compile(r"(?P<ns>\d{19})-(?P<sender>[0-9a-f]{8})-(?P<to>[0-9a-f]{8}|all)"
                     r"-(?P<nonce>[0-9a-f]{8})\.json")
FIELDS = {"id", "from_agent", "to_agent", "message_type", "timestamp", "payload", "signature"}
BROADCAST = "all"
GRACE_NS = 5 * 10**9  # a message is visible well within this of its timestamp


@dataclasses.dataclass(frozen=True)
class Message:
    """One delivered message."""

    id: str
    from_agent: str
    to_agent: str | None
    message_type: str
    timestamp: str
    payload: Any

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON form."""
        return dataclasses.asdict(self)


def validate_message_type(raw: str) -> str:
    """Return *raw* if it is a protocol type or an application type name. Raises UsageError."""
    if not isinstance(raw, str) or not TYPE_RE.fullmatch(raw):
        raise UsageError(f"invalid message type {raw!r}: use a protocol type "
                         f"({', '.join(PROTOCOL_TYPES)}) or a name of letters, digits, . _ - "
                         "starting with a letter")
    return raw


class MessageQueue:
    """Send and receive messages as instance *instance_id*."""

    def __init__(self, root: CoordinationRoot, instance_id: str, key: bytes, *,
                 max_bytes: int, ttl_s: float,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.root = root
        self.instance_id = validate_instance_id(instance_id)
        self.key = key
        self.max_bytes = max_bytes
        self.ttl_ns = int(ttl_s * 1e9)
        self.clock_ns = clock_ns
        self.cursor_path = root.cursors / f"{instance_id}.json"
        self._cursor: dict[str, Any] | None = None

    # --- sending ---------------------------------------------------------------------------

    def send(self, to_agent: str | None, message_type: str, payload: Any = None) -> Message:
        """Publish one message (to one id, or to all when *to_agent* is None); return it.

        Raises UsageError for a bad recipient or type, a payload that is not JSON, or a
        message over the size limit.
        """
        if to_agent is not None:
            validate_instance_id(to_agent)
            if to_agent == self.instance_id:
                raise UsageError("an instance cannot send a message to itself")
        validate_message_type(message_type)
        nonce = secrets.token_hex(4)
        directory = self.root.queue
        temporary = directory / f".tmp-{self.instance_id}-{nonce}"
        now_ns = self.clock_ns()
        name = f"{now_ns:019d}-{self.instance_id}-{to_agent or BROADCAST}-{nonce}"
        fields = {"id": name, "from_agent": self.instance_id, "to_agent": to_agent,
                  "message_type": message_type, "timestamp": utc_timestamp(now_ns / 1e9),
                  "payload": payload}
        try:
            body = json.dumps(signing.signed(fields, self.key), separators=(",", ":"),
                              ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError) as error:
            raise UsageError(f"the payload is not JSON: {error}") from None
        if len(body) > self.max_bytes:
            raise UsageError(f"the message is {len(body)} bytes serialized, over the limit of "
                             f"{self.max_bytes} bytes (message_size_cap)")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, body)
        finally:
            os.close(fd)
        os.rename(temporary, directory / f"{name}.json")
        return Message(name, self.instance_id, to_agent, message_type, fields["timestamp"],
                       payload)

    # --- receiving -------------------------------------------------------------------------

    def receive(self) -> list[Message]:
        """Return the messages for this instance that arrived since the last call, in order.

        Also deletes expired messages and sets aside bad ones.
        """
        now_ns = self.clock_ns()
        cursor = self._load_cursor(now_ns)
        floor, seen = cursor["floor_ns"], set(cursor["seen"])
        delivered: list[Message] = []
        try:
            names = sorted(entry.name for entry in os.scandir(self.root.queue)
                           if not entry.name.startswith("."))
        except FileNotFoundError:
            return []
        for name in names:
            match = NAME_RE.fullmatch(name)
            if match is None:
                self._reject(name, "its name is not a message name")
                continue
            sent_ns = int(match["ns"])
            if now_ns - sent_ns > self.ttl_ns:
                self._remove(name, "expired")
                continue
            to, sender = match["to"], match["sender"]
            if to == self.instance_id:
                message = self._read(name, broadcast=False)
                if message is not None and self._claim(name):
                    delivered.append(message)
            elif to == BROADCAST and sender != self.instance_id \
                    and sent_ns > floor and name not in seen:
                seen.add(name)
                message = self._read(name, broadcast=True)
                if message is not None:
                    delivered.append(message)
        self._save_cursor(now_ns, floor, seen)
        return delivered

    def _read(self, name: str, broadcast: bool) -> Message | None:
        """Read and check one message; set it aside (or skip it) when it fails a check."""
        path = self.root.queue / name
        try:
            with open(path, "rb") as handle:
                body = handle.read(self.max_bytes + 1)
        except FileNotFoundError:
            return None
        if len(body) > self.max_bytes:
            self._reject(name, f"it is over {self.max_bytes} bytes")
            return None
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self._reject(name, "it is not JSON")
            return None
        if not isinstance(data, dict) or set(data) != FIELDS or data["id"] != name[:-5] \
                or not isinstance(data["message_type"], str) \
                or not isinstance(data["from_agent"], str) \
                or not INSTANCE_ID_RE.fullmatch(data["from_agent"]):
            self._reject(name, "its fields are not those of a message")
            return None
        if not signing.verify(data, self.key):
            if broadcast:
                logger.warning("skipped broadcast %s: its signature does not verify (forged, or "
                               "signed with another secret)", name)
            else:
                self._reject(name, "its signature does not verify")
            return None
        return Message(data["id"], data["from_agent"], data["to_agent"], data["message_type"],
                       str(data["timestamp"]), data["payload"])

    def _claim(self, name: str) -> bool:
        """Delete a direct message before handing it over: whoever deletes it owns it."""
        try:
            os.unlink(self.root.queue / name)
        except FileNotFoundError:
            return False
        return True

    def _reject(self, name: str, reason: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.root.queue / name, self.root.rejected / name)
            logger.warning("moved %s to %s: %s", name, self.root.rejected, reason)

    def _remove(self, name: str, reason: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.root.queue / name)
            logger.debug("deleted %s: %s", name, reason)

    # --- the broadcast cursor -------------------------------------------------------------

    def _load_cursor(self, now_ns: int) -> dict[str, Any]:
        if self._cursor is not None:
            return self._cursor
        try:
            data = json.loads(self.cursor_path.read_text(encoding="utf-8"))
            if not (isinstance(data.get("floor_ns"), int) and isinstance(data.get("seen"), list)):
                raise ValueError("bad cursor")
        except FileNotFoundError:
            data = {"floor_ns": now_ns, "seen": []}
        except (ValueError, AttributeError):
            logger.warning("cursor %s was unreadable; starting from now", self.cursor_path)
            data = {"floor_ns": now_ns, "seen": []}
        self._cursor = data
        return data

    def _save_cursor(self, now_ns: int, floor: int, seen: set[str]) -> None:
        """Raise the floor, forget seen names below it, and persist if a broadcast was new.

        A stale floor on disk is harmless: the names above it are kept with it. The file is
        replaced atomically but not fsynced: a crashed process loses nothing.
        """
        previous = self._cursor or {}
        new_names = not seen.issubset(previous.get("seen", ()))
        floor = max(floor, now_ns - GRACE_NS)
        cursor = {"floor_ns": floor, "seen": sorted(n for n in seen if int(n[:19]) > floor)}
        self._cursor = cursor
        if new_names or not self.cursor_path.exists():
            with atomic_output(self.cursor_path, mode=0o600, durable=False) as stream:
                stream.write(json.dumps(cursor))
