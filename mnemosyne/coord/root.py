"""Find and prepare the coordination directory that every instance of a project shares.

Where: `--root` / `MNEMOSYNE_ROOT`; else `.mnemosyne/` at the top of the git repository's MAIN
worktree, the same directory from the main worktree, any linked worktree or any subdirectory
(the reference system used the current directory and silently split instances); else the user
state directory. The directory and its subfolders are 0700 whatever the umask; a root that is a
symlink or another user's is refused. Inside a repository `.mnemosyne/` is added to
`.git/info/exclude`, so it never shows as untracked.
Must not: read or write the files inside the root (registries, queue) — other modules do.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import stat
from pathlib import Path

from mnemosyne.errors import UnavailableError, UnsafeError

logger = logging.getLogger(__name__)

ROOT_NAME = ".mnemosyne"
SUBDIRECTORIES = ("locks", "coordination_queue", "worktrees", "rejected", "cursors")
EXCLUDE_LINE = f"/{ROOT_NAME}/"


@dataclasses.dataclass(frozen=True)
class GitLocation:
    """Where a directory sits in git: its worktree's top, the main worktree's, the common dir."""

    main_worktree: Path
    common_dir: Path
    in_linked_worktree: bool
    top: Path


@dataclasses.dataclass(frozen=True)
class CoordinationRoot:
    """The prepared coordination directory and where its parts live."""

    path: Path
    git: GitLocation | None

    @property
    def locks(self) -> Path:
        """Per-instance liveness locks and lock files of the JSON registries."""
        return self.path / "locks"

    @property
    def queue(self) -> Path:
        """One file per coordination message."""
        return self.path / "coordination_queue"

    @property
    def worktrees(self) -> Path:
        """Dedicated git worktrees, one per instance."""
        return self.path / "worktrees"

    @property
    def rejected(self) -> Path:
        """Messages that failed a check, moved here once."""
        return self.path / "rejected"

    @property
    def cursors(self) -> Path:
        """What each instance has already received of the broadcasts."""
        return self.path / "cursors"


def locate_git(start: Path) -> GitLocation | None:
    """Return where *start* sits in a git repository, or None outside any worktree.

    Reads `.git` the way git does: a directory is a main worktree; a file (`gitdir: PATH`)
    is a linked worktree (or submodule), whose gitdir holds a `commondir` file when it is a
    linked worktree.
    """
    for directory in (start, *start.parents):
        dot_git = directory / ".git"
        if dot_git.is_dir():
            return GitLocation(directory, dot_git, in_linked_worktree=False, top=directory)
        if dot_git.is_file():
            return _locate_from_gitfile(directory, dot_git)
    return None


def _locate_from_gitfile(worktree: Path, gitfile: Path) -> GitLocation | None:
    try:
        text = gitfile.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text.removeprefix("gitdir:").strip())
    if not gitdir.is_absolute():
        gitdir = (worktree / gitdir).resolve()
    commondir_file = gitdir / "commondir"
    if not commondir_file.is_file():
        # A submodule: its own repository, whose top is this directory.
        return GitLocation(worktree, gitdir, in_linked_worktree=False, top=worktree)
    common = Path(commondir_file.read_text(encoding="utf-8").strip())
    if not common.is_absolute():
        common = (gitdir / common).resolve()
    if common.name != ".git":
        return None  # a bare repository's worktree: no main worktree to hold .mnemosyne
    return GitLocation(common.parent, common, in_linked_worktree=True, top=worktree)


def choose_root_path(configured: Path | None, start: Path, state_directory: Path) -> Path:
    """Return the coordination directory to use (see the module docstring for the order)."""
    if configured is not None:
        return configured
    location = locate_git(start)
    if location is not None:
        return location.main_worktree / ROOT_NAME
    return state_directory


def _make_private_directory(path: Path) -> None:
    """Create *path* as a 0700 directory of this user, or check that it already is one.

    Raises UnsafeError for a symlink or another user's directory.
    """
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise UnavailableError(f"cannot create coordination directory {path}: "
                               f"{error.strerror or error}", error.errno) from None
    status = os.lstat(path)
    if stat.S_ISLNK(status.st_mode):
        raise UnsafeError(f"refusing coordination directory {path}: it is a symbolic link")
    if not stat.S_ISDIR(status.st_mode):
        raise UnsafeError(f"refusing coordination directory {path}: it is not a directory")
    if status.st_uid != os.geteuid():
        raise UnsafeError(f"refusing coordination directory {path}: it belongs to user id "
                          f"{status.st_uid}, not to you ({os.geteuid()})")
    if stat.S_IMODE(status.st_mode) != 0o700:
        os.chmod(path, 0o700)


def prepare_root(path: Path, start: Path | None = None) -> CoordinationRoot:
    """Create (or check) the root at *path* and its subfolders; return it.

    *start* is where git is looked for (default: the current directory), to keep `.mnemosyne/`
    out of `git status`.
    Raises UnsafeError for a symlink or another user's directory, UnavailableError if it
    cannot be created.
    """
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _make_private_directory(path)
    for name in SUBDIRECTORIES:
        _make_private_directory(path / name)
    git = locate_git(start or Path.cwd())
    if git is not None and path == git.main_worktree / ROOT_NAME:
        exclude_from_git(git.common_dir)
    return CoordinationRoot(path, git)


def exclude_from_git(common_dir: Path) -> None:
    """Add `/.mnemosyne/` to the repository's info/exclude once, safely under concurrency."""
    exclude = common_dir / "info" / "exclude"
    try:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with open(exclude, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            content = handle.read()
            if EXCLUDE_LINE not in content.splitlines():
                prefix = "\n" if content and not content.endswith("\n") else ""
                handle.write(f"{prefix}{EXCLUDE_LINE}\n")
    except OSError as error:
        logger.warning("could not add %s to %s: %s", EXCLUDE_LINE, exclude,
                       error.strerror or error)
