"""`mnemosyne review` on real repositories: each commit once, results stored and sent."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import prepare_root
from tests.helpers import assert_one_line_error, run_git, stop_process_group

SECRET = "review test secret"
ENV = {"MNEMOSYNE_SHARED_SECRET": SECRET}


def commit_on(repo: Path, branch: str, name: str, text: str) -> str:
    """Commit file *name* with *text* on *branch* (made from main) without checking it out."""
    if branch not in run_git("branch", "--list", branch, cwd=repo):
        run_git("branch", branch, "main", cwd=repo)
    worktree = repo.parent / f"wt-{branch.replace('/', '-')}"
    if not worktree.exists():
        run_git("worktree", "add", "-q", str(worktree), branch, cwd=repo)
    (worktree / name).write_text(text)
    run_git("add", name, cwd=worktree)
    run_git("commit", "-q", "-m", f"add {name}", cwd=worktree)
    return run_git("rev-parse", "HEAD", cwd=worktree).strip()


def reviews(cli, repo: Path) -> list[dict]:
    memories = json.loads(cli("list", "--format", "json", "--limit", "0", cwd=repo).ok().stdout)
    return [memory for memory in memories if memory["memory_type"] == "review"]


def by_commit(memories: list[dict]) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for memory in memories:
        sha = next(tag[7:] for tag in memory["tags"] if tag.startswith("commit:")
                   and len(tag) == 47)
        found.setdefault(sha, []).append(memory)
    return found


def test_each_tip_is_reviewed_once_also_after_a_restart(cli, git_repo):
    first = commit_on(git_repo, "mnemosyne/aaaaaaaa", "a.py", "x = 1  # TODO: finish\n")
    second = commit_on(git_repo, "mnemosyne/bbbbbbbb", "b.py", "y = 2\n")
    run_git("branch", "feature", "main", cwd=git_repo)  # not an instance branch
    result = cli("review", "--check", "test -f README", "--format", "json", cwd=git_repo,
                 env=ENV).ok()
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(line["sha"] for line in lines) == sorted([first, second])
    assert all(line["result"] == "pass" for line in lines)
    marked = next(line for line in lines if line["sha"] == first)
    assert marked["marker_count"] == 1 and "a.py:1: TODO" in marked["markers"][0]
    stored = by_commit(reviews(cli, git_repo))
    assert {sha: len(found) for sha, found in stored.items()} == {first: 1, second: 1}
    memory = stored[first][0]
    assert memory["namespace"] == "project:repo"
    assert {"review", "pass", f"commit:{first[:12]}", "branch:mnemosyne/aaaaaaaa"} <= \
        set(memory["tags"])
    again = cli("review", "--check", "false", cwd=git_repo, env=ENV).ok()
    assert again.stdout == ""
    assert len(reviews(cli, git_repo)) == 2
    third = commit_on(git_repo, "mnemosyne/aaaaaaaa", "c.py", "z = 3\n")
    later = cli("review", "--check", "true", "--format", "json", cwd=git_repo, env=ENV).ok()
    assert [json.loads(line)["sha"] for line in later.stdout.splitlines()] == [third]
    assert not list((cli.root / "reviews" / "worktrees").iterdir())
    assert not list((cli.root / "reviews" / "claims").iterdir())
    assert "mnemosyne/aaaaaaaa" in run_git("branch", "--list", cwd=git_repo)
    assert run_git("worktree", "list", "--porcelain", cwd=git_repo).count("worktree ") == 3


def test_a_failing_check_is_recorded_as_failed_and_its_instance_messaged(cli, git_repo):
    sha = commit_on(git_repo, "mnemosyne/cccccccc", "c.py", "raise SystemExit(3)\n")
    root = prepare_root(cli.root, git_repo)
    instance = CrossProcessCoordinator(root, "cccccccc", SECRET.encode())
    instance.register(branch="mnemosyne/cccccccc")
    try:
        instance.claim_branch("mnemosyne/cccccccc")
        result = cli("review", "--check", "echo checking; python3 c.py", "-n", "project:p",
                     cwd=git_repo, env=ENV)
        assert result.returncode == 1, result.stderr
        assert "FAILED" in result.stdout and "-> cccccccc" in result.stdout
        messages = instance.receive_messages()
    finally:
        instance.unregister()
    assert [message.message_type for message in messages] == ["ReviewResult"]
    payload = messages[0].payload
    assert (payload["commit"], payload["result"], payload["exit_status"]) == (sha, "fail", 3)
    assert "checking" in payload["output_tail"]
    memory = reviews(cli, git_repo)[0]
    assert memory["namespace"] == "project:p" and "fail" in memory["tags"]
    assert "exit status: 3" in memory["content"] and "checking" in memory["content"]


def test_a_check_over_its_timeout_is_killed_and_fails(cli, git_repo):
    commit_on(git_repo, "mnemosyne/dddddddd", "d.py", "\n")
    started = time.monotonic()
    result = cli("review", "--check", "sleep 30", "--timeout", "0.5", "--format", "json",
                 cwd=git_repo, env=ENV)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 15
    line = json.loads(result.stdout)
    assert line["timed_out"] and line["exit_status"] is None


def test_two_reviewers_at_once_review_each_commit_once(cli, git_repo, isolated_env, db_path):
    shas = [commit_on(git_repo, f"mnemosyne/{c * 8}", f"{c}.py", "\n") for c in "abcdef"]
    command = [sys.executable, "-m", "mnemosyne", "--db", str(db_path), "review", "--check",
               "sleep 0.3"]
    processes = [subprocess.Popen(command, cwd=git_repo, env={**isolated_env, **ENV},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    stored = by_commit(reviews(cli, git_repo))
    assert {sha: len(found) for sha, found in stored.items()} == dict.fromkeys(shas, 1)
    assert sum(len(out.splitlines()) for out, _ in outputs) == len(shas)


def test_watch_reviews_a_new_commit_at_once_and_stops_on_sigterm(cli, git_repo, isolated_env,
                                                                db_path):
    commit_on(git_repo, "mnemosyne/eeeeeeee", "e.py", "\n")
    process = start_review(git_repo, isolated_env, db_path, "--watch", "--check", "true",
                           "--format", "json")
    try:
        assert process.stdout is not None
        json.loads(process.stdout.readline())  # the commit already there
        instances = json.loads(cli("instances", "--format", "json", cwd=git_repo,
                                   env=ENV).ok().stdout)
        assert [view.get("kind") for view in instances] == ["review"]
        sha = commit_on(git_repo, "mnemosyne/eeeeeeee", "f.py", "\n")
        committed = time.monotonic()
        line = json.loads(process.stdout.readline())
        latency = time.monotonic() - committed
        assert line["sha"] == sha
        assert latency < 5, latency  # the target is 1 s; bench/review.py measures it
        process.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert process.wait(10) == 0
        assert time.monotonic() - stopping < 5
    finally:
        stop(process)
    assert json.loads(cli("instances", "--format", "json", cwd=git_repo,
                          env=ENV).ok().stdout) == []


def test_sigterm_during_a_check_removes_the_worktree(cli, git_repo, isolated_env, db_path):
    commit_on(git_repo, "mnemosyne/abababab", "g.py", "\n")
    process = start_review(git_repo, isolated_env, db_path, "--check", "sleep 60")
    worktrees = cli.root / "reviews" / "worktrees"
    try:
        wait_for(lambda: worktrees.is_dir() and any(worktrees.iterdir()))
        time.sleep(0.3)  # the check is running
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        stop(process)
    assert not any(worktrees.iterdir())
    assert reviews(cli, git_repo) == []


def start_review(repo: Path, env: dict[str, str], db_path: Path,
                 *args: str) -> subprocess.Popen:
    """Start `mnemosyne review ARGS` in its own session, stdout piped, stderr to a file."""
    with open(repo.parent / "review-stderr.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "mnemosyne", "--db", str(db_path),
                                 "review", *args], cwd=repo, env={**env, **ENV},
                                stdout=subprocess.PIPE, stderr=log, text=True,
                                start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """Stop and reap *process*, closing its pipe."""
    stop_process_group(process)
    if process.stdout is not None:
        process.stdout.close()


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def processes_in(directory: Path) -> list[int]:
    """Return the PIDs whose working directory is inside *directory* (the check's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd.startswith(str(directory)):
                found.append(int(entry.name))
    return found


def test_a_worktree_left_by_sigkill_is_reported_and_removed_by_doctor(cli, git_repo,
                                                                      isolated_env, db_path):
    commit_on(git_repo, "mnemosyne/cdcdcdcd", "h.py", "\n")
    process = start_review(git_repo, isolated_env, db_path, "--check", "sleep 60")
    worktrees = cli.root / "reviews" / "worktrees"
    try:
        wait_for(lambda: worktrees.is_dir() and any(worktrees.iterdir()))
        wait_for(lambda: processes_in(worktrees))
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        stop(process)
        for pid in processes_in(worktrees):  # the orphaned check (in its own group)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    [left] = list(worktrees.iterdir())
    report = cli("doctor", "review-worktrees", cwd=git_repo, env=ENV)
    assert report.returncode == 4, report.stdout + report.stderr
    assert "left by a reviewer that was killed" in report.stdout
    assert left.is_dir()
    cli("doctor", "review-worktrees", "--fix", cwd=git_repo, env=ENV).ok()
    assert not left.exists()
    assert str(left) not in run_git("worktree", "list", cwd=git_repo)
    cli("doctor", "review-worktrees", cwd=git_repo, env=ENV).ok()
    # The commit was never recorded: the next pass reviews it.
    assert "passed" in cli("review", "--check", "true", cwd=git_repo, env=ENV).ok().stdout


@pytest.mark.parametrize(("args", "fragment"), [
    (("--timeout", "0"), "--timeout must be a positive number"),
    (("--check", " "), "--check is empty"),
    (("-n", "nope"), "invalid namespace"),
    (("--timeout", "soon"), "invalid float value"),
])
def test_bad_flags_are_one_line_errors(cli, git_repo, args, fragment):
    assert_one_line_error(cli("review", *args, cwd=git_repo, env=ENV), 2, fragment)


def test_outside_a_repository_is_a_one_line_error(cli, tmp_path):
    outside = tmp_path / "plain"
    outside.mkdir()
    assert_one_line_error(cli("review", cwd=outside, env=ENV), 2, "not in a git repository")


def test_watch_stops_within_a_second_during_a_long_check(cli, git_repo, isolated_env, db_path):
    commit_on(git_repo, "mnemosyne/dcdcdcdc", "i.py", "\n")
    process = start_review(git_repo, isolated_env, db_path, "--watch", "--check", "sleep 60")
    worktrees = cli.root / "reviews" / "worktrees"
    try:
        wait_for(lambda: worktrees.is_dir() and bool(processes_in(worktrees)))
        process.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert process.wait(10) == 0
        assert time.monotonic() - stopping < 2  # the target is 1 s; the machine is shared
    finally:
        stop(process)
    assert not any(worktrees.iterdir()) and not processes_in(worktrees)
    assert reviews(cli, git_repo) == []
