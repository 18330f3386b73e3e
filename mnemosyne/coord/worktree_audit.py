"""Judge the worktrees that instances left behind, and remove only what cannot hold work.

A worktree under `.mnemosyne/worktrees/<id>` whose instance is gone is audited:
- kept when its link to the repository cannot be verified (worktrees.verify_own_worktree),
  when git has it locked (`git worktree lock`), when it has uncommitted or untracked changes,
  or when its HEAD holds commits that are on no other branch (a detached HEAD's or its own
  branch's: removing the directory would leave them reachable from that branch only, so they
  are kept in plain sight);
- removable otherwise (clean, and everything it holds is on another branch too).
Removal audits again first, renames the directory aside while holding the instance's liveness
lock (so an instance starting meanwhile never takes back a worktree being deleted), deletes it
(a real directory, never followed through a link) and prunes git's registration. Registrations
whose directory is gone are prunable unless locked. Branches `mnemosyne/<id>` that no worktree
uses and whose commits are all on another branch are listed, for the user to delete; nothing
here deletes a branch or a commit.
pygit2 is imported only when called.
Must not: decide which instances are gone (the caller does), or delete a branch or commit.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from mnemosyne.coord.worktrees import NO_SEARCH, verify_own_worktree

BRANCH_PREFIX = "mnemosyne/"
REMOVING_PREFIX = ".removing-"  # a worktree moved aside, being deleted
MOST_COMMITS_COUNTED = 1000
MOST_CHANGES_LISTED = 5


@dataclasses.dataclass(frozen=True)
class WorktreeAudit:
    """What a left-behind worktree holds, and whether it may be removed."""

    path: Path
    removable: bool
    reason: str  # why it is kept, or "clean"
    branch: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def _admin_directory(common_dir: Path, name: str) -> Path:
    return Path(os.path.realpath(common_dir)) / "worktrees" / name


def audit_worktree(path: Path, common_dir: Path) -> WorktreeAudit:
    """Return whether the worktree at *path* (of the repository at *common_dir*) is removable."""
    import pygit2  # noqa: PLC0415

    try:
        opened, problem = verify_own_worktree(path, common_dir)
    except OSError as error:
        return WorktreeAudit(path, False, f"it cannot be checked ({error.strerror or error})")
    if opened is None:
        return WorktreeAudit(path, False, f"it is not verifiably an instance's worktree "
                                          f"({problem})")
    if (_admin_directory(common_dir, path.name) / "locked").exists():
        return WorktreeAudit(path, False, "git has it locked (git worktree unlock to allow)")
    try:
        head_unborn = opened.head_is_unborn
        branch = None if head_unborn or opened.head_is_detached else opened.head.shorthand
        status = opened.status()
        changes = sorted(name for name, flags in status.items()
                         if flags != pygit2.GIT_STATUS_IGNORED)
        if changes:
            return WorktreeAudit(path, False, f"{len(changes)} uncommitted or untracked "
                                 "change(s)", branch,
                                 {"changes": changes[:MOST_CHANGES_LISTED],
                                  "changes_count": len(changes)})
        if head_unborn:
            return WorktreeAudit(path, True, "clean", branch)
        unique = _commits_on_no_other_branch(opened, branch)
    except (OSError, pygit2.GitError) as error:
        return WorktreeAudit(path, False, f"it cannot be checked ({error})")
    if unique:
        where = f"branch {branch}" if branch else "a detached HEAD"
        return WorktreeAudit(path, False, f"{unique}{'+' if unique >= MOST_COMMITS_COUNTED else ''}"
                             f" commit(s) on {where} and no other branch", branch,
                             {"unique_commits": unique})
    return WorktreeAudit(path, True, "clean", branch)


def _commits_on_no_other_branch(repository: Any, own_branch: str | None) -> int:
    """Return how many commits of HEAD no other local branch contains (counted up to a cap)."""
    import pygit2  # noqa: PLC0415

    head = repository.head.target
    others = []
    for name in repository.branches.local:
        if name == own_branch:
            continue
        tip = repository.branches.local[name].target
        if tip == head or repository.descendant_of(tip, head):
            return 0
        others.append(tip)
    walker = repository.walk(head, pygit2.GIT_SORT_NONE)
    for tip in others:
        walker.hide(tip)
    count = 0
    for _ in walker:
        count += 1
        if count >= MOST_COMMITS_COUNTED:
            break
    return count


def remove_worktree(path: Path, common_dir: Path,
                    hold: Callable[[], AbstractContextManager[bool]]) -> WorktreeAudit:
    """Audit again and, if removable, delete the directory and prune its registration.

    *hold* gives the instance's liveness lock for a moment (yielding False if its instance
    holds it): the directory is renamed aside while it is held, so an instance that starts
    after the audit can never take back a worktree that is being deleted; the slow parts (the
    audit, the deletion) run without it. Returns the audit; its `removable` is False (with
    why) if anything was kept.
    """
    import pygit2  # noqa: PLC0415

    audit = audit_worktree(path, common_dir)
    if not audit.removable:
        return audit
    aside = path.parent / f"{REMOVING_PREFIX}{path.name}-{secrets.token_hex(4)}"
    try:
        with hold() as free:
            if not free:
                return WorktreeAudit(path, False, "its instance started meanwhile", audit.branch)
            os.rename(path, aside)
    except OSError as error:
        return WorktreeAudit(path, False, f"could not move it aside ({error.strerror})",
                             audit.branch)
    try:
        shutil.rmtree(aside)  # a real directory (verified): rmtree never follows links
        repository = pygit2.Repository(str(common_dir), NO_SEARCH)
        if path.name in repository.list_worktrees() and not os.path.lexists(path):
            repository.lookup_worktree(path.name).prune(True)
    except (OSError, pygit2.GitError) as error:
        return WorktreeAudit(path, False, f"moved to {aside.name} but could not remove it "
                             f"completely ({error})", audit.branch)
    return audit


def leftovers(directory: Path) -> list[Path]:
    """Return the directories a removal moved aside and could not finish deleting."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(directory / name for name in names if name.startswith(REMOVING_PREFIX)
                  and os.path.isdir(directory / name)
                  and not os.path.islink(directory / name))


