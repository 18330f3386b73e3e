"""`mnemosyne serve` in real git repositories: dedicated worktrees, kept work, taken back."""

from __future__ import annotations

import json
import os
import signal

from tests.helpers import run_git

NO_ROOT = {"MNEMOSYNE_ROOT": ""}  # empty counts as unset: the root follows git


def instances(cli, cwd):
    return {view["instance_id"]: view for view in json.loads(
        cli("instances", "--format", "json", env=NO_ROOT, cwd=cwd).ok().stdout)}


def linked_worktree(git_repo, tmp_path):
    linked = tmp_path / "linked"
    run_git("worktree", "add", "-q", "-b", "feature", str(linked), cwd=git_repo)
    return linked


def test_started_in_a_linked_worktree_it_gets_its_own_and_removes_it_when_clean(
        start_daemon, cli, git_repo, tmp_path):
    linked = linked_worktree(git_repo, tmp_path)
    daemon = start_daemon("--instance-id", "a1b2c3d4", env=NO_ROOT, cwd=linked / "src")
    ready = daemon.wait_for_line("ready:")
    own = git_repo / ".mnemosyne" / "worktrees" / "a1b2c3d4"
    assert f"worktree {own} on mnemosyne/a1b2c3d4" in ready
    assert os.readlink(f"/proc/{daemon.process.pid}/cwd") == str(own / "src")
    view = instances(cli, git_repo)["a1b2c3d4"]
    assert (view["worktree_path"], view["branch"]) == (str(own), "mnemosyne/a1b2c3d4")
    claims = json.loads((git_repo / ".mnemosyne" / "branch_registry.json").read_text())
    assert [claim["instance_id"] for claim in claims["branches"]["mnemosyne/a1b2c3d4"]] == \
        ["a1b2c3d4"]
    assert run_git("status", "--porcelain", cwd=git_repo) == ""
    daemon.send(signal.SIGTERM)
    assert daemon.wait() == 0
    assert not own.exists()
    assert str(own) not in run_git("worktree", "list", cwd=git_repo)
    assert "mnemosyne/a1b2c3d4" in run_git("branch", "--list", cwd=git_repo)
    assert instances(cli, git_repo) == {}
    claims = json.loads((git_repo / ".mnemosyne" / "branch_registry.json").read_text())
    assert claims["branches"] == {}


def test_uncommitted_work_is_kept_and_taken_back_after_a_crash(start_daemon, git_repo):
    daemon = start_daemon("--instance-id", "b1b2c3d4", "--worktree", "always", env=NO_ROOT,
                          cwd=git_repo)
    daemon.wait_for_line("ready:")
    own = git_repo / ".mnemosyne" / "worktrees" / "b1b2c3d4"
    (own / "notes.txt").write_text("half-done work\n")
    os.kill(daemon.process.pid, signal.SIGKILL)
    daemon.wait()
    again = start_daemon("--instance-id", "b1b2c3d4", "--worktree", "always", env=NO_ROOT,
                         cwd=git_repo)
    again.wait_for_line("took back worktree")
    assert (own / "notes.txt").read_text() == "half-done work\n"
    again.send(signal.SIGTERM)
    assert again.wait() == 0
    kept = again.wait_for_line("uncommitted or untracked change(s): kept")
    assert str(own) in kept
    assert (own / "notes.txt").exists()


def test_no_worktree_in_the_main_working_directory_or_outside_git(start_daemon, git_repo,
                                                                  tmp_path):
    main = start_daemon("--instance-id", "c1b2c3d4", env=NO_ROOT, cwd=git_repo / "src")
    assert main.wait_for_line("ready:").endswith("no worktree")
    plain = tmp_path / "plain"
    plain.mkdir()
    outside = start_daemon("--instance-id", "d1b2c3d4", "--worktree", "always", cwd=plain)
    assert outside.wait_for_line("ready:").endswith("no worktree")


def test_branch_errors_are_one_line(start_daemon, git_repo):
    taken = start_daemon("--instance-id", "e1b2c3d4", "--worktree", "always", "--branch",
                         "main", env=NO_ROOT, cwd=git_repo)
    assert taken.wait() == 7
    assert taken.lines[-1] == ("mnemosyne: error: branch main is already checked out in "
                               "another worktree: choose another --branch")
    needless = start_daemon("--instance-id", "f1b2c3d4", "--branch", "topic", env=NO_ROOT,
                            cwd=git_repo)
    assert needless.wait() == 2
    assert "--branch needs a dedicated worktree" in needless.lines[-1]
    assert not (git_repo / ".mnemosyne" / "worktrees" / "e1b2c3d4").exists()


def test_detached_head(start_daemon, git_repo):
    head = run_git("rev-parse", "HEAD", cwd=git_repo).strip()
    run_git("checkout", "-q", "--detach", cwd=git_repo)
    daemon = start_daemon("--instance-id", "0a0b0c0d", "--worktree", "always", env=NO_ROOT,
                          cwd=git_repo)
    daemon.wait_for_line("ready:")
    own = git_repo / ".mnemosyne" / "worktrees" / "0a0b0c0d"
    assert run_git("rev-parse", "HEAD", cwd=own).strip() == head
