"""Attacks on an instance's worktree at stop: nothing unverifiable is ever deleted.

Real git repositories and real `mnemosyne serve` instances: each test breaks the worktree's
link to the repository in one way, stops the instance and checks that the work is still there,
that the stop was clean (exit 0) and that the instance unregistered all the same.
"""

from __future__ import annotations

import json
import os
import shutil
import signal

from tests.helpers import run_git

NO_ROOT = {"MNEMOSYNE_ROOT": ""}  # empty counts as unset: the root follows git


def start_with_worktree(start_daemon, git_repo, instance_id):
    daemon = start_daemon("--instance-id", instance_id, "--worktree", "always", env=NO_ROOT,
                          cwd=git_repo)
    daemon.wait_for_line("ready:")
    return daemon, git_repo / ".mnemosyne" / "worktrees" / instance_id


def stop_and_check_unregistered(daemon, cli, git_repo, instance_id):
    daemon.send(signal.SIGTERM)
    assert daemon.wait() == 0, "\n".join(daemon.lines)
    listed = json.loads(cli("instances", "--format", "json", "--all", env=NO_ROOT,
                            cwd=git_repo).ok().stdout)
    assert instance_id not in {view["instance_id"] for view in listed}
    claims = json.loads((git_repo / ".mnemosyne" / "branch_registry.json").read_text())
    assert f"mnemosyne/{instance_id}" not in claims["branches"]


def test_lost_dot_git_file_with_uncommitted_work_is_kept(start_daemon, cli, git_repo):
    daemon, own = start_with_worktree(start_daemon, git_repo, "a1a2a3a4")
    (own / "notes.txt").write_text("half-done work\n")
    (own / "README").write_text("edited\n")
    (own / ".git").unlink()  # pygit2 would now find the main repository instead
    stop_and_check_unregistered(daemon, cli, git_repo, "a1a2a3a4")
    assert (own / "notes.txt").read_text() == "half-done work\n"
    assert (own / "README").read_text() == "edited\n"
    kept = daemon.wait_for_line("kept:")
    assert str(own) in kept and ".git" in kept


def test_lost_dot_git_file_of_a_clean_worktree_is_kept(start_daemon, cli, git_repo):
    daemon, own = start_with_worktree(start_daemon, git_repo, "a2a2a3a4")
    (own / ".git").unlink()
    stop_and_check_unregistered(daemon, cli, git_repo, "a2a2a3a4")
    assert (own / "README").read_text() == "hello\n"
    assert str(own) in daemon.wait_for_line("kept:")


def test_worktree_replaced_by_a_symlink_stops_cleanly_and_follows_nothing(
        start_daemon, cli, git_repo, tmp_path):
    daemon, own = start_with_worktree(start_daemon, git_repo, "a3a2a3a4")
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(own), str(elsewhere))  # a clean worktree, moved out of the way
    (elsewhere / "precious.txt").write_text("not yours\n")
    os.symlink(elsewhere, own)
    stop_and_check_unregistered(daemon, cli, git_repo, "a3a2a3a4")
    assert own.is_symlink()
    assert (elsewhere / "precious.txt").read_text() == "not yours\n"
    assert (elsewhere / "README").read_text() == "hello\n"
    assert "is a symbolic link" in daemon.wait_for_line("kept:")


def test_dot_git_naming_another_repository_is_kept(start_daemon, cli, git_repo, tmp_path):
    other = tmp_path / "other"
    run_git("init", "-q", "-b", "main", str(other), cwd=tmp_path)
    (other / "f").write_text("x\n")
    run_git("add", "f", cwd=other)
    run_git("commit", "-q", "-m", "other", cwd=other)
    foreign = tmp_path / "foreign-wt"
    run_git("worktree", "add", "-q", "-b", "f", str(foreign), cwd=other)
    daemon, own = start_with_worktree(start_daemon, git_repo, "a4a2a3a4")
    (own / ".git").write_text(f"gitdir: {other / '.git' / 'worktrees' / 'foreign-wt'}\n")
    stop_and_check_unregistered(daemon, cli, git_repo, "a4a2a3a4")
    assert (own / "README").read_text() == "hello\n"
    assert str(own) in daemon.wait_for_line("kept:")


def test_dot_git_replaced_by_a_symlink_is_kept(start_daemon, cli, git_repo, tmp_path):
    daemon, own = start_with_worktree(start_daemon, git_repo, "a5a2a3a4")
    real = tmp_path / "dot-git"
    shutil.move(str(own / ".git"), str(real))
    os.symlink(real, own / ".git")
    stop_and_check_unregistered(daemon, cli, git_repo, "a5a2a3a4")
    assert (own / "README").read_text() == "hello\n"
    assert str(own) in daemon.wait_for_line("kept:")


def test_verified_clean_worktree_is_still_removed(start_daemon, cli, git_repo):
    daemon, own = start_with_worktree(start_daemon, git_repo, "a6a2a3a4")
    stop_and_check_unregistered(daemon, cli, git_repo, "a6a2a3a4")
    assert not own.exists()
    assert str(own) not in run_git("worktree", "list", cwd=git_repo)
