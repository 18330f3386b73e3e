"""Give an instance its own git worktree, and take it away without ever discarding work.

`--worktree auto|always|never`: auto follows the reference system (started in the main working
directory: none; started inside a linked worktree: a dedicated one); always: a dedicated one
anyway; never: none. Outside a repository there is never one, and no error.
A dedicated worktree lives at `.mnemosyne/worktrees/<id>` on a new branch `mnemosyne/<id>` made
from the current HEAD (detached or not), or on `--branch NAME`, which must not be checked out
anywhere else: so git's "branch is already used by another worktree" cannot happen. The branch
is created first and handed to `add_worktree`; the target directory is never pre-created. An
instance restarted with the same id takes back its existing worktree, work intact. On a clean
stop the worktree is removed and pruned only when it is positively verified clean through its
own link to this repository (`verify_own_worktree`): a real directory (no symlink) whose `.git`
is a regular file naming `<common dir>/worktrees/<id>`, whose `gitdir` names it back, opened
without searching upwards as a repository whose workdir is that directory, with no uncommitted
or untracked changes. Anything else (a lost `.git` file, a symlink, a foreign link, an error) is
kept and its path logged as a warning. Branches are kept (they may hold commits).
pygit2 is imported only here, and only when a worktree is wanted (it costs ~0.13 s).
Must not: decide when to call these (the daemon does), or delete anything dirty.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import stat
from pathlib import Path

from mnemosyne.coord.branches import validate_branch_name
from mnemosyne.coord.root import CoordinationRoot, GitLocation, locate_git
from mnemosyne.errors import ConflictError, MnemosyneError, UsageError

logger = logging.getLogger(__name__)

MODES = ("auto", "always", "never")
NO_SEARCH = 1  # GIT_REPOSITORY_OPEN_NO_SEARCH: never fall back to an enclosing repository
LINK_MAX_BYTES = 4096  # a `.git` or `gitdir` file is one line naming a path


@dataclasses.dataclass(frozen=True)
class Workspace:
    """An instance's dedicated worktree."""

    path: Path
    branch: str
    workdir: Path
    taken_back: bool
    common_dir: Path | None = None  # the main repository's git directory (None: never removed)


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
        taken = _take_back(repository, location.common_dir, instance_id, path)
        if taken is not None:
            return Workspace(path, taken, _workdir(location, start, path), taken_back=True,
                             common_dir=location.common_dir)
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
    return Workspace(path, branch_name, _workdir(location, start, path), taken_back=False,
                     common_dir=location.common_dir)


def _take_back(repository: object, common_dir: Path, instance_id: str,
               path: Path) -> str | None:
    """Return the branch of this id's existing worktree, or None if there is none to take.

    A registration whose directory is gone is pruned (pygit2's forced prune removes the
    registration only, never a working tree). Raises ConflictError if the directory is there but
    its link to this repository cannot be verified (it is kept, never taken over).
    """
    if instance_id not in repository.list_worktrees():  # type: ignore[attr-defined]
        return None
    worktree = repository.lookup_worktree(instance_id)  # type: ignore[attr-defined]
    if Path(worktree.path).resolve() == path.resolve() and path.is_dir():
        opened, problem = verify_own_worktree(path, common_dir)
        if opened is None:
            raise ConflictError(f"{path} is not verifiably this instance's worktree ({problem}):"
                                " move it away (it is never deleted automatically)")
        head = opened.head
        logger.info("took back worktree %s on %s", path, head.shorthand)
        return head.shorthand
    if not os.path.lexists(worktree.path):
        worktree.prune(True)
    return None


def _workdir(location: GitLocation, start: Path, worktree: Path) -> Path:
    """Return the same subdirectory of *worktree* as *start* is of its own, if it exists."""
    relative = start.resolve().relative_to(location.top.resolve())
    candidate = worktree / relative
    return candidate if candidate.is_dir() else worktree


