"""What a doctor check may read, which fixes it may make, and who is provably gone.

One `Context` per coordination root (user-wide checks get one with no root). It judges the
registry once, and answers the one question every fix depends on: does an instance id still
have an owner? An id is gone only if its entry is verified and provably dead, or it has no
entry at all, and in both cases nobody holds its liveness lock; live, stale (hung),
unverified and other-host entries keep everything of theirs. Checks re-ask `gone` right
before they delete, because an instance may have started since the registry was read.
Fix kinds: "stale" (dead entries, their claims, cursors and lock files, expired messages:
`--cleanup-stale` or `--fix`) and "repair" (everything else that is safe: `--fix` only).
Must not: hold the registry's lock across other work (it reads, then lets go).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mnemosyne.config import Settings
from mnemosyne.coord.identity import INSTANCE_ID_RE
from mnemosyne.coord.liveness import holding_if_free, lock_is_held
from mnemosyne.coord.registry import InstanceView, ProcessRegistry
from mnemosyne.coord.root import ROOT_NAME, CoordinationRoot, GitLocation, locate_git
from mnemosyne.doctor.findings import Finding

FIX_KINDS = ("stale", "repair")


@dataclasses.dataclass
class Run:
    """What is shared by every check of one doctor run."""

    settings: Settings
    key: bytes
    fix: bool = False
    cleanup_stale: bool = False
    clock: Callable[[], float] = time.time
    # Registry entries of every root checked so far (the systemd check compares units to them).
    entries_seen: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def may(self, kind: str) -> bool:
        """Return True if this run may make fixes of *kind* ("stale" or "repair")."""
        if kind not in FIX_KINDS:
            raise ValueError(kind)
        return self.fix or (kind == "stale" and self.cleanup_stale)


@dataclasses.dataclass
class Context:
    """One root's view for the checks (root None: the user-wide checks)."""

    run: Run
    root: CoordinationRoot | None = None
    _views: list[InstanceView] | None = None
    registry_incomplete: bool = False  # the registry read this run had problems
    _registry: ProcessRegistry | None = None

    @property
    def settings(self) -> Settings:
        """The resolved settings."""
        return self.run.settings

    @property
    def root_text(self) -> str | None:
        """The root's path, as findings name it."""
        return None if self.root is None else str(self.root.path)

    def finding(self, check: str, status: str, message: str, **details: Any) -> Finding:
        """Return a finding about this root."""
        return Finding(check, status, message, details, self.root_text)

    @property
    def registry(self) -> ProcessRegistry:
        """The root's process registry."""
        assert self.root is not None
        if self._registry is None:
            self._registry = ProcessRegistry(self.root, self.run.key,
                                             self.settings.stale_threshold_s, self.run.clock)
        return self._registry

    def views(self) -> list[InstanceView]:
        """Every valid registry entry, judged once (read under the shared lock, then let go)."""
        if self._views is None:
            self._views = self.registry.views()
            self.registry_incomplete = self.registry_incomplete or bool(self.registry.problems)
            for view in self._views:
                self.run.entries_seen[f"{self.root_text}:{view.instance_id}"] = view.entry
        return self._views

    def forget_views(self) -> None:
        """Judge again next time (after a fix changed the registry)."""
        self._views = None

    def gone(self, instance_id: str) -> bool:
        """Return True if *instance_id* provably has no running owner (see the docstring)."""
        assert self.root is not None
        return self.unowned_by_registry(instance_id) and \
            not lock_is_held(self.root.locks, instance_id)

    def unowned_by_registry(self, instance_id: str) -> bool:
        """Return True if the registry gives *instance_id* no possible owner.

        An entry that is anything but dead keeps its id; so does every id while the registry
        could not be read whole this run (a corrupt or invalid file: an instance of another host,
        whose lock is not visible here, may be missing from it until its next heartbeat).
        """
        if not INSTANCE_ID_RE.fullmatch(instance_id):
            return False
        views = [view for view in self.views() if view.instance_id == instance_id]
        if views:
            return views[0].state == "dead"
        return not self.registry_incomplete

    @contextlib.contextmanager
    def holding_if_gone(self, instance_id: str) -> Iterator[bool]:
        """Hold *instance_id*'s liveness lock for a moment if it is gone; yield whether.

        While it is held no instance with that id can start, so what it left can be removed
        without racing one that takes it back.
        """
        assert self.root is not None
        with holding_if_free(self.root.locks, instance_id) as free:
            yield free and self.unowned_by_registry(instance_id)

    def git(self) -> GitLocation | None:
        """Return the repository whose main worktree holds this root, if any."""
        assert self.root is not None
        if self.root.git is not None:
            return self.root.git
        if self.root.path.name == ROOT_NAME:
            location = locate_git(self.root.path.parent)
            if location is not None and location.main_worktree == self.root.path.parent:
                return location
        return None

    def age_s(self, path: Path) -> float | None:
        """Return how long ago *path* was last modified (not following a link), or None."""
        try:
            return max(0.0, self.run.clock() - os.lstat(path).st_mtime)
        except OSError:
            return None
