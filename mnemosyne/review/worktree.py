"""Temporary detached worktrees for reviews, under `.mnemosyne/reviews/worktrees/<commit>`.

Made with `git worktree add --detach` (hooks off: `core.hooksPath=/dev/null`), so no branch is
created, moved or checked out; the directory is named after the full commit id, and git's
registration after the directory. `temporary_worktree` always removes it on the way out
(exception, stop, or normal end): the directory (a real one under the root, never followed
through a link) and then git's registration. One left by a SIGKILLed reviewer is found by
`left_behind` (its commit's claim, see record.py, is not held) for doctor, which removes it
with `remove_left_behind`; a reviewer that claims the same commit again removes it first.
Must not: touch any other worktree, or move, make or delete a ref.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shlex
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mnemosyne.coord.safefile import UntrustedFile, read_untrusted, remove_entry
from mnemosyne.errors import MnemosyneError
from mnemosyne.review.checkrun import run_check
from mnemosyne.review.record import (
    REVIEW_DIRECTORY,
    holding_claim,
    real_directory,
    review_directory,
)

logger = logging.getLogger(__name__)

SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
GIT_TIMEOUT_S = 120.0


def worktrees_directory(root_path: Path) -> Path:
    """Return the directory of temporary review worktrees of the root at *root_path*."""
    return review_directory(root_path, "worktrees")


def add_worktree(main_worktree: Path, path: Path, sha: str, stop_fd: int | None = None,
                 tick: Callable[[], None] | None = None) -> None:
    """Check out commit *sha* at *path* as a detached worktree.

    Raises MnemosyneError if git fails, CheckStopped if *stop_fd* becomes readable meanwhile
    (git is killed: a big checkout never delays a stop).
    """
    command = ["git", "-c", "core.hooksPath=/dev/null", "worktree", "add", "--detach",
               "--quiet", str(path), sha]
    try:
        result = run_check(shlex.join(command), main_worktree, GIT_TIMEOUT_S, stop_fd, tick)
    except OSError as error:
        raise MnemosyneError(f"cannot make a review worktree for {sha[:12]}: "
                             f"{error.strerror or error}") from None
    if not result.passed:
        message = (result.output.strip().splitlines() or ["git failed or timed out"])[-1]
        raise MnemosyneError(f"cannot make a review worktree for {sha[:12]}: {message}")


def linked_common_dir(path: Path) -> Path | None:
    """Return the git directory the worktree *path* belongs to, from its `.git` file, or None."""
    try:
        text = read_untrusted(path / ".git", 4096).decode("utf-8").strip()
    except (OSError, UntrustedFile, UnicodeDecodeError):
        return None
    if not text.startswith("gitdir: "):
        return None
    admin = Path(text.removeprefix("gitdir: ").strip())
    return admin.parent.parent if admin.is_absolute() and admin.parent.name == "worktrees" \
        else None


def _remove_unwritable(path: Path) -> bool:
    """Delete the directory tree *path* that a check made unwritable (chmod 000); True if gone.

    Directories on the way are made 0700 again (never through a link) and the step retried.
    """
    def unlock_and_retry(function: Any, failed: str, _: object) -> None:
        for target in (failed, os.path.dirname(failed)):
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(os.lstat(target).st_mode):
                    os.chmod(target, 0o700)
        function(failed)

    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return remove_entry(path)
        shutil.rmtree(path, onerror=unlock_and_retry)
    except FileNotFoundError:
        return True
    except OSError as error:
        logger.warning("cannot delete %s: %s", path, error.strerror or error)
        return False
    return True


def remove_worktree(common_dir: Path | None, path: Path) -> bool:
    """Delete the review worktree *path* and prune git's registration of it; True if gone.

    Without *common_dir* (a root outside the repository) the repository is the one the
    worktree's `.git` file names.
    """
    import pygit2  # noqa: PLC0415

    if common_dir is None:
        common_dir = linked_common_dir(path)
    gone = remove_entry(path) or _remove_unwritable(path)
    if common_dir is None:
        return gone
    try:
        repository = pygit2.Repository(str(common_dir), 1)
        for name in repository.list_worktrees():
            worktree = repository.lookup_worktree(name)
            if Path(worktree.path) == path and not os.path.lexists(path):
                worktree.prune(True)
    except pygit2.GitError as error:
        logger.warning("could not prune git's registration of %s: %s", path, error)
    return gone


@contextlib.contextmanager
def temporary_worktree(root_path: Path, main_worktree: Path, common_dir: Path, sha: str, *,
                       stop_fd: int | None = None,
                       tick: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a detached worktree of commit *sha*; always remove it afterwards.

    The caller holds the commit's claim, so a directory already there, or git's registration
    of one that is gone, is a dead reviewer's and is removed first.
    Raises MnemosyneError if git cannot make it, CheckStopped on a stop.
    """
    path = worktrees_directory(root_path) / sha
    remove_worktree(common_dir, path)  # a dead reviewer's directory or registration
    try:
        add_worktree(main_worktree, path, sha, stop_fd, tick)
        yield path
    finally:
        if not remove_worktree(common_dir, path):
            logger.warning("could not remove the review worktree %s (doctor reports it)", path)


def left_behind(root_path: Path) -> list[Path]:
    """Return the review worktrees whose reviewer is gone (their commit's claim is free).

    Only real directories named after a commit count; nothing is looked at through a link.
    """
    directory = root_path / REVIEW_DIRECTORY / "worktrees"
    if not (real_directory(directory.parent) and real_directory(directory)):
        return []  # a link is never followed (the root check reports it)
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    found = []
    for name in names:
        if not SHA_RE.fullmatch(name) or not real_directory(directory / name):
            continue  # not made by a reviewer: left alone
        with holding_claim(root_path, name, create=False) as free:
            if free:
                found.append(directory / name)
    return found


def remove_left_behind(root_path: Path, common_dir: Path | None, path: Path) -> bool:
    """Remove one review worktree found by `left_behind`, holding its claim; True if removed.

    False if a reviewer took the commit meanwhile, or it could not be removed.
    """
    with holding_claim(root_path, path.name, create=False) as free:
        if not free:
            return False
        return remove_worktree(common_dir, path)
