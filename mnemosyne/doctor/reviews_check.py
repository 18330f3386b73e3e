"""The review-worktrees check: temporary review worktrees a killed reviewer left behind.

`mnemosyne review` removes its worktree under `.mnemosyne/reviews/worktrees/` whatever
happens, except when it is killed by SIGKILL (or the machine stops). Such a worktree is found
because its commit's claim is no longer held (review/worktree.py); it is a problem that
`--fix` removes, with git's registration of it. Git's registrations of review worktrees whose
directory is gone (deleted by hand) are pruned by `--fix` too. A reviewer running now is left
alone. Nothing else is touched: a review worktree is a detached checkout of a commit that is on
a branch, so removing it loses no work.
Must not: touch any other worktree, or a branch.
"""

from __future__ import annotations

from pathlib import Path

from mnemosyne.coord.worktree_audit import prunable_registrations, prune_registration
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, listed
from mnemosyne.review.record import holding_claim, real_directory
from mnemosyne.review.worktree import left_behind, remove_left_behind

NAME = "review-worktrees"
PURPOSE = "temporary review worktrees left by a killed reviewer: removable"


def run(ctx: Context) -> list[Finding]:
    """Report the review worktrees of gone reviewers; remove them when allowed."""
    assert ctx.root is not None
    paths = left_behind(ctx.root.path)
    registrations = _registrations(ctx)
    if not paths:
        return registrations or [ctx.finding(NAME, "ok", "no review worktrees left behind")]
    return _worktrees(ctx, paths) + registrations


def _registrations(ctx: Context) -> list[Finding]:
    """Git's registrations of review worktrees whose directory is gone (and reviewer too)."""
    assert ctx.root is not None
    git = ctx.git()
    directory = ctx.root.path / "reviews" / "worktrees"
    if git is None or not real_directory(directory.parent) or not real_directory(directory):
        return []
    names = [name for name in prunable_registrations(git.common_dir, directory)
             if claim_is_free(ctx.root.path, name)]
    if not names:
        return []
    if not ctx.run.may("repair"):
        return [ctx.finding(NAME, "problem", f"{len(names)} git registration(s) of review "
                            f"worktrees whose directory is gone (prunable): {listed(names)}",
                            names=names)]
    pruned = [name for name in names if prune_registration(git.common_dir, name)]
    return [ctx.finding(NAME, "fixed", f"pruned {len(pruned)} git registration(s) of review "
                        f"worktrees whose directory was gone: {listed(pruned)}", names=pruned)]


def claim_is_free(root_path: Path, name: str) -> bool:
    """Return True unless a reviewer holds the claim of the commit *name* (git's admin name)."""
    with holding_claim(root_path, name[:40], create=False) as free:
        return free


def _worktrees(ctx: Context, paths: list[Path]) -> list[Finding]:
    assert ctx.root is not None
    names = [path.name[:12] for path in paths]
    if not ctx.run.may("repair"):
        return [ctx.finding(NAME, "problem", f"{len(paths)} review worktree(s) left by a "
                            f"reviewer that was killed (removable with --fix): {listed(names)}",
                            paths=[str(path) for path in paths])]
    git = ctx.git()
    common_dir = git.common_dir if git is not None else None
    removed = [path for path in paths if remove_left_behind(ctx.root.path, common_dir, path)]
    findings = []
    if removed:
        findings.append(ctx.finding(NAME, "fixed", f"removed {len(removed)} review worktree(s) "
                                    f"left by a killed reviewer: "
                                    f"{listed([p.name[:12] for p in removed])}",
                                    paths=[str(path) for path in removed]))
    kept = [path for path in paths if path not in removed]
    if kept:
        findings.append(ctx.finding(NAME, "problem", f"could not remove review worktree(s) "
                                    f"{listed([p.name[:12] for p in kept])}",
                                    paths=[str(path) for path in kept]))
    return findings
