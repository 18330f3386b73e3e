"""The root check: the coordination directory is this user's, not a link, and private.

Every directory under the root must be 0700 and every file 0600 (not the instances'
worktrees, nor the temporary review worktrees in `reviews/worktrees/`, which git makes with
the user's own modes: the 0700 `worktrees/` keeps them private, and a live instance's worktree
is never re-moded; their owner and links are judged): anything
group- or world-accessible is a problem that `--fix` repairs with chmod, since instances
create everything private and files dropped in from elsewhere (queue, rejected/) keep the
mode they came with. Symbolic links inside the root and files of another user are reported,
never followed or changed.
Must not: follow a link, or change anything but modes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, listed

NAME = "root"
PURPOSE = "the coordination directory's owner, links and modes (0700 directories, 0600 files)"
MOST_ENTRIES = 100_000  # a root with more is reported, not walked further


def run(ctx: Context) -> list[Finding]:
    """Walk the root (not its worktrees' contents) and judge each entry's owner and mode."""
    assert ctx.root is not None
    loose, foreign, links = [], [], []
    seen = 0
    # Review worktrees (review/worktree.py) are git checkouts too, made and removed by reviews.
    worktrees = (ctx.root.worktrees, ctx.root.path / "reviews" / "worktrees")
    for path, status in _walk(ctx.root.path, worktrees):
        seen += 1
        if seen > MOST_ENTRIES:
            break
        relative = str(path.relative_to(ctx.root.path)) if path != ctx.root.path else "."
        if stat.S_ISLNK(status.st_mode):
            links.append(relative)
        elif status.st_uid != os.geteuid():
            foreign.append(relative)
        elif stat.S_IMODE(status.st_mode) & 0o077 and path.parent not in worktrees:
            loose.append((relative, path, stat.S_ISDIR(status.st_mode),
                          stat.S_IMODE(status.st_mode)))
    findings = []
    if loose:
        names = [f"{relative} ({mode:04o})" for relative, _path, _dir, mode in loose]
        if ctx.run.may("repair"):
            fixed = [relative for relative, path, is_dir, _mode in loose
                     if _chmod(path, 0o700 if is_dir else 0o600)]
            findings.append(ctx.finding(NAME, "fixed", f"made {len(fixed)} entr(ies) private "
                                        f"(0700/0600): {listed(fixed)}", paths=fixed))
        else:
            findings.append(ctx.finding(NAME, "problem", f"{len(loose)} entr(ies) others can "
                                        f"access: {listed(names)}", paths=names))
    if foreign:
        findings.append(ctx.finding(NAME, "problem", f"{len(foreign)} entr(ies) of another "
                                    f"user: {listed(foreign)}", paths=foreign))
    if links:
        findings.append(ctx.finding(NAME, "warn", f"{len(links)} symbolic link(s) inside the "
                                    f"root (never followed): {listed(links)}", paths=links))
    if seen > MOST_ENTRIES:
        findings.append(ctx.finding(NAME, "warn", f"over {MOST_ENTRIES} entries: checked the "
                                    "first ones only"))
    if not findings:
        findings.append(ctx.finding(NAME, "ok", f"{ctx.root.path}: yours, private, "
                                    f"{seen} entr(ies) checked"))
    return findings


def _walk(top: Path, worktrees: tuple[Path, ...]) -> Iterator[tuple[Path, os.stat_result]]:
    """Yield (path, lstat) for *top* and everything under it.

    Links are not descended into, nor the worktrees themselves (only the worktrees directory
    and its entries are judged).
    """
    stack = [top]
    yield top, os.lstat(top)
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                status = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            yield path, status
            if stat.S_ISDIR(status.st_mode) and directory not in worktrees:
                stack.append(path)


def _chmod(path: Path, mode: int) -> bool:
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except (OSError, NotImplementedError):
        return False
    return True
