"""The process registry: which instances exist, and whether each is live, stale, dead or forged.

`process_registry.json` maps instance id -> signed entry. An entry is judged, in this order:
- unverified: its signature does not verify under our key (forged, tampered, or signed with
  another secret). Never trusted as live, and never removed only because of that.
- dead: on this host, nobody holds its liveness lock and its PID is gone or now names another
  process (start time differs). Provably dead, verified entries are the only ones ever removed.
- stale: alive (or on another host) but its heartbeat is older than the stale threshold: hung.
- live: otherwise.
Before any of that, every entry is checked field by field (`entry_problem`: types and ranges,
e.g. a PID in 1..2**22 and a start time that is a non-negative integer, an entry filed under
its own `instance_id`); one that fails is invalid: left out of every view, and dropped from
the file by the next writer into `process_registry.json.invalid-<UTC time>` (jsonfile.py).
Must not: hold an instance's own state (coordinator.py does); entries are plain dicts.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import re
import time
from collections.abc import Callable, Collection
from typing import Any

from mnemosyne.coord import signing
from mnemosyne.coord.identity import INSTANCE_ID_RE, process_is_running, this_host
from mnemosyne.coord.jsonfile import Document, LockedJsonFile
from mnemosyne.coord.liveness import lock_is_held
from mnemosyne.coord.root import CoordinationRoot

logger = logging.getLogger(__name__)

REGISTRY_FILE = "process_registry.json"
FORMAT_VERSION = 1
STATES = ("live", "stale", "unverified", "dead")


def utc_timestamp(epoch_s: float) -> str:
    """Return *epoch_s* as the registry writes times: UTC ISO 8601 with microseconds.

    Formatted by hand: every heartbeat stamps one, and this is a third cheaper than datetime.
    """
    seconds, micros = divmod(round(epoch_s * 1_000_000), 1_000_000)
    utc = time.gmtime(seconds)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fastest form here
        utc.tm_year, utc.tm_mon, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, micros)


def parse_timestamp(text: Any) -> float | None:
    """Return the epoch seconds of a registry time, or None if it is not one."""
    if not isinstance(text, str) or not text.endswith("Z"):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text[:-1]).replace(tzinfo=datetime.UTC)
    except ValueError:
        return None
    return moment.timestamp()


PID_MAX_LIMIT = 2**22  # the kernel's highest possible pid_max (PID_MAX_LIMIT on 64-bit)
SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")
PRINTABLE_RE = re.compile(r"[^\x00-\x20\x7f]{1,255}")
API_URL_RE = re.compile(r"https?://[^\x00-\x20\x7f/?#@]{1,262}([/?#][^\x00-\x20\x7f]*)?")
OPTIONAL_TEXT = {"api_url": 300, "worktree_path": 4096, "branch": 255, "systemd_unit": 256}
MAX_EXTRA_FIELDS = 16


def _is_int(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _empty() -> Document:
    return {"version": FORMAT_VERSION, "instances": {}}


def entry_problem(key: str, entry: Any) -> str | None:
    """Return why the registry entry *entry*, filed under *key*, is invalid; None if it is not.

    Only the shape is checked here; the signature, liveness and heartbeat are judged later.
    """
    if not isinstance(entry, dict):
        return "not an object"
    if not isinstance(key, str) or not INSTANCE_ID_RE.fullmatch(key):
        return "filed under a key that is not an instance id"
    if entry.get("instance_id") != key:
        return "filed under a key other than its instance_id"
    if not _is_int(entry.get("pid"), 1, PID_MAX_LIMIT):
        return f"pid is not an integer in 1..{PID_MAX_LIMIT}"
    if not _is_int(entry.get("pid_start_time"), 0, 2**63 - 1):
        return "pid_start_time is not a non-negative integer"
    hostname = entry.get("hostname")
    if not isinstance(hostname, str) or not PRINTABLE_RE.fullmatch(hostname):
        return "hostname is not a host name"
    for field in ("registered_at", "last_heartbeat"):
        value = entry.get(field)
        if not isinstance(value, str) or len(value) > 40 or parse_timestamp(value) is None:
            return f"{field} is not a UTC time"
    version = entry.get("version")
    if not isinstance(version, str) or len(version) > 64:
        return "version is not a short text"
    for field, longest in OPTIONAL_TEXT.items():
        value = entry.get(field)
        if value is not None and (not isinstance(value, str) or not 0 < len(value) <= longest
                                  or "\x00" in value):
            return f"{field} is not null or a text of at most {longest} characters"
    if entry.get("api_url") is not None and not API_URL_RE.fullmatch(entry["api_url"]):
        return "api_url is not an http(s) URL"
    signature = entry.get(signing.SIGNATURE_FIELD)
    if signature is not None and (not isinstance(signature, str)
                                  or not SIGNATURE_RE.fullmatch(signature)):
        return "signature is not 64 hex digits"
    extra = [value for field, value in entry.items() if field not in KNOWN_FIELDS]
    if len(extra) > MAX_EXTRA_FIELDS or not all(
            value is None or isinstance(value, bool | int | float)
            or (isinstance(value, str) and len(value) <= 1024) for value in extra):
        return "it has unknown fields that are not short scalars"
    return None


KNOWN_FIELDS = {"instance_id", "pid", "pid_start_time", "hostname", "registered_at",
                "last_heartbeat", "version", signing.SIGNATURE_FIELD, *OPTIONAL_TEXT}


def drop_invalid_entries(data: Document) -> list[tuple[str, Any, str]]:
    """Remove the invalid entries from the registry document *data*; return them."""
    dropped = []
    for key, entry in list(data["instances"].items()):
        problem = entry_problem(key, entry)
        if problem is not None:
            dropped.append((key, data["instances"].pop(key), problem))
    return dropped


def _valid(data: Any) -> bool:
    """Return True if *data* has the document's shape; its entries are checked one by one."""
    return isinstance(data, dict) and isinstance(data.get("instances"), dict)


