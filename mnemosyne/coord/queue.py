"""The coordination queue: one signed file per message in `coordination_queue/`.

A message is published by writing a hidden temporary file and renaming it to
`<time ns>-<from>-<to|all>-<random>.json`: readers see whole messages only, names sort by send
time, and a receiver picks its own by name without opening the others. Delivery:
- direct (to one id): its recipient reads it, deletes it, then hands it over: exactly once
  (and a replayed copy is refused, below);
- broadcast: every other instance gets it exactly once, never the sender. Each receiver keeps a
  cursor file (`cursors/<id>.json`: a time floor plus the names seen since), so a restarted
  instance neither misses nor repeats one. A new id's cursor starts when it first receives.
- expired (older than the TTL: e.g. to an instance that died or never existed): deleted by
  whoever scans.
Checks at both ends: at most `max_bytes` serialized (clear error at send), JSON nested at most
`MAX_MESSAGE_DEPTH` deep with the expected fields (its id, sender and recipient those of its
name), and an HMAC signature. Files are opened without following a link or blocking and must
be regular files of this user (safefile.py). A malformed or oversized file, a link, FIFO or
directory, is moved once to `rejected/`; so is a direct message whose signature fails. A
broadcast whose signature fails is skipped by the receivers that cannot verify it (it may come
from instances sharing another secret), and never re-read. Warnings about bad files are
rate-limited: one per kind per minute, with a count of the rest.
Replays: the cursor also records the direct messages received (a second floor plus the names
seen since), so a copy of a delivered message put back in the queue, within its TTL or
after a restart, is deleted with a warning instead of delivered again. A new id's direct floor
starts one TTL back, so messages sent before it first ran still arrive.
Cheap with many files: a wake-up by inotify looks only at the names that arrived; the full
scan (start-up, a timer, an inotify overflow) lists the directory and opens only this
instance's messages and new broadcasts.
Must not: wait or loop (the daemon does, woken by inotify.py); or touch the registries.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from mnemosyne.atomicfile import atomic_output
from mnemosyne.coord import signing
from mnemosyne.coord.identity import validate_instance_id
from mnemosyne.coord.registry import SIGNATURE_RE, utc_timestamp
from mnemosyne.coord.root import CoordinationRoot
from mnemosyne.coord.safefile import (
    RateLimitedWarnings,
    UntrustedFile,
    load_json,
    nesting_depth,
    read_untrusted,
    set_aside,
)
from mnemosyne.errors import UnavailableError, UsageError

logger = logging.getLogger(__name__)

PROTOCOL_TYPES = ("JoinRequest", "JoinApproval", "JoinDenial", "ConflictNotification",
                  "IsolationRequest", "Heartbeat")
TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
NAME_RE = re.compile(r"(?P<ns>\d{19})-(?P<sender>[0-9a-f]{8})-(?P<to>[0-9a-f]{8}|all)"
                     r"-(?P<nonce>[0-9a-f]{8})\.json")
FIELDS = {"id", "from_agent", "to_agent", "message_type", "timestamp", "payload", "signature"}
BROADCAST = "all"
GRACE_NS = 5 * 10**9  # a message is visible well within this of its timestamp
MAX_MESSAGE_DEPTH = 32
CURSOR_MAX_BYTES = 1024 * 1024


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
        self._unmovable: set[str] = set()
        self._receiving = threading.Lock()
        self.warnings = RateLimitedWarnings(logger)

    # --- sending ---------------------------------------------------------------------------

    def send(self, to_agent: str | None, message_type: str, payload: Any = None) -> Message:
        """Publish one message (to one id, or to all when *to_agent* is None); return it.

        Raises UsageError for a bad recipient or type, a payload that is not JSON, or a
        message over the size or depth limit; UnavailableError if it cannot be written (a
        full disk).
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
        if nesting_depth(body, MAX_MESSAGE_DEPTH) > MAX_MESSAGE_DEPTH:
            raise UsageError(f"the payload is nested more than {MAX_MESSAGE_DEPTH - 1} levels "
                             "deep")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            try:
                if os.write(fd, body) != len(body):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            except BaseException:
                os.unlink(temporary)
                raise
            finally:
                os.close(fd)
            os.rename(temporary, directory / f"{name}.json")
        except OSError as error:
            raise UnavailableError(f"cannot write to the coordination queue {directory}: "
                                   f"{error.strerror or error}", error.errno) from None
        return Message(name, self.instance_id, to_agent, message_type, fields["timestamp"],
                       payload)

    # --- receiving -------------------------------------------------------------------------

    def receive(self, names: Iterable[str] | None = None) -> list[Message]:
        """Return the messages for this instance that arrived since the last call, in order.

        With *names* (what inotify reported arriving), only those files are looked at;
        otherwise the whole queue is scanned, which also deletes expired messages and sets
        aside bad files of any name. Calls from several threads take turns (they share the
        cursor: two at once would both hand over the same broadcast).
        """
        with self._receiving:
            return self._receive(names)

    def _receive(self, names: Iterable[str] | None) -> list[Message]:
        now_ns = self.clock_ns()
        cursor = self._load_cursor(now_ns)
        floor, direct_floor = cursor["floor_ns"], cursor["direct_floor_ns"]
        seen = set(cursor["seen"])
        delivered: list[Message] = []
        full_scan = names is None
        if names is None:
            try:
                names = os.listdir(self.root.queue)
            except FileNotFoundError:
                return []
        for name in sorted(name for name in names if not name.startswith(".")):
            match = NAME_RE.fullmatch(name)
            if match is None:
                if full_scan:
                    self._reject(name, "its name is not a message name")
                continue
            sent_ns = int(match["ns"])
            if now_ns - sent_ns > self.ttl_ns:
                self._remove(name, "expired")
                continue
            to, sender = match["to"], match["sender"]
            if to == self.instance_id:
                if sent_ns <= direct_floor or name in seen:
                    self._refuse_replay(name, name in seen)
                    continue
                message = self._read(name, match)
                if message is not None and self._claim(name):
                    seen.add(name)
                    delivered.append(message)
            elif to == BROADCAST and sender != self.instance_id \
                    and sent_ns > floor and name not in seen:
                seen.add(name)
                message = self._read(name, match)
                if message is not None:
                    delivered.append(message)
        self._save_cursor(now_ns, seen)
        return delivered

    def _read(self, name: str, match: re.Match[str]) -> Message | None:
        """Read and check one message; set it aside (or skip it) when it fails a check."""
        broadcast = match["to"] == BROADCAST
        try:
            body = read_untrusted(self.root.queue / name, self.max_bytes)
            data = load_json(body, MAX_MESSAGE_DEPTH)
        except FileNotFoundError:
            return None
        except UntrustedFile as problem:
            reason = problem.reason
            if "over the cap" in reason:
                reason = f"it is over {self.max_bytes} bytes"
            self._reject(name, reason)
            return None
        except OSError as error:
            self.warnings.warn("unreadable", "cannot read message %s: %s", name,
                               error.strerror or error)
            return None
        problem = message_problem(data, name, match)
        if problem is not None:
            self._reject(name, f"its fields are not those of a message ({problem})")
            return None
        if not signing.verify(data, self.key):
            if broadcast:
                self.warnings.warn("unverified broadcast", "skipped broadcast %s: its signature "
                                   "does not verify (forged, or signed with another secret)",
                                   name)
            else:
                self._reject(name, "its signature does not verify")
            return None
        return Message(data["id"], data["from_agent"], data["to_agent"], data["message_type"],
                       data["timestamp"], data["payload"])

    def _claim(self, name: str) -> bool:
        """Delete a direct message before handing it over: whoever deletes it owns it."""
        try:
            os.unlink(self.root.queue / name)
        except FileNotFoundError:
            return False
        except OSError as error:  # replaced by a directory since it was read
            self._reject(name, f"it cannot be claimed ({error.strerror or error})")
            return False
        return True

    def _refuse_replay(self, name: str, seen: bool) -> None:
        """Delete a direct message this instance already received (a copy put back).

        Silent when the file is gone: then it was this instance's own delivery, reported
        twice (by a full scan and by inotify).
        """
        try:
            os.unlink(self.root.queue / name)
        except FileNotFoundError:
            return
        except OSError as error:
            self._reject(name, f"it is a replay and cannot be deleted ({error.strerror})")
            return
        why = "a message with this id was already delivered here" if seen else \
            "it is older than what this instance has already received (a copy put back, or " \
            f"published more than {GRACE_NS // 10**9} s after it was sent)"
        self.warnings.warn("replay", "refused %s: %s (a replayed copy)", name, why)

    def _reject(self, name: str, reason: str) -> None:
        """Move a bad file (of any kind: file, link, FIFO, directory) to rejected/ once."""
        source = self.root.queue / name
        try:
            os.replace(source, self.root.rejected / name)
        except FileNotFoundError:
            return
        except OSError:  # e.g. a directory, or a directory of that name in rejected/
            try:
                if set_aside(source, self.root.rejected, label="rejected") is None:
                    return
            except OSError as error:
                if name not in self._unmovable:
                    self._unmovable.add(name)
                    self.warnings.warn("unmovable", "cannot move %s out of the queue (%s): %s; "
                                       "ignoring it", name, error.strerror or error, reason)
                return
        self.warnings.warn("rejected", "moved %s to %s: %s", name, self.root.rejected, reason)

    def _remove(self, name: str, reason: str) -> None:
        try:
            os.unlink(self.root.queue / name)
        except FileNotFoundError:
            return
        except OSError as error:  # a directory, say: set it aside instead
            self._reject(name, f"it is {reason} and cannot be deleted "
                               f"({error.strerror or error})")
            return
        logger.debug("deleted %s: %s", name, reason)

    # --- the cursor -------------------------------------------------------------------------

    def _load_cursor(self, now_ns: int) -> dict[str, Any]:
        if self._cursor is not None:
            return self._cursor
        fresh = {"floor_ns": now_ns, "direct_floor_ns": now_ns - self.ttl_ns, "seen": []}
        try:
            data = load_json(read_untrusted(self.cursor_path, CURSOR_MAX_BYTES), 4)
            problem = cursor_problem(data)
            if problem is not None:
                raise UntrustedFile(problem)
        except FileNotFoundError:
            data = fresh
        except (UntrustedFile, OSError) as error:
            reason = error.reason if isinstance(error, UntrustedFile) else error.strerror
            try:
                moved = set_aside(self.cursor_path)
            except OSError as failure:
                moved = f"nowhere ({failure.strerror or failure})"
            logger.warning("cursor %s was unusable (%s): moved it to %s; receiving from now "
                           "on (direct messages of the last TTL included)", self.cursor_path,
                           reason, moved)
            data = fresh
        if "direct_floor_ns" not in data:  # written by an older version
            data["direct_floor_ns"] = now_ns - self.ttl_ns
        self._cursor = data
        return data

    def _save_cursor(self, now_ns: int, seen: set[str]) -> None:
        """Raise the floors, forget seen names below them, and persist if a name was new.

        Every message received lies above the floors or is named in `seen`, on disk as in
        memory, so a copy put back in the queue is refused, also after a restart. A stale
        floor on disk is harmless: the names above it are kept with it. The file is replaced
        atomically but not fsynced: a crashed process loses nothing.
        """
        previous = self._cursor or {}
        new_names = not seen.issubset(previous.get("seen", ()))
        floor = max(previous.get("floor_ns", 0), now_ns - GRACE_NS)
        direct_floor = max(previous.get("direct_floor_ns", 0), now_ns - GRACE_NS)
        lowest = min(floor, direct_floor)
        cursor = {"floor_ns": floor, "direct_floor_ns": direct_floor,
                  "seen": sorted(n for n in seen if int(n[:19]) > lowest)}
        self._cursor = cursor
        if new_names or not os.path.lexists(self.cursor_path):
            try:
                with atomic_output(self.cursor_path, mode=0o600, durable=False) as stream:
                    stream.write(json.dumps(cursor))
            except OSError as error:
                self.warnings.warn("cursor", "cannot save the cursor %s: %s", self.cursor_path,
                                   error.strerror or error)


