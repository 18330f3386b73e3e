"""The queue check: expired messages, rejected files, leftovers, and the files of gone instances.

- messages older than the message TTL (`message_ttl_s`), to anyone: the stale-side fix
  deletes them (any scanning instance would); younger messages to instances that are not
  running wait for them, and are only counted;
- files in the queue that are not messages (a bad name, a directory): `--fix` moves them to
  `rejected/`, as the instances do;
- `rejected/` entries older than `REJECTED_KEEP_DAYS` days, and temporary files of a send that
  never finished (`.tmp-*`, of both registries too) older than `TEMP_MAX_AGE_S`: `--fix`
  deletes them;
- `cursors/<id>.json` and `locks/<id>.lock` of ids that are gone (context.py): the stale-side
  fix deletes them, a lock file only while holding its lock (coord/liveness.py).
Must not: read a message's content, or touch anything of an id that may still run.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from mnemosyne.coord.liveness import remove_free_lock_file
from mnemosyne.coord.queue import NAME_RE
from mnemosyne.coord.safefile import remove_entry, set_aside
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, listed

NAME = "queue"
PURPOSE = "expired messages, old rejected and temporary files, cursors and locks of gone ids"
REJECTED_KEEP_DAYS = 7
TEMP_MAX_AGE_S = 3600.0
NOT_INSTANCE_LOCKS = {"process_registry.json.lock", "branch_registry.json.lock", "doctor.lock"}


def run(ctx: Context) -> list[Finding]:
    """Sort every file of the queue, rejected/, cursors/ and locks/; fix what is allowed."""
    assert ctx.root is not None
    return [*_messages(ctx), *_rejected(ctx), *_cursors(ctx), *_locks(ctx)]


def _is_directory(path: Path) -> bool:
    """Return True if *path* is a real directory (not a link to one)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _names(directory: Path) -> list[str]:
    """Return the names in *directory*; none if it is missing, a link or not a directory."""
    if not _is_directory(directory):
        return []  # a link is never followed out of the root (the root check reports it)
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def _grouped(ctx: Context, kind: str, names: list[str], *, problem: str, done: str,
             fix: Callable[[str], bool]) -> list[Finding]:
    """Report *names* as one problem, or fix each with *fix* (a callable) when allowed."""
    if not names:
        return []
    if not ctx.run.may(kind):
        return [ctx.finding(NAME, "problem", f"{len(names)} {problem}: {listed(names)}",
                            files=names)]
    fixed = [name for name in names if fix(name)]
    findings = []
    if fixed:
        findings.append(ctx.finding(NAME, "fixed", f"{done} {len(fixed)} {problem}: "
                                    f"{listed(fixed)}", files=fixed))
    left = [name for name in names if name not in fixed]
    if left:
        findings.append(ctx.finding(NAME, "problem", f"{len(left)} {problem} could not be "
                                    f"handled: {listed(left)}", files=left))
    return findings


