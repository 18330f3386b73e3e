"""Find what to review: the tip commits of instance branches, and the branch to compare with.

Branches are the local ones whose names match any of the globs (`mnemosyne/*` by default;
`fnmatch` rules, so `*` also crosses `/`); a commit at the tip of several of them is one tip
naming them all. The default branch, whose merge base with a tip bounds the diff that
markers.py scans, is the branch checked out in the main worktree unless that is itself a
reviewed branch, else `init.defaultBranch`, `main` or `master`, whichever exists.
pygit2 is imported only when called.
Must not: write to the repository (no ref is ever moved or made).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mnemosyne.errors import UsageError

DEFAULT_GLOBS = ("mnemosyne/*",)
NO_SEARCH = 1  # GIT_REPOSITORY_OPEN_NO_SEARCH


@dataclasses.dataclass(frozen=True)
class Tip:
    """A commit at the tip of one or more matching branches."""

    sha: str
    branches: tuple[str, ...]

    @property
    def short(self) -> str:
        """Return the commit id abbreviated to 12 hex digits."""
        return self.sha[:12]


def open_repository(common_dir: Path) -> Any:
    """Open the repository whose git directory is *common_dir*. Raises UsageError if it fails."""
    import pygit2  # noqa: PLC0415

    try:
        return pygit2.Repository(str(common_dir), NO_SEARCH)
    except pygit2.GitError as error:
        raise UsageError(f"cannot open the git repository at {common_dir}: {error}") from None


def matches(name: str, globs: Sequence[str]) -> bool:
    """Return True if the branch *name* matches any of *globs*."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in globs)


def branch_tips(repository: Any, globs: Sequence[str] = DEFAULT_GLOBS) -> list[Tip]:
    """Return the tips of the local branches matching *globs*, ordered by first branch name.

    A branch whose tip cannot be read (a missing object) is left out.
    """
    import pygit2  # noqa: PLC0415

    by_commit: dict[str, list[str]] = {}
    for name in sorted(repository.branches.local):
        if not matches(name, globs):
            continue
        try:
            commit = repository.branches.local[name].peel()
        except (pygit2.GitError, KeyError, ValueError):
            continue
        by_commit.setdefault(str(commit.id), []).append(name)
    tips = [Tip(sha, tuple(names)) for sha, names in by_commit.items()]
    return sorted(tips, key=lambda tip: tip.branches[0])


def default_branch(repository: Any, globs: Sequence[str] = DEFAULT_GLOBS) -> str | None:
    """Return the name of the branch tips are compared with, or None if there is none."""
    local = repository.branches.local
    if not repository.head_is_unborn and not repository.head_is_detached:
        name = repository.head.shorthand
        if name in local and not matches(name, globs):
            return name
    candidates = []
    with contextlib.suppress(KeyError, ValueError):
        candidates.append(repository.config["init.defaultBranch"])
    candidates += ["main", "master"]
    for name in candidates:
        if name in local and not matches(name, globs):
            return name
    return None


def merge_base(repository: Any, sha: str, branch: str | None) -> str | None:
    """Return the merge base of commit *sha* and *branch*, or None (no branch, unrelated)."""
    if branch is None:
        return None
    other = repository.branches.local[branch].peel().id
    base = repository.merge_base(repository.get(sha).id, other)
    return None if base is None else str(base)