def prunable_registrations(common_dir: Path, under: Path) -> list[str]:
    """Return git's worktree registrations under *under* whose directory is gone (not locked).

    None when *under* is a link (its target is not the root's).
    """
    import pygit2  # noqa: PLC0415

    if os.path.islink(under):
        return []
    repository = pygit2.Repository(str(common_dir), NO_SEARCH)
    under = Path(os.path.realpath(under))
    names = []
    for name in repository.list_worktrees():
        try:
            worktree_path = Path(repository.lookup_worktree(name).path)
        except pygit2.GitError:
            continue
        if Path(os.path.realpath(worktree_path.parent)) != under and worktree_path.parent != \
                under:
            continue
        if os.path.lexists(worktree_path) or \
                (_admin_directory(common_dir, name) / "locked").exists():
            continue
        names.append(name)
    return names


def prune_registration(common_dir: Path, name: str) -> bool:
    """Prune one registration whose directory is gone (checked again); True if pruned."""
    import pygit2  # noqa: PLC0415

    repository = pygit2.Repository(str(common_dir), NO_SEARCH)
    if name not in repository.list_worktrees():
        return True
    worktree = repository.lookup_worktree(name)
    if os.path.lexists(worktree.path) or (_admin_directory(common_dir, name) / "locked").exists():
        return False
    worktree.prune(True)
    return True


def branches_without_own_commits(common_dir: Path) -> list[str]:
    """Return the `mnemosyne/*` branches that no worktree uses and whose tip another has."""
    import pygit2  # noqa: PLC0415

    repository = pygit2.Repository(str(common_dir), NO_SEARCH)
    local = repository.branches.local
    names = sorted(local)
    result = []
    for name in names:
        if not name.startswith(BRANCH_PREFIX):
            continue
        branch = local[name]
        if branch.is_checked_out():
            continue
        tip = branch.target
        if any(other != name and (local[other].target == tip
                                  or repository.descendant_of(local[other].target, tip))
               for other in names):
            result.append(name)
    return result