def _messages(ctx: Context) -> list[Finding]:
    assert ctx.root is not None
    queue = ctx.root.queue
    now_ns = int(ctx.run.clock() * 10**9)
    ttl_ns = int(ctx.settings.message_ttl_s * 10**9)
    expired, strays, temporaries, waiting, current = [], [], [], [], 0
    for name in _names(queue):
        if name.startswith("."):
            age = ctx.age_s(queue / name)
            if age is not None and age > TEMP_MAX_AGE_S:
                temporaries.append(name)
            continue
        match = NAME_RE.fullmatch(name)
        if match is None:
            strays.append(name)
        elif now_ns - int(match["ns"]) > ttl_ns:
            expired.append(name)
        elif match["to"] != "all" and ctx.gone(match["to"]):
            waiting.append(name)
        else:
            current += 1
    root_temporaries = []  # an atomic registry write's, in the root itself
    for name in _names(ctx.root.path):
        if name.startswith(".") and name.endswith(".tmp"):
            age = ctx.age_s(ctx.root.path / name)
            if age is not None and age > TEMP_MAX_AGE_S:
                root_temporaries.append(name)

    def move_aside(name: str) -> bool:
        source, target = queue / name, ctx.root.rejected / name
        if not _is_directory(ctx.root.rejected):
            return False  # never move anything through a link out of the root
        with contextlib.suppress(FileNotFoundError):
            if os.path.lexists(target):
                set_aside(source, ctx.root.rejected, label="rejected")
            else:
                os.replace(source, target)
        return not os.path.lexists(source)

    findings = [
        *_grouped(ctx, "stale", expired, problem=f"message(s) older than the message TTL "
                  f"({ctx.settings.message_ttl_s:g} s)", done="deleted",
                  fix=lambda name: remove_entry(queue / name)),
        *_grouped(ctx, "repair", strays, problem="file(s) in the queue that are not messages",
                  done=f"moved to {ctx.root.rejected}:", fix=move_aside),
        *_grouped(ctx, "repair", temporaries, problem=f"temporary file(s) older than "
                  f"{TEMP_MAX_AGE_S:g} s", done="deleted",
                  fix=lambda name: remove_entry(queue / name)),
        *_grouped(ctx, "repair", root_temporaries, problem=f"temporary registry file(s) "
                  f"older than {TEMP_MAX_AGE_S:g} s", done="deleted",
                  fix=lambda name: remove_entry(ctx.root.path / name)),
    ]
    if waiting:
        findings.append(ctx.finding(NAME, "ok", f"{len(waiting)} message(s) wait for instances "
                                    "that are not running (deleted once past the TTL)",
                                    files=waiting))
    findings.append(ctx.finding(NAME, "ok", f"{current + len(waiting)} message(s) in the queue"))
    return findings


def _rejected(ctx: Context) -> list[Finding]:
    assert ctx.root is not None
    keep_s = REJECTED_KEEP_DAYS * 86400
    old, young = [], 0
    for name in _names(ctx.root.rejected):
        age = ctx.age_s(ctx.root.rejected / name)
        if age is not None and age > keep_s:
            old.append(name)
        else:
            young += 1
    findings = _grouped(ctx, "repair", old, problem=f"rejected file(s) older than "
                        f"{REJECTED_KEEP_DAYS} days", done="deleted",
                        fix=lambda name: remove_entry(ctx.root.rejected / name))
    if young:
        findings.append(ctx.finding(NAME, "ok", f"{young} rejected file(s) in "
                                    f"{ctx.root.rejected}, kept {REJECTED_KEEP_DAYS} days"))
    return findings


def _cursors(ctx: Context) -> list[Finding]:
    assert ctx.root is not None
    names = [name for name in _names(ctx.root.cursors)
             if name.endswith(".json") and ctx.gone(name.removesuffix(".json"))]

    def remove(name: str) -> bool:
        # Under the id's liveness lock: an instance starting now would load the cursor.
        with ctx.holding_if_gone(name.removesuffix(".json")) as gone:
            return gone and remove_entry(ctx.root.cursors / name)

    return _grouped(ctx, "stale", names, problem="cursor(s) of instances that are gone",
                    done="deleted", fix=remove)


def _locks(ctx: Context) -> list[Finding]:
    assert ctx.root is not None
    ids = [name.removesuffix(".lock") for name in _names(ctx.root.locks)
           if name.endswith(".lock") and name not in NOT_INSTANCE_LOCKS]
    names = [f"{instance_id}.lock" for instance_id in ids if ctx.gone(instance_id)]

    def remove(name: str) -> bool:
        instance_id = name.removesuffix(".lock")
        return ctx.gone(instance_id) and remove_free_lock_file(ctx.root.locks, instance_id)

    return _grouped(ctx, "stale", names, problem="liveness lock file(s) of instances that are "
                    "gone", done="deleted", fix=remove)
