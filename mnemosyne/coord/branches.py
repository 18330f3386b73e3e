"""The branch registry: which instance works on which git branch, and how.

`branch_registry.json` maps a branch to its assignments, each signed like a registry entry:
{instance_id, mode (isolated | coordinated), intent (read-only | write | full), assigned_at,
expires_at}. Rules:
- read-only never conflicts, with anything;
- an isolated claim (write or full) is refused while another instance holds any live
  write/full assignment on the branch;
- a coordinated claim is refused while another instance holds a live isolated one;
- assignments of dead instances (see registry.py) and expired ones are released on every
  change and ignored when judging; an instance whose entry does not verify is never taken
  for dead here (it may sign with another secret), so its assignments stay.
The file is replaced whole (temporary file, rename) on every change: claims are not rebuilt by
heartbeats, so a torn in-place write would lose them all.
An assignment that fails verification still blocks while its instance is alive (the safe side),
and is released once that instance is provably dead. An assignment that fails the field checks
(`claim_problem`) is invalid: ignored, and dropped by the next writer into
`branch_registry.json.invalid-<UTC time>` (jsonfile.py).
Must not: touch git; worktrees.py does.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mnemosyne.coord import signing
from mnemosyne.coord.identity import INSTANCE_ID_RE
from mnemosyne.coord.jsonfile import Document, LockedJsonFile
from mnemosyne.coord.registry import (
    SIGNATURE_RE,
    ProcessRegistry,
    parse_timestamp,
    utc_timestamp,
)
from mnemosyne.errors import ConflictError, UsageError

logger = logging.getLogger(__name__)

BRANCH_FILE = "branch_registry.json"
MODES = ("isolated", "coordinated")
INTENTS = ("read-only", "write", "full")
BRANCH_RE = re.compile(r"(?!-)(?!.*\.\.)(?!.*//)(?!.*@\{)[^\x00-\x20~^:?*\[\\\x7f]{1,255}")


def validate_branch_name(raw: str) -> str:
    """Return *raw* if git would accept it as a branch name. Raises UsageError otherwise."""
    if not isinstance(raw, str) or not BRANCH_RE.fullmatch(raw) or raw.endswith((".", "/",
                                                                                   ".lock")) \
            or raw.startswith("/") or "/." in raw or raw == "@":
        raise UsageError(f"invalid branch name {raw!r}")
    return raw


def _empty() -> Document:
    return {"version": 1, "branches": {}}


def _valid(data: Any) -> bool:
    """Return True if *data* has the document's shape; assignments are checked one by one."""
    return isinstance(data, dict) and isinstance(data.get("branches"), dict)


CLAIM_FIELDS = {"instance_id", "branch", "mode", "intent", "assigned_at", "expires_at",
                signing.SIGNATURE_FIELD}


def claim_problem(branch: str, claim: Any) -> str | None:
    """Return why the assignment *claim*, filed under *branch*, is invalid; None if it is not."""
    if not isinstance(claim, dict):
        return "not an object"
    try:
        validate_branch_name(branch)
    except UsageError:
        return "filed under a name that is not a branch name"
    if claim.get("branch") != branch:
        return "filed under a branch other than its own"
    if not set(claim) <= CLAIM_FIELDS:
        return "it has unknown fields"
    instance_id = claim.get("instance_id")
    if not isinstance(instance_id, str) or not INSTANCE_ID_RE.fullmatch(instance_id):
        return "instance_id is not an instance id"
    if claim.get("mode") not in MODES or claim.get("intent") not in INTENTS:
        return "mode or intent is not one of the known ones"
    if parse_timestamp(claim.get("assigned_at")) is None:
        return "assigned_at is not a UTC time"
    if claim.get("expires_at") is not None and parse_timestamp(claim["expires_at"]) is None:
        return "expires_at is not null or a UTC time"
    signature = claim.get(signing.SIGNATURE_FIELD)
    if signature is not None and (not isinstance(signature, str)
                                  or not SIGNATURE_RE.fullmatch(signature)):
        return "signature is not 64 hex digits"
    return None


def drop_invalid_claims(data: Document) -> list[tuple[str, Any, str]]:
    """Remove the invalid assignments from the branch document *data*; return them."""
    dropped: list[tuple[str, Any, str]] = []
    for branch, claims in list(data["branches"].items()):
        if not isinstance(claims, list):
            dropped.append((branch, data["branches"].pop(branch), "not a list of assignments"))
            continue
        kept = []
        for claim in claims:
            problem = claim_problem(branch, claim)
            if problem is None:
                kept.append(claim)
            else:
                dropped.append((branch, claim, problem))
        if len(kept) != len(claims):
            if kept:
                data["branches"][branch] = kept
            else:
                del data["branches"][branch]
    return dropped


