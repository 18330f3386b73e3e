"""Hostile commits, checks and coordination files against `mnemosyne review`.

Each test attacks a real review run (real git repository, real check processes), then checks
that the reviewer still works: it reviews the next commit and leaves no worktree behind.
"""

from __future__ import annotations

import json
import time

from tests.helpers import assert_one_line_error, run_git
from tests.integration.test_review import ENV, commit_on, reviews


def still_reviews(cli, repo, branch="mnemosyne/f0f0f0f0"):
    """Assert that a new commit is reviewed and that no review worktree is left."""
    sha = commit_on(repo, branch, f"after-{time.monotonic_ns()}.txt", "ok\n")
    result = cli("review", "--check", "true", "--format", "json", cwd=repo, env=ENV).ok()
    assert sha in [json.loads(line)["sha"] for line in result.stdout.splitlines()]
    worktrees = cli.root / "reviews" / "worktrees"
    assert not worktrees.exists() or not any(worktrees.iterdir())


def test_a_symlinked_reviews_directory_is_refused_and_never_followed(cli, git_repo, tmp_path):
    commit_on(git_repo, "mnemosyne/a0a0a0a0", "a.txt", "\n")
    target = tmp_path / "elsewhere"
    target.mkdir()
    cli.root.mkdir(parents=True, exist_ok=True)
    (cli.root / "reviews").symlink_to(target)
    assert_one_line_error(cli("review", "--check", "true", cwd=git_repo, env=ENV), 6,
                          "symbolic link")
    assert list(target.iterdir()) == []
    (target / "worktrees").mkdir()
    (target / "worktrees" / ("c" * 40)).mkdir()
    cli("doctor", "review-worktrees", "--fix", cwd=git_repo, env=ENV).ok()
    assert (target / "worktrees" / ("c" * 40)).is_dir()
    (cli.root / "reviews").unlink()
    still_reviews(cli, git_repo)


def test_a_check_flooding_its_output_keeps_only_the_tail(cli, git_repo):
    commit_on(git_repo, "mnemosyne/b0b0b0b0", "b.txt", "\n")
    result = cli("review", "--check", "head -c 30000000 /dev/zero | tr '\\0' x; echo; echo end",
                 "--format", "json", cwd=git_repo, env=ENV).ok()
    line = json.loads(result.stdout)
    assert line["output"].endswith("end\n") and len(line["output"].encode()) <= 2048
    assert len(reviews(cli, git_repo)[0]["content"].encode()) < 4096
    still_reviews(cli, git_repo)


def test_a_check_ignoring_sigterm_is_killed_at_its_timeout(cli, git_repo):
    commit_on(git_repo, "mnemosyne/c0c0c0c0", "c.txt", "\n")
    started = time.monotonic()
    result = cli("review", "--check", "trap '' TERM; sleep 30; sleep 30", "--timeout", "0.5",
                 cwd=git_repo, env=ENV)
    assert result.returncode == 1 and "timed out" in result.stdout
    assert time.monotonic() - started < 15
    still_reviews(cli, git_repo)


def test_a_check_that_makes_its_worktree_unwritable_does_not_leave_it(cli, git_repo):
    commit_on(git_repo, "mnemosyne/d0d0d0d0", "d.txt", "\n")
    cli("review", "--check", "mkdir -p locked/inner && touch locked/inner/f && chmod 000 "
        "locked/inner locked && chmod 500 .", cwd=git_repo, env=ENV).ok()
    still_reviews(cli, git_repo)


def test_a_branch_name_that_cannot_be_a_tag_is_still_reviewed_and_messaged(cli, git_repo):
    branch = 'mnemosyne/has,"quotes"-and-a-very-long-name-' + "x" * 120
    sha = commit_on(git_repo, branch, "e.txt", "# HACK\n")
    line = json.loads(cli("review", "--check", "true", "--format", "json", cwd=git_repo,
                          env=ENV).ok().stdout)
    assert line["sha"] == sha and line["branches"] == [branch]
    [memory] = reviews(cli, git_repo)
    assert not [tag for tag in memory["tags"] if tag.startswith("branch:")]
    assert run_git("rev-parse", branch, cwd=git_repo).strip() == sha
    still_reviews(cli, git_repo)