def message_problem(data: Any, name: str, match: re.Match[str]) -> str | None:
    """Return why the parsed message *data*, found as *name*, is not a message; or None."""
    if not isinstance(data, dict) or set(data) != FIELDS:
        return "not the message fields"
    if data["id"] != name[:-5]:
        return "its id is not its file name"
    if data["from_agent"] != match["sender"]:
        return "its sender is not the one in its name"
    to = match["to"]
    if data["to_agent"] != (None if to == BROADCAST else to):
        return "its recipient is not the one in its name"
    if not isinstance(data["message_type"], str) or not TYPE_RE.fullmatch(data["message_type"]):
        return "its type is not a type name"
    if not isinstance(data["timestamp"], str) or len(data["timestamp"]) > 40:
        return "its timestamp is not a time"
    if not isinstance(data["signature"], str) or not SIGNATURE_RE.fullmatch(data["signature"]):
        return "its signature is not 64 hex digits"
    return None


def cursor_problem(data: Any) -> str | None:
    """Return why the parsed cursor *data* is not a cursor; or None."""
    if not isinstance(data, dict) or not set(data) <= {"floor_ns", "direct_floor_ns", "seen"}:
        return "it does not have the cursor fields"
    for field in ("floor_ns", "direct_floor_ns"):
        value = data.get(field, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 10**19:
            return f"{field} is not a time in nanoseconds"
    if "floor_ns" not in data:
        return "it has no floor_ns"
    seen = data.get("seen")
    if not isinstance(seen, list) or not all(isinstance(name, str) and NAME_RE.fullmatch(name)
                                             for name in seen):
        return "seen is not a list of message names"
    return None
