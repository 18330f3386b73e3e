"""Run the doctor: choose the checks and the roots, run each check safely, collect findings.

The roots: the one this directory uses (as every command picks it), or with `--all-roots`
that one and every root in the per-user index (coord/roots.py). The current root not
existing yet is noted; an indexed one that no longer exists is dropped from the index by
`--fix`; one that is a link, not a directory or another user's is a problem and is not looked
into (nothing is created or re-moded to examine a root). With a fix asked for, each root's
checks run under an exclusive lock (`locks/doctor.lock`), so two doctors at once take turns
and the second finds nothing left.
A check that fails unexpectedly is one problem finding naming the error, never a traceback,
and the other checks still run.
Must not: print, or hold the registry lock (checks read it and let go).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from mnemosyne.config import Settings
from mnemosyne.coord.root import (
    SUBDIRECTORIES,
    CoordinationRoot,
    choose_root_path,
    locate_git,
)
from mnemosyne.coord.roots import forget_root, indexed_roots
from mnemosyne.coord.safefile import open_lock_file
from mnemosyne.coord.signing import SECRET_FILE_NAME, load_key
from mnemosyne.doctor.checks import CHECKS, CHECKS_BY_NAME, Check
from mnemosyne.doctor.context import Context, Run
from mnemosyne.doctor.findings import Finding
from mnemosyne.errors import MnemosyneError, UsageError

logger = logging.getLogger(__name__)

DOCTOR_LOCK = "doctor.lock"


def select_checks(names: Sequence[str], fix: bool, cleanup_stale: bool) -> list[Check]:
    """Return the checks to run. Raises UsageError for an unknown name."""
    unknown = [name for name in names if name not in CHECKS_BY_NAME]
    if unknown:
        raise UsageError(f"unknown check {unknown[0]!r} (see mnemosyne doctor --list-checks)")
    if names:
        return [check for check in CHECKS if check.name in names]
    if cleanup_stale and not fix:
        return [check for check in CHECKS if check.stale_side]
    return list(CHECKS)


def signing_key_for_doctor(settings: Settings) -> tuple[bytes, str | None]:
    """Return the key to judge entries with, and why it is unusable (then a random key).

    Never creates the secret file. With a random key nothing verifies, so nothing of a
    registered instance is touched.
    """
    path = settings.config_dir / SECRET_FILE_NAME
    if not settings.shared_secret and not os.path.lexists(path):
        return secrets.token_bytes(32), None
    try:
        return load_key(settings.shared_secret, settings.config_dir), None
    except MnemosyneError as error:
        return secrets.token_bytes(32), str(error)


def doctor_roots(settings: Settings, start: Path, all_roots: bool) -> list[Path]:
    """Return the coordination roots to examine, the current one first."""
    current = Path(os.path.abspath(choose_root_path(settings.root, start, settings.state_dir)))
    roots = [current]
    if all_roots:
        roots += [root for root in indexed_roots(settings.state_dir) if root != current]
    return roots


def run_doctor(settings: Settings, *, names: Sequence[str] = (), fix: bool = False,
               cleanup_stale: bool = False, all_roots: bool = False,
               start: Path | None = None) -> list[Finding]:
    """Run the chosen checks over the chosen roots; return every finding, in order.

    Raises UsageError for an unknown check name.
    """
    checks = select_checks(names, fix, cleanup_stale)
    start = Path.cwd() if start is None else start
    key, key_problem = signing_key_for_doctor(settings)
    run = Run(settings, key, fix=fix, cleanup_stale=cleanup_stale)
    findings: list[Finding] = []
    if key_problem is not None:
        findings.append(Finding("registry", "warn", f"cannot verify entries ({key_problem}): "
                                "nothing of a registered instance is touched"))
    per_root = [check for check in checks if check.per_root]
    if per_root:
        for index, path in enumerate(doctor_roots(settings, start, all_roots)):
            if index and not os.path.lexists(path):
                findings.append(_forget_gone_root(run, path))
                continue
            findings += _examine_root(run, path, start, per_root)
    for check in checks:
        if not check.per_root:
            findings += _run_check(check, Context(run))
    return findings


def _lstat_mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except OSError:
        return 0


def _forget_gone_root(run: Run, path: Path) -> Finding:
    """Report an indexed root that no longer exists; drop it from the index with --fix."""
    if run.may("repair"):
        try:
            forget_root(run.settings.state_dir, path)
        except OSError as error:
            return Finding("root", "problem", f"the indexed root {path} no longer exists, and "
                           f"the index cannot be changed: {error.strerror or error}",
                           root=str(path))
        return Finding("root", "fixed", f"forgot the indexed root {path}: it no longer exists",
                       root=str(path))
    return Finding("root", "problem", f"the indexed root {path} no longer exists",
                   root=str(path))


def _examine_root(run: Run, path: Path, start: Path, checks: list[Check]) -> list[Finding]:
    problem = _unusable_root(path)
    if problem == "missing":
        return [Finding("root", "ok", f"no coordination root at {path} yet", root=str(path))]
    if problem is not None:
        return [Finding("root", "problem", f"coordination root {path} is {problem}: not "
                        "looked into", root=str(path))]
    git = locate_git(start)
    root = CoordinationRoot(path, git if git is not None and
                            path == git.main_worktree / ".mnemosyne" else None)
    context = Context(run, root)
    findings = []
    with _fixing_alone(root, run.fix or run.cleanup_stale):
        for check in checks:
            findings += _run_check(check, context)
    return findings


def _unusable_root(path: Path) -> str | None:
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as error:
        return f"unreadable ({error.strerror})"
    if stat.S_ISLNK(status.st_mode):
        return "a symbolic link"
    if not stat.S_ISDIR(status.st_mode):
        return "not a directory"
    if status.st_uid != os.geteuid():
        return f"another user's (user id {status.st_uid})"
    for name in SUBDIRECTORIES:  # a link here would lead every check out of the root
        try:
            inner = os.lstat(path / name)
        except FileNotFoundError:
            continue
        except OSError as error:
            return f"unreadable ({name}: {error.strerror})"
        if not stat.S_ISDIR(inner.st_mode):
            return f"holding {name} that is a link or not a directory"
    return None


@contextlib.contextmanager
def _fixing_alone(root: CoordinationRoot, fixing: bool) -> Iterator[None]:
    """Hold the root's doctor lock while fixing, so that two doctors take turns."""
    if not fixing or not stat.S_ISDIR(_lstat_mode(root.locks)):
        yield
        return
    try:
        fd = open_lock_file(root.locks / DOCTOR_LOCK)
    except OSError as error:
        logger.warning("cannot take %s: %s", root.locks / DOCTOR_LOCK, error.strerror or error)
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _run_check(check: Check, context: Context) -> list[Finding]:
    try:
        return check.run(context)
    except Exception as error:  # one broken check must not stop the others
        logger.debug("check %s failed", check.name, exc_info=True)
        return [Finding(check.name, "problem", f"the check failed: {type(error).__name__}: "
                        f"{error}", root=context.root_text)]
