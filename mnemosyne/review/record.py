"""Review each commit once: the per-commit claim, the record of what is done, and the result.

Once, across restarts and between reviewers running at once, without SQL:
- a claim: an exclusive `flock` on `.mnemosyne/reviews/claims/<commit>.lock`, taken without
  waiting and held for the whole review (the file is deleted once the commit is done). A
  second reviewer skips a claimed commit; the kernel drops the claim of a reviewer that dies,
  even by SIGKILL, so the commit is reviewed later.
- under the claim, "reviewed before" is a memory of type `review` tagged `commit:<full id>`
  (found with recall's tag filter) or the marker `reviews/done/<commit>` (naming that memory),
  written right after the memory is stored: the marker still says "done" after the memory is
  archived or moved, and the memory after the root is lost.
The result is one memory per commit (tags `review`, `pass` or `fail`, `commit:<full id>`,
`commit:<short id>`, `branch:<name>` for each branch name short enough to be a tag) and a
`ReviewResult` message, at most message_size_cap bytes (the output tail is shortened to fit),
to each live instance holding a write/full claim on one of the commit's branches or
registered as working on it.
Must not: run the check or touch git (reviewer.py and worktree.py do).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mnemosyne.coord.branches import BranchRegistry
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.coord.registry import ProcessRegistry
from mnemosyne.coord.safefile import UntrustedFile, open_lock_file, read_untrusted
from mnemosyne.errors import MnemosyneError, UnsafeError, UsageError
from mnemosyne.store import model
from mnemosyne.store.backend import MemoryBackend
from mnemosyne.store.query import make_recall_query

logger = logging.getLogger(__name__)

MEMORY_TYPE = "review"
MESSAGE_TYPE = "ReviewResult"
REVIEW_DIRECTORY = "reviews"
DONE_MAX_BYTES = 256
MESSAGE_TAIL_CHARS = 400
ENVELOPE_BYTES = 320  # what the queue adds around a payload (ids, type, time, signature)


@dataclasses.dataclass(frozen=True)
class ReviewResult:
    """What one review found."""

    sha: str
    branches: tuple[str, ...]
    passed: bool
    check: str | None
    exit_status: int | None
    timed_out: bool
    duration_s: float
    output: str
    markers: tuple[str, ...]
    marker_count: int
    memory_id: str | None = None
    notified: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        data = dataclasses.asdict(self)
        data["branches"], data["markers"] = list(self.branches), list(self.markers)
        data["notified"] = list(self.notified)
        data["result"] = "pass" if self.passed else "fail"
        data["duration_s"] = round(self.duration_s, 3)
        return data

    def headline(self) -> str:
        """Return the one-line summary."""
        verdict = "passed" if self.passed else "FAILED"
        if self.check is None:
            how = "no check configured"
        elif self.timed_out:
            how = "timed out"
        else:
            how = f"exit status {self.exit_status}"
        return (f"review {verdict}: {self.sha[:12]} on {', '.join(self.branches)} ({how}, "
                f"{self.duration_s:.2f} s, {self.marker_count} marker(s))")


def real_directory(path: Path) -> bool:
    """Return True if *path* is a directory of this user, not a symbolic link."""
    try:
        status = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and status.st_uid == os.geteuid()


def review_directory(root_path: Path, name: str) -> Path:
    """Return `reviews/<name>` under the root at *root_path*, made 0700 if missing.

    Raises UnsafeError if either is a symbolic link, not a directory, or another user's
    (nothing is ever made through a link).
    """
    directory = root_path / REVIEW_DIRECTORY / name
    for part in (directory.parent, directory):
        with contextlib.suppress(FileExistsError):
            os.mkdir(part, 0o700)
        if not real_directory(part):
            raise UnsafeError(f"refusing {part}: it is a symbolic link, not a directory, or "
                              "another user's (move it away)")
    return directory


@contextlib.contextmanager
def holding_claim(root_path: Path, sha: str, create: bool = True) -> Iterator[bool]:
    """Hold commit *sha*'s claim for the block if no one else does; yield whether it is held.

    With *create* False a claim file that does not exist counts as free, and none is made.
    """
    path = root_path / REVIEW_DIRECTORY / "claims" / f"{sha}.lock"
    if not create and not os.path.lexists(path):
        yield True
        return
    if not create and not (real_directory(path.parent.parent) and real_directory(path.parent)):
        yield False  # not ours to judge: leave it alone
        return
    try:
        fd = open_lock_file(review_directory(root_path, "claims") / f"{sha}.lock")
    except OSError as error:
        raise MnemosyneError(f"cannot claim commit {sha[:12]} for review: "
                             f"{error.strerror or error}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def drop_claim_file(root_path: Path, sha: str) -> None:
    """Delete commit *sha*'s claim file once it is done (call it holding the claim).

    Safe because the done marker (and the memory) are written first: a reviewer that opened
    the old file, or makes a new one, finds the commit done once it holds its lock.
    """
    with contextlib.suppress(OSError):
        os.unlink(root_path / REVIEW_DIRECTORY / "claims" / f"{sha}.lock")


def done_marker(root_path: Path, sha: str) -> str | None:
    """Return the memory id the done marker of *sha* names ('' if unreadable), or None."""
    path = root_path / REVIEW_DIRECTORY / "done" / sha
    try:
        return read_untrusted(path, DONE_MAX_BYTES).decode("ascii", "replace").strip()
    except FileNotFoundError:
        return None
    except (UntrustedFile, OSError):  # a damaged marker still says "reviewed"
        return ""


def mark_done(root_path: Path, sha: str, memory_id: str) -> None:
    """Write the done marker of *sha*, naming *memory_id* (a warning if it cannot)."""
    path = review_directory(root_path, "done") / sha
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        with os.fdopen(fd, "w") as stream:
            stream.write(memory_id + "\n")
    except OSError as error:
        logger.warning("cannot write the review marker %s: %s", path, error.strerror or error)


def stored_review(store: MemoryBackend, sha: str) -> str | None:
    """Return the id of a stored review memory of commit *sha*, or None."""
    query = make_recall_query(memory_types=MEMORY_TYPE, tags=[f"commit:{sha}"], limit=1)
    hits = store.recall(query, count_access=False)
    return hits[0].memory.id if hits else None


def reviewed_before(root_path: Path, store: MemoryBackend, sha: str) -> bool:
    """Return True if commit *sha* was reviewed before (call it holding the claim)."""
    if done_marker(root_path, sha) is not None:
        return True
    memory_id = stored_review(store, sha)
    if memory_id is None:
        return False
    mark_done(root_path, sha, memory_id)
    return True


def memory_tags(result: ReviewResult) -> list[str]:
    """Return the tags of a review memory: what it is, the verdict, the commit, the branches."""
    tags = [MEMORY_TYPE, "pass" if result.passed else "fail", f"commit:{result.sha}",
            f"commit:{result.sha[:12]}"]
    for branch in result.branches:
        tag = f"branch:{branch}"
        if model.TAG_RE.fullmatch(tag) and len(tags) < model.MAX_TAGS:
            tags.append(tag)
    return tags


def memory_content(result: ReviewResult) -> str:
    """Return the text of a review memory."""
    lines = [result.headline(), f"commit: {result.sha}",
             f"branches: {', '.join(result.branches)}",
             f"check: {result.check or '(none)'}",
             f"exit status: {'timeout' if result.timed_out else result.exit_status}",
             f"duration: {result.duration_s:.3f} s",
             f"markers ({result.marker_count}):"]
    lines += [f"  {marker}" for marker in result.markers] or ["  none"]
    lines += ["output (last 2 KB):", result.output or "(none)"]
    return "\n".join(lines)


def store_result(store: MemoryBackend, result: ReviewResult, namespace: str) -> str:
    """Store *result* as one memory of type `review` in *namespace*; return its id."""
    memory = store.remember(memory_content(result), namespace=namespace,
                            importance=4 if result.passed else 7, tags=memory_tags(result),
                            memory_type=MEMORY_TYPE, summary=result.headline())
    return memory.id


def recipients(registry: ProcessRegistry, branches: Sequence[str],
               exclude: str | None = None) -> list[str]:
    """Return the live instances working on any of *branches* (claim or registry entry)."""
    live = {view.instance_id: view for view in registry.views() if view.state == "live"}
    found: list[str] = []
    assignments = BranchRegistry(registry).assignments()
    for branch in branches:
        for claim in assignments.get(branch, []):
            if claim.get("intent") != "read-only":
                found.append(str(claim["instance_id"]))
    for instance_id, view in live.items():
        if view.entry.get("branch") in branches:
            found.append(instance_id)
    return [instance_id for instance_id in dict.fromkeys(found)
            if instance_id in live and instance_id != exclude]


def message_payload(result: ReviewResult, max_bytes: int) -> dict[str, Any]:
    """Return the message body for *result*, its output tail cut to fit *max_bytes* in all."""
    payload: dict[str, Any] = {
        "commit": result.sha, "branches": list(result.branches)[:4],
        "result": "pass" if result.passed else "fail", "exit_status": result.exit_status,
        "timed_out": result.timed_out, "duration_s": round(result.duration_s, 3),
        "markers": result.marker_count, "memory_id": result.memory_id,
        "output_tail": result.output[-MESSAGE_TAIL_CHARS:]}
    while True:
        size = len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode())
        if size + ENVELOPE_BYTES <= max_bytes or not (payload["output_tail"]
                                                        or payload["branches"]):
            return payload
        if payload["output_tail"]:
            payload["output_tail"] = payload["output_tail"][max(16, size + ENVELOPE_BYTES
                                                                - max_bytes):]
        else:
            payload["branches"] = payload["branches"][:-1]


def notify(queue: MessageQueue, registry: ProcessRegistry,
           result: ReviewResult) -> tuple[str, ...]:
    """Send *result* to the instances working on its branches; return whom it reached."""
    payload = message_payload(result, queue.max_bytes)
    sent = []
    for instance_id in recipients(registry, result.branches, exclude=queue.instance_id):
        try:
            queue.send(instance_id, MESSAGE_TYPE, payload)
        except (MnemosyneError, UsageError) as error:
            logger.warning("could not send the review of %s to %s: %s", result.sha[:12],
                           instance_id, error)
            continue
        sent.append(instance_id)
    return tuple(sent)