@dataclasses.dataclass(frozen=True)
class InstanceView:
    """One registry entry as judged now."""

    entry: dict[str, Any]
    state: str
    provably_dead: bool
    age_s: float | None
    heartbeat_age_s: float | None

    @property
    def instance_id(self) -> str:
        """The id the entry claims (unverified entries may lie)."""
        return str(self.entry.get("instance_id", "?"))

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON form: the entry without its signature, plus the judgement."""
        fields = {key: value for key, value in self.entry.items()
                  if key != signing.SIGNATURE_FIELD}
        return {**fields, "state": self.state,
                "age_s": None if self.age_s is None else round(self.age_s, 3),
                "heartbeat_age_s": (None if self.heartbeat_age_s is None
                                    else round(self.heartbeat_age_s, 3))}


class ProcessRegistry:
    """Signed entries in `process_registry.json`, judged against locks, PIDs and heartbeats."""

    def __init__(self, root: CoordinationRoot, key: bytes, stale_threshold_s: float,
                 clock: Callable[[], float]) -> None:
        self.root = root
        self.key = key
        self.stale_threshold_s = stale_threshold_s
        self.clock = clock
        self.document = LockedJsonFile(root.path / REGISTRY_FILE,
                                       root.locks / f"{REGISTRY_FILE}.lock", _empty, _valid,
                                       clean=drop_invalid_entries)
        self.host = this_host()

    @property
    def problems(self) -> list[str]:
        """What the last read found wrong with the file (and ignored)."""
        return self.document.problems

    def set_aside_files(self) -> list[str]:
        """Return the names of the registry files set aside in the root, oldest first."""
        try:
            names = os.listdir(self.root.path)
        except OSError:
            return []
        return sorted((name for name in names if ".corrupt-" in name or ".invalid-" in name),
                      key=lambda name: name.rsplit("-", 1)[-1])

    def put(self, entry: dict[str, Any], refuse_unsafe: bool = False) -> dict[str, Any]:
        """Sign *entry* and store it under its instance id (replacing any); return it signed.

        Raises UnsafeError, with *refuse_unsafe*, if the file is a link or another user's.
        """
        return self.put_and_read(entry, refuse_unsafe)[0]

    def put_and_read(self, entry: dict[str, Any],
                     refuse_unsafe: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        """Like put(), and also return every entry as written (one read serves both)."""
        stored = signing.signed(entry, self.key)
        problem = entry_problem(stored["instance_id"], stored)
        if problem is not None:
            raise ValueError(f"refusing to register an invalid entry: {problem}")

        def change(data: Document) -> dict[str, Any]:
            data["instances"][stored["instance_id"]] = stored
            return dict(data["instances"])

        return stored, self.document.update(change, refuse_unsafe)

    def remove(self, instance_id: str) -> bool:
        """Remove one entry; return False if there was none."""
        return self.document.update(
            lambda data: data["instances"].pop(instance_id, None) is not None)

    def entries(self, refuse_unsafe: bool = False) -> dict[str, dict[str, Any]]:
        """Return the valid entries by instance id (see `problems` for what was left out).

        Raises UnsafeError, with *refuse_unsafe*, if the file is a link or another user's.
        """
        return dict(self.document.read(refuse_unsafe)["instances"])

    def judge(self, entry: dict[str, Any], now: float | None = None) -> InstanceView:
        """Return the state of *entry* (see the module docstring)."""
        now = self.clock() if now is None else now
        verified = signing.verify(entry, self.key)
        dead = self._provably_dead(entry)
        registered = parse_timestamp(entry.get("registered_at"))
        heartbeat = parse_timestamp(entry.get("last_heartbeat"))
        heartbeat_age = None if heartbeat is None else max(0.0, now - heartbeat)
        if not verified:
            state = "unverified"
        elif dead:
            state = "dead"
        elif heartbeat_age is None or heartbeat_age > self.stale_threshold_s:
            state = "stale"
        else:
            state = "live"
        return InstanceView(entry, state, dead,
                            None if registered is None else max(0.0, now - registered),
                            heartbeat_age)

    def _provably_dead(self, entry: dict[str, Any]) -> bool:
        """On this host: no liveness lock held and the PID gone (or reused). Elsewhere: never."""
        if entry.get("hostname") != self.host:
            return False
        instance_id = entry.get("instance_id")
        if isinstance(instance_id, str) and INSTANCE_ID_RE.fullmatch(instance_id) \
                and lock_is_held(self.root.locks, instance_id):
            return False
        pid, start_time = entry.get("pid"), entry.get("pid_start_time")
        if not _is_int(pid, -1, PID_MAX_LIMIT):
            return False
        if not _is_int(start_time, 0, 2**63 - 1):
            return pid == -1  # a probe for an instance with no entry (branches.py)
        return not process_is_running(pid, start_time)

    def views(self, entries: dict[str, dict[str, Any]] | None = None,
              skip: str | None = None, refuse_unsafe: bool = False) -> list[InstanceView]:
        """Return every entry (of *entries*, else the file's) judged now, oldest first.

        *skip* leaves out one instance id without judging it. Raises UnsafeError, with
        *refuse_unsafe*, if the file is a link or another user's.
        """
        now = self.clock()
        entries = self.entries(refuse_unsafe) if entries is None else entries
        views = [self.judge(entry, now) for key, entry in entries.items() if key != skip]
        return sorted(views, key=lambda view: (str(view.entry.get("registered_at")),
                                               view.instance_id))

    def remove_dead(self, only: Collection[str] | None = None) -> list[str]:
        """Remove the provably dead, verified entries (of *only*, if given); return their ids.

        Each is judged again under the file's lock. Unverified entries are never removed: they
        may belong to instances sharing another secret, which judge them themselves.
        """

        def change(data: Document) -> list[str]:
            gone = [key for key, entry in data["instances"].items()
                    if (only is None or key in only) and signing.verify(entry, self.key)
                    and self._provably_dead(entry)]
            for key in gone:
                del data["instances"][key]
            return gone

        removed = self.document.update(change)
        if removed:
            logger.info("removed %d dead instance(s) from the registry: %s", len(removed),
                        ", ".join(removed))
        return removed
