"""One review pass: every tip not reviewed before is claimed, checked, scanned and recorded.

`Reviewer(settings, options)` locates the repository from the working directory (exit status
2 outside one), opens the coordination root and the store; `run_pass` reviews each pending tip
in branch order and returns the results. A commit claimed by another reviewer is skipped for
now (it records it); one reviewed before is skipped for good. For each review: a temporary
worktree (only when there is a check to run), the check with its timeout, the marker scan,
then the memory, the done marker and the messages. A stop (SIGTERM/SIGINT seen on *stop_fd*)
raises CheckStopped out of the pass, after the worktree is removed.
Must not: install signal handlers or loop (watcher.py and the CLI do).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import select
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mnemosyne.config import Settings
from mnemosyne.coord.context import open_root, signing_key
from mnemosyne.coord.identity import new_instance_id
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.coord.registry import ProcessRegistry
from mnemosyne.coord.root import GitLocation, locate_git
from mnemosyne.errors import UsageError
from mnemosyne.review import markers, record, tips
from mnemosyne.review.checkrun import CheckResult, CheckStopped, run_check
from mnemosyne.review.record import ReviewResult
from mnemosyne.review.worktree import temporary_worktree
from mnemosyne.store import model, open_store

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ReviewOptions:
    """What to review and how, validated (build it with `make_options`)."""

    globs: tuple[str, ...] = tips.DEFAULT_GLOBS
    check: str | None = None
    timeout_s: float = 600.0
    namespace: str | None = None


def make_options(settings: Settings, globs: Sequence[str] | None = None,
                 check: str | None = None, timeout_s: float | None = None,
                 namespace: str | None = None) -> ReviewOptions:
    """Validate the flags (falling back to the review settings). Raises UsageError."""
    patterns = tuple(globs or tips.DEFAULT_GLOBS)
    for pattern in patterns:
        if not pattern.strip() or any(char in pattern for char in "\x00\n"):
            raise UsageError(f"invalid --branch pattern {pattern!r}")
    command = settings.review_check if check is None else check
    if command is not None and not command.strip():
        raise UsageError("--check is empty: give a shell command, e.g. --check 'make test'")
    timeout = settings.review_timeout_s if timeout_s is None else timeout_s
    if not 0 < timeout < float("inf"):
        raise UsageError(f"--timeout must be a positive number of seconds, not {timeout:g}")
    if namespace is not None:
        model.validate_namespace(namespace)
    return ReviewOptions(patterns, command, float(timeout), namespace)


def project_namespace(location: GitLocation) -> str:
    """Return `project:<main worktree's directory name>` (made valid), or `global`."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", location.main_worktree.name).lstrip("._-")[:64]
    namespace = f"project:{name}"
    return namespace if name and model.NAMESPACE_RE.fullmatch(namespace) else "global"


class Reviewer:
    """Reviews the tips of one repository's instance branches."""

    def __init__(self, settings: Settings, options: ReviewOptions, start: Path | None = None,
                 *, sender_id: str | None = None, stop_fd: int | None = None,
                 tick: Callable[[], None] | None = None) -> None:
        start = Path.cwd() if start is None else start
        location = locate_git(start)
        if location is None:
            raise UsageError(f"not in a git repository: {start} (run review inside the "
                             "repository whose branches it reviews)")
        self.location = location
        self.options = options
        self.namespace = options.namespace or project_namespace(location)
        self.root = open_root(settings, start)
        for name in ("claims", "done", "worktrees"):  # refused early if a link is planted
            record.review_directory(self.root.path, name)
        self.repository = tips.open_repository(location.common_dir)
        key = signing_key(settings)
        self.registry = ProcessRegistry(self.root, key, settings.stale_threshold_s, time.time)
        self.queue = MessageQueue(self.root, sender_id or new_instance_id(), key,
                                  max_bytes=settings.message_size_cap,
                                  ttl_s=settings.message_ttl_s)
        self.stop_fd = stop_fd
        self.tick = tick
        self.store = open_store(settings)
        self.busy: list[str] = []  # commits another reviewer held in the last pass

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def stop_requested(self) -> bool:
        """Return True if the stop descriptor is readable (a signal arrived)."""
        if self.stop_fd is None:
            return False
        return bool(select.select([self.stop_fd], [], [], 0)[0])

    def pending(self) -> list[tips.Tip]:
        """Return the matching tips with no done marker (reviewed_before decides the rest)."""
        self.repository = tips.open_repository(self.location.common_dir)  # see new refs
        return [tip for tip in tips.branch_tips(self.repository, self.options.globs)
                if record.done_marker(self.root.path, tip.sha) is None]

    def run_pass(self, on_result: Callable[[ReviewResult], None] | None = None,
                 ) -> list[ReviewResult]:
        """Review every pending tip once; return the results of the reviews made."""
        results = []
        self.busy = []
        for tip in self.pending():
            if self.stop_requested():
                raise CheckStopped
            result = self.review_tip(tip)
            if result is not None:
                results.append(result)
                if on_result is not None:
                    on_result(result)
        return results

    def review_tip(self, tip: tips.Tip) -> ReviewResult | None:
        """Claim, review and record *tip*; None if reviewed before or claimed elsewhere."""
        with record.holding_claim(self.root.path, tip.sha) as held:
            if not held:
                self.busy.append(tip.sha)
                logger.info("commit %s is being reviewed by another reviewer", tip.short)
                return None
            if record.reviewed_before(self.root.path, self.store, tip.sha):
                record.drop_claim_file(self.root.path, tip.sha)
                return None
            result = self._review(tip)
            memory_id = record.store_result(self.store, result, self.namespace)
            record.mark_done(self.root.path, tip.sha, memory_id)
            record.drop_claim_file(self.root.path, tip.sha)
        result = dataclasses.replace(result, memory_id=memory_id)
        notified = record.notify(self.queue, self.registry, result)
        return dataclasses.replace(result, notified=notified)

    def _review(self, tip: tips.Tip) -> ReviewResult:
        """Run the check (in a temporary worktree) and the marker scan of *tip*."""
        started = time.monotonic()
        check = self.options.check
        if check is None:
            outcome = CheckResult(None, 0.0, "")
        else:
            with temporary_worktree(self.root.path, self.location.main_worktree,
                                    self.location.common_dir, tip.sha,
                                    stop_fd=self.stop_fd, tick=self.tick) as path:
                outcome = run_check(check, path, self.options.timeout_s, self.stop_fd,
                                    self.tick)
        base_branch = tips.default_branch(self.repository, self.options.globs)
        base = tips.merge_base(self.repository, tip.sha, base_branch)
        found, total = markers.scan_diff(self.repository, base, tip.sha)
        passed = check is None or outcome.passed
        result = ReviewResult(tip.sha, tip.branches, passed, check, outcome.exit_status,
                              outcome.timed_out, time.monotonic() - started, outcome.output,
                              tuple(marker.describe() for marker in found), total)
        logger.debug("%s", result.headline())
        return result