def verify_own_worktree(path: Path, common_dir: Path) -> tuple[object | None, str | None]:
    """Open *path* as a linked worktree of the repository whose git directory is *common_dir*.

    Return (repository, None) only when every link checks out: *path* and its parent are real
    directories (not symlinks); `path/.git` is a regular file naming
    `<common_dir>/worktrees/<name of path>`; that directory's `gitdir` names `path/.git` back;
    pygit2, told not to search upwards, opens a repository whose workdir is *path* and whose
    git directory is that one. Otherwise return (None, what did not check out).
    """
    import pygit2  # noqa: PLC0415

    for directory in (path.parent, path):
        mode = os.lstat(directory).st_mode
        if stat.S_ISLNK(mode):
            return None, f"{directory} is a symbolic link"
        if not stat.S_ISDIR(mode):
            return None, f"{directory} is not a directory"
    admin = Path(os.path.realpath(common_dir)) / "worktrees" / path.name
    named = _read_link(path / ".git", "gitdir: ")
    if named is None:
        return None, f"{path / '.git'} is missing or not a regular file naming a git directory"
    if Path(os.path.realpath(path / named)) != admin:
        return None, f"{path / '.git'} names {named}, not {admin}"
    back = _read_link(admin / "gitdir", "")
    own_link = Path(os.path.realpath(path)) / ".git"
    if back is None or Path(os.path.realpath(admin / back)) != own_link:
        return None, f"{admin / 'gitdir'} does not name {path / '.git'}"
    try:
        opened = pygit2.Repository(str(path), NO_SEARCH)
    except pygit2.GitError as error:
        return None, f"git cannot open it ({error})"
    if opened.workdir is None or Path(os.path.realpath(opened.workdir)) != \
            Path(os.path.realpath(path)):
        return None, f"git opens it with the working directory {opened.workdir}"
    if Path(os.path.realpath(opened.path)) != admin:
        return None, f"git opens it with the git directory {opened.path}"
    return opened, None


def _read_link(file: Path, prefix: str) -> str | None:
    """Return the path a one-line git link file names, or None if it is not one.

    The file is opened without following a symlink and without blocking, and must be a
    regular file of at most LINK_MAX_BYTES.
    """
    try:
        descriptor = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        data = stream.read(LINK_MAX_BYTES + 1)
    try:
        text = data.decode().strip()
    except UnicodeDecodeError:
        return None
    if len(data) > LINK_MAX_BYTES or not text.startswith(prefix) or "\n" in text:
        return None
    return text[len(prefix):].strip() or None


def close_workspace(workspace: Workspace) -> bool:
    """Remove and prune the worktree if it is verified clean; return True if it was removed.

    Never raises for the worktree's state: whatever cannot be verified is kept, with a warning
    naming its path.
    """
    import pygit2  # noqa: PLC0415

    path = workspace.path
    try:
        if workspace.common_dir is None:
            opened, problem = None, "no repository to verify it against"
        else:
            opened, problem = verify_own_worktree(path, workspace.common_dir)
        if opened is None:
            logger.warning("worktree %s kept: %s", path, problem)
            return False
        status = opened.status()  # type: ignore[attr-defined]
    except (OSError, pygit2.GitError) as error:
        logger.warning("worktree %s kept: could not check it (%s)", path, error)
        return False
    changes = [name for name, flags in status.items() if flags != pygit2.GIT_STATUS_IGNORED]
    if changes:
        logger.warning("worktree %s has %d uncommitted or untracked change(s): kept, on branch "
                       "%s", path, len(changes), workspace.branch)
        return False
    try:
        shutil.rmtree(path)  # path was checked to be a real directory: rmtree never follows
        repository = pygit2.Repository(str(workspace.common_dir), NO_SEARCH)
        if path.name in repository.list_worktrees():
            repository.lookup_worktree(path.name).prune(True)
    except (OSError, pygit2.GitError) as error:
        logger.warning("worktree %s: could not remove it completely (%s)", path, error)
        return False
    logger.info("removed clean worktree %s (branch %s kept)", path, workspace.branch)
    return True
