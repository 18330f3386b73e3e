"""The process registry: which instances exist, and whether each is live, stale, dead or forged.

`process_registry.json` maps instance id -> signed entry. An entry is judged, in this order:
- unverified: its signature does not verify under our key (forged, tampered, or signed with
  another secret). Never trusted as live, and never removed only because of that.
- dead: on this host, nobody holds its liveness lock and its PID is gone or now names another
  process (start time differs). Provably dead entries are the only ones ever removed.
- stale: alive (or on another host) but its heartbeat is older than the stale threshold: hung.
- live: otherwise.
Must not: hold an instance's own state (coordinator.py does); entries are plain dicts.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time
from collections.abc import Callable
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


def _empty() -> Document:
    return {"version": FORMAT_VERSION, "instances": {}}


def _valid(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("instances"), dict) \
        and all(isinstance(entry, dict) for entry in data["instances"].values())


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
                                       root.locks / f"{REGISTRY_FILE}.lock", _empty, _valid)
        self.host = this_host()

    def put(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Sign *entry* and store it under its instance id (replacing any); return it signed."""
        return self.put_and_read(entry)[0]

    def put_and_read(self, entry: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Like put(), and also return every entry as written (one read serves both)."""
        stored = signing.signed(entry, self.key)

        def change(data: Document) -> dict[str, Any]:
            data["instances"][stored["instance_id"]] = stored
            return dict(data["instances"])

        return stored, self.document.update(change)

    def remove(self, instance_id: str) -> bool:
        """Remove one entry; return False if there was none."""
        return self.document.update(
            lambda data: data["instances"].pop(instance_id, None) is not None)

    def entries(self) -> dict[str, dict[str, Any]]:
        """Return the raw entries by instance id."""
        return dict(self.document.read()["instances"])

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
        if not isinstance(pid, int) or isinstance(pid, bool):
            return False
        return not process_is_running(pid, start_time if isinstance(start_time, int) else None)

    def views(self, entries: dict[str, dict[str, Any]] | None = None,
              skip: str | None = None) -> list[InstanceView]:
        """Return every entry (of *entries*, else the file's) judged now, oldest first.

        *skip* leaves out one instance id without judging it.
        """
        now = self.clock()
        entries = self.entries() if entries is None else entries
        views = [self.judge(entry, now) for key, entry in entries.items() if key != skip]
        return sorted(views, key=lambda view: (str(view.entry.get("registered_at")),
                                               view.instance_id))

    def remove_dead(self) -> list[str]:
        """Remove every provably dead entry (verified or not); return their ids."""

        def change(data: Document) -> list[str]:
            gone = [key for key, entry in data["instances"].items()
                    if self._provably_dead(entry)]
            for key in gone:
                del data["instances"][key]
            return gone

        removed = self.document.update(change)
        for instance_id in removed:
            logger.info("removed dead instance %s from the registry", instance_id)
        return removed
