"""Give an instance its own git worktree, and take it away without ever discarding work.

`--worktree auto|always|never`: auto follows the reference system (started in the main working
directory: none; started inside a linked worktree: a dedicated one); always: a dedicated one
anyway; never: none. Outside a repository there is never one, and no error.
A dedicated worktree lives at `.mnemosyne/worktrees/<id>` on a new branch `mnemosyne/<id>` made
from the current HEAD (detached or not), or on `--branch NAME`, which must not be checked out
anywhere else: so git's "branch is already used by another worktree" cannot happen. The branch
is created first and handed to `add_worktree`; the target directory is never pre-created. An
instance restarted with the same id takes back its existing worktree, work intact. On a clean
stop the worktree is removed and pruned only when it has no uncommitted or untracked changes;
otherwise it is kept and its path logged. Branches are kept (they may hold commits).
pygit2 is imported only here, and only when a worktree is wanted (it costs ~0.13 s).
Must not: decide when to call these (the daemon does), or delete anything dirty.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

from mnemosyne.coord.branches import validate_branch_name
from mnemosyne.coord.root import CoordinationRoot, GitLocation, locate_git
from mnemosyne.errors import ConflictError, MnemosyneError, UsageError

logger = logging.getLogger(__name__)

MODES = ("auto", "always", "never")


@dataclasses.dataclass(frozen=True)
class Workspace:
    """An instance's dedicated worktree."""

    path: Path
    branch: str
    workdir: Path
    taken_back: bool


def validate_mode(raw: str) -> str:
    """Return *raw* if it is a worktree mode. Raises UsageError otherwise."""
    if raw not in MODES:
        raise UsageError(f"invalid --worktree {raw!r}: use {', '.join(MODES)}")
    return raw


def wants_worktree(mode: str, location: GitLocation | None) -> bool:
    """Return True if an instance started at *location* gets a dedicated worktree."""
    if location is None or mode == "never":
        return False
    return mode == "always" or location.in_linked_worktree


def open_workspace(root: CoordinationRoot, instance_id: str, start: Path,
                   branch: str | None = None) -> Workspace:
    """Create (or take back) the worktree of *instance_id*, started from directory *start*.

    Raises UsageError for a bad branch name or a repository without commits, ConflictError if
    the branch is checked out elsewhere or the path is taken by something else.
    """
    import pygit2  # noqa: PLC0415 - only instances that want a worktree pay for it

    location = locate_git(start)
    if location is None:
        raise UsageError(f"{start} is not inside a git worktree")
    branch_name = validate_branch_name(branch or f"mnemosyne/{instance_id}")
    path = root.worktrees / instance_id
    try:
        repository = pygit2.Repository(str(location.common_dir))
        taken = _take_back(repository, instance_id, path)
        if taken is not None:
            return Workspace(path, taken, _workdir(location, start, path), taken_back=True)
        if path.exists():
            raise ConflictError(f"{path} exists but is not a worktree of this repository: "
                                "move it away (it is never deleted automatically)")
        here = pygit2.Repository(str(location.top))
        if here.head_is_unborn:
            raise UsageError("the repository has no commits yet: cannot create a worktree")
        # Look the commit up again in `repository`: libgit2 wants objects of the same repo.
        commit = repository[here.head.peel(pygit2.Commit).id]
        reference = repository.branches.local.get(branch_name)
        if reference is None:
            reference = repository.branches.local.create(branch_name, commit)
        elif reference.is_checked_out():
            raise ConflictError(f"branch {branch_name} is already checked out in another "
                                "worktree: choose another --branch")
        repository.add_worktree(instance_id, str(path), reference)
    except pygit2.GitError as error:
        raise MnemosyneError(f"git could not create the worktree {path}: {error}") from None
    logger.info("working in worktree %s on branch %s", path, branch_name)
    return Workspace(path, branch_name, _workdir(location, start, path), taken_back=False)


def _take_back(repository: object, instance_id: str, path: Path) -> str | None:
    """Return the branch of this id's existing worktree, or None if there is none to take.

    A registration whose directory is gone is pruned.
    """
    if instance_id not in repository.list_worktrees():  # type: ignore[attr-defined]
        return None
    worktree = repository.lookup_worktree(instance_id)  # type: ignore[attr-defined]
    if Path(worktree.path).resolve() == path.resolve() and path.is_dir():
        import pygit2  # noqa: PLC0415

        head = pygit2.Repository(str(path)).head
        logger.info("took back worktree %s on %s", path, head.shorthand)
        return head.shorthand
    worktree.prune(True)
    return None


def _workdir(location: GitLocation, start: Path, worktree: Path) -> Path:
    """Return the same subdirectory of *worktree* as *start* is of its own, if it exists."""
    relative = start.resolve().relative_to(location.top.resolve())
    candidate = worktree / relative
    return candidate if candidate.is_dir() else worktree


def close_workspace(workspace: Workspace) -> bool:
    """Remove and prune the worktree if it is clean; return True if it was removed."""
    import pygit2  # noqa: PLC0415

    try:
        status = pygit2.Repository(str(workspace.path)).status()
    except pygit2.GitError as error:
        logger.warning("could not check worktree %s (%s): kept", workspace.path, error)
        return False
    changes = [name for name, flags in status.items() if flags != pygit2.GIT_STATUS_IGNORED]
    if changes:
        logger.warning("worktree %s has %d uncommitted or untracked change(s): kept, on branch "
                       "%s", workspace.path, len(changes), workspace.branch)
        return False
    location = locate_git(workspace.path)
    shutil.rmtree(workspace.path)
    if location is not None:
        repository = pygit2.Repository(str(location.common_dir))
        name = workspace.path.name
        if name in repository.list_worktrees():
            repository.lookup_worktree(name).prune(True)
    logger.info("removed clean worktree %s (branch %s kept)", workspace.path, workspace.branch)
    return True