class BranchRegistry:
    """Signed branch assignments, judged against the process registry."""

    def __init__(self, registry: ProcessRegistry) -> None:
        self.registry = registry
        root = registry.root
        self.document = LockedJsonFile(root.path / BRANCH_FILE,
                                       root.locks / f"{BRANCH_FILE}.lock", _empty, _valid,
                                       clean=drop_invalid_claims, atomic=True)

    def _in_force(self, claim: dict[str, Any], now: float,
                  entries: dict[str, dict[str, Any]]) -> bool:
        """Return True unless the claim expired or its instance is provably dead."""
        expires = parse_timestamp(claim.get("expires_at"))
        if expires is not None and expires <= now:
            return False
        entry = entries.get(str(claim.get("instance_id")))
        if entry is not None and not signing.verify(entry, self.registry.key):
            return True  # an entry that does not verify may be another secret's: left alone
        probe = entry or {"instance_id": claim.get("instance_id"), "hostname": self.registry.host,
                          "pid": -1}
        return not self.registry.judge(probe, now).provably_dead

    def _prune(self, data: Document, now: float) -> None:
        entries = self.registry.entries()
        for branch in list(data["branches"]):
            kept = [claim for claim in data["branches"][branch]
                    if self._in_force(claim, now, entries)]
            if len(kept) != len(data["branches"][branch]):
                logger.info("released %d stale assignment(s) of branch %s",
                            len(data["branches"][branch]) - len(kept), branch)
            if kept:
                data["branches"][branch] = kept
            else:
                del data["branches"][branch]

    def stale_assignments(self) -> list[tuple[str, str, str]]:
        """Return (branch, instance id, why) for each assignment no longer in force."""
        now = self.registry.clock()
        entries = self.registry.entries()
        stale = []
        for branch, claims in self.document.read()["branches"].items():
            for claim in claims:
                if not self._in_force(claim, now, entries):
                    expires = parse_timestamp(claim.get("expires_at"))
                    why = "expired" if expires is not None and expires <= now else \
                        "its instance is gone"
                    stale.append((branch, str(claim.get("instance_id")), why))
        return stale

    def release_stale(self) -> int:
        """Drop every assignment no longer in force (and set a bad file aside); return how many."""

        def change(data: Document) -> int:
            before = sum(len(claims) for claims in data["branches"].values())
            self._prune(data, self.registry.clock())
            return before - sum(len(claims) for claims in data["branches"].values())

        return self.document.update(change)

    def claim(self, branch: str, instance_id: str, mode: str = "isolated",
              intent: str = "full", ttl_s: float | None = None) -> dict[str, Any]:
        """Assign *branch* to *instance_id*; return the signed assignment.

        Re-claiming replaces the instance's earlier assignment of the same branch.
        Raises UsageError for a bad name, mode or intent, ConflictError if the rules refuse.
        """
        validate_branch_name(branch)
        if mode not in MODES:
            raise UsageError(f"invalid mode {mode!r}: use {' or '.join(MODES)}")
        if intent not in INTENTS:
            raise UsageError(f"invalid intent {intent!r}: use {', '.join(INTENTS)}")
        now = self.registry.clock()
        claim = {"instance_id": instance_id, "branch": branch, "mode": mode, "intent": intent,
                 "assigned_at": utc_timestamp(now),
                 "expires_at": None if ttl_s is None else utc_timestamp(now + ttl_s)}
        claim = signing.signed(claim, self.registry.key)

        def change(data: Document) -> dict[str, Any]:
            self._prune(data, now)
            others = [held for held in data["branches"].get(branch, [])
                      if held.get("instance_id") != instance_id]
            for held in others:
                if blocks(held, mode, intent):
                    raise ConflictError(
                        f"branch {branch} is assigned to instance {held.get('instance_id')} "
                        f"({held.get('mode')}, {held.get('intent')})")
            data["branches"][branch] = [*others, claim]
            return claim

        return self.document.update(change, refuse_unsafe=True)

    def release(self, instance_id: str, branch: str | None = None) -> int:
        """Drop *instance_id*'s assignments (of *branch*, or all); return how many."""

        def change(data: Document) -> int:
            dropped = 0
            for name in list(data["branches"]):
                if branch is not None and name != branch:
                    continue
                kept = [claim for claim in data["branches"][name]
                        if claim.get("instance_id") != instance_id]
                dropped += len(data["branches"][name]) - len(kept)
                if kept:
                    data["branches"][name] = kept
                else:
                    del data["branches"][name]
            return dropped

        return self.document.update(change)

    def assignments(self, refuse_unsafe: bool = False) -> dict[str, list[dict[str, Any]]]:
        """Return the assignments in force, with `verified` added to each.

        Raises UnsafeError, with *refuse_unsafe*, if a registry file is a link or another
        user's.
        """
        now = self.registry.clock()
        entries = self.registry.entries(refuse_unsafe)
        result: dict[str, list[dict[str, Any]]] = {}
        for branch, claims in self.document.read(refuse_unsafe)["branches"].items():
            live = [{**{k: v for k, v in claim.items() if k != signing.SIGNATURE_FIELD},
                     "verified": signing.verify(claim, self.registry.key)}
                    for claim in claims if self._in_force(claim, now, entries)]
            if live:
                result[branch] = live
        return result


def blocks(held: dict[str, Any], mode: str, intent: str) -> bool:
    """Return True if the assignment *held* by another instance refuses a new claim."""
    if intent == "read-only" or held.get("intent") == "read-only":
        return False
    return mode == "isolated" or held.get("mode") == "isolated"
