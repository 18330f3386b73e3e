"""The worktrees check: directories under `.mnemosyne/worktrees/` whose instance is gone.

Clean ones are problems that `--fix` removes (directory and git's registration; the branch
stays); dirty, locked, unverifiable ones and ones holding commits on no other branch are
*kept*, named with their path, branch and what is unsaved (coord/worktree_audit.py). Git's
registrations whose directory is gone are pruned by `--fix`. `mnemosyne/<id>` branches with
no commits of their own are listed for information only.
Must not: touch the worktree of an instance that may still run, or delete a branch.
"""

from __future__ import annotations

import os
import stat

from mnemosyne.coord.safefile import remove_entry
from mnemosyne.coord.worktree_audit import (
    audit_worktree,
    branches_without_own_commits,
    leftovers,
    prunable_registrations,
    prune_registration,
    remove_worktree,
)
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, listed

NAME = "worktrees"
PURPOSE = "worktrees of gone instances: clean ones removable, unsaved work kept and shown"


def run(ctx: Context) -> list[Finding]:
    """Audit every left-behind worktree; remove the clean ones when allowed."""
    assert ctx.root is not None
    directory = ctx.root.worktrees
    try:  # a link or a file in its place is never followed (the root check reports it)
        names = sorted(os.listdir(directory)) if stat.S_ISDIR(os.lstat(directory).st_mode) \
            else []
    except OSError:
        names = []
    git = ctx.git()
    orphans = [name for name in names if ctx.gone(name)]
    if git is None:
        if not orphans:
            return [ctx.finding(NAME, "ok", "no worktrees (the root is not in a repository)")]
        return [ctx.finding(NAME, "kept", f"{len(orphans)} worktree(s) of gone instances, "
                            "but the root is not in a git repository to check them against: "
                            f"{listed(orphans)}", paths=[str(directory / n) for n in orphans])]
    findings = []
    for name in orphans:
        path = directory / name
        audit = audit_worktree(path, git.common_dir)
        on = f" on branch {audit.branch}" if audit.branch else ""
        details = {"path": str(path), "branch": audit.branch, **audit.details}
        if not audit.removable:
            findings.append(ctx.finding(NAME, "kept", f"worktree {path}{on} kept: "
                                        f"{audit.reason}", **details))
        elif ctx.run.may("repair") and ctx.gone(name):
            removed = remove_worktree(path, git.common_dir,
                                      lambda name=name: ctx.holding_if_gone(name))
            findings.append(ctx.finding(
                NAME, "fixed" if removed.removable else "kept",
                f"removed clean worktree {path}{on} (branch kept)" if removed.removable
                else f"worktree {path}{on} kept: {removed.reason}", **details))
        else:
            findings.append(ctx.finding(NAME, "problem", f"clean worktree {path}{on} of a gone "
                                        "instance (removable with --fix)", **details))
    findings += _registrations(ctx, git.common_dir)
    findings += _leftovers(ctx)
    running = [name for name in names if not name.startswith(".") and name not in orphans]
    findings.append(ctx.finding(NAME, "ok", f"{len(running)} worktree(s) of running "
                                "instances left alone"))
    branches = branches_without_own_commits(git.common_dir)
    if branches:
        findings.append(ctx.finding(NAME, "ok", f"{len(branches)} branch(es) with no commits of "
                                    f"their own, deletable with git branch -d: "
                                    f"{listed(branches)}", branches=branches))
    return findings


def _registrations(ctx: Context, common_dir: os.PathLike[str]) -> list[Finding]:
    assert ctx.root is not None
    # Only gone instances' registrations: git's metadata of a starting instance's worktree
    # exists a moment before its directory does.
    names = [name for name in prunable_registrations(common_dir, ctx.root.worktrees)
             if ctx.gone(name)]
    if not names:
        return []
    if not ctx.run.may("repair"):
        return [ctx.finding(NAME, "problem", f"{len(names)} git worktree registration(s) whose "
                            f"directory is gone (prunable): {listed(names)}", names=names)]
    pruned = [name for name in names if prune_registration(common_dir, name)]
    return [ctx.finding(NAME, "fixed", f"pruned {len(pruned)} git worktree registration(s) "
                        f"whose directory was gone: {listed(pruned)}", names=pruned)]


def _leftovers(ctx: Context) -> list[Finding]:
    """Worktrees a removal moved aside but could not finish deleting."""
    assert ctx.root is not None
    paths = leftovers(ctx.root.worktrees)
    if not paths:
        return []
    names = [path.name for path in paths]
    if not ctx.run.may("repair"):
        return [ctx.finding(NAME, "problem", f"{len(paths)} worktree(s) moved aside by an "
                            f"unfinished removal: {listed(names)}", names=names)]
    failed = [path.name for path in paths if not remove_entry(path)]
    done = [name for name in names if name not in failed]
    findings = [ctx.finding(NAME, "fixed", f"deleted {len(done)} worktree(s) an earlier "
                            f"removal moved aside: {listed(done)}", names=done)] if done else []
    if failed:
        findings.append(ctx.finding(NAME, "problem", f"could not delete {listed(failed)}",
                                    names=failed))
    return findings
