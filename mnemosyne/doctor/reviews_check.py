"""The review-worktrees check: temporary review worktrees a killed reviewer left behind.

`mnemosyne review` removes its worktree under `.mnemosyne/reviews/worktrees/` whatever
happens, except when it is killed by SIGKILL (or the machine stops). Such a worktree is found
because its commit's claim is no longer held (review/worktree.py); it is a problem that
`--fix` removes, with git's registration of it. A reviewer running now is left alone. Nothing
else is touched: a review worktree is a detached checkout of a commit that is on a branch, so
removing it loses no work.
Must not: touch any other worktree, or a branch.
"""

from __future__ import annotations

from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, listed
from mnemosyne.review.worktree import left_behind, remove_left_behind

NAME = "review-worktrees"
PURPOSE = "temporary review worktrees left by a killed reviewer: removable"


def run(ctx: Context) -> list[Finding]:
    """Report the review worktrees of gone reviewers; remove them when allowed."""
    assert ctx.root is not None
    paths = left_behind(ctx.root.path)
    if not paths:
        return [ctx.finding(NAME, "ok", "no review worktrees left behind")]
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
