import contextlib
import os
import shutil

import pytest

from mnemosyne.coord.root import prepare_root
from mnemosyne.coord.worktree_audit import (
    audit_worktree,
    branches_without_own_commits,
    leftovers,
    prunable_registrations,
    prune_registration,
    remove_worktree,
)
from mnemosyne.coord.worktrees import open_workspace
from tests.helpers import run_git

# The liveness lock as doctor holds it while moving a worktree aside: free, or held by its instance.
FREE = lambda: contextlib.nullcontext(True)  # noqa: E731
TAKEN = lambda: contextlib.nullcontext(False)  # noqa: E731


@pytest.fixture
def root(git_repo):
    return prepare_root(git_repo / ".mnemosyne", start=git_repo)


@pytest.fixture
def common(git_repo):
    return git_repo / ".git"


def make(root, git_repo, instance_id="a1b2c3d4"):
    return open_workspace(root, instance_id, git_repo).path


def commit(path, name="new.txt"):
    (path / name).write_text("work\n")
    run_git("add", name, cwd=path)
    run_git("commit", "-q", "-m", "work", cwd=path)
    return run_git("rev-parse", "HEAD", cwd=path).strip()


def registered(git_repo):
    return run_git("worktree", "list", "--porcelain", cwd=git_repo)


def test_a_clean_worktree_is_removable(root, git_repo, common):
    path = make(root, git_repo)
    audit = audit_worktree(path, common)
    assert (audit.removable, audit.reason, audit.branch) == (True, "clean", "mnemosyne/a1b2c3d4")


@pytest.mark.parametrize("change", ["modified", "untracked", "staged", "deleted"])
def test_changes_keep_it(root, git_repo, common, change):
    path = make(root, git_repo)
    if change == "modified":
        (path / "README").write_text("changed\n")
    elif change == "untracked":
        (path / "notes.txt").write_text("unsaved\n")
    elif change == "staged":
        (path / "staged.txt").write_text("x\n")
        run_git("add", "staged.txt", cwd=path)
    else:
        (path / "README").unlink()
    audit = audit_worktree(path, common)
    assert not audit.removable
    assert audit.reason == "1 uncommitted or untracked change(s)"
    assert audit.details["changes_count"] == 1 and len(audit.details["changes"]) == 1


def test_ignored_files_do_not_keep_it(root, git_repo, common):
    path = make(root, git_repo)
    (path / "build.log").write_text("x")
    (common / "info").mkdir(exist_ok=True)
    with open(common / "info" / "exclude", "a") as exclude:
        exclude.write("*.log\n")
    assert audit_worktree(path, common).removable


def test_a_locked_worktree_is_kept(root, git_repo, common):
    path = make(root, git_repo)
    run_git("worktree", "lock", str(path), cwd=git_repo)
    audit = audit_worktree(path, common)
    assert not audit.removable and "locked" in audit.reason
    assert not remove_worktree(path, common, FREE).removable
    assert path.is_dir()


def test_commits_on_no_other_branch_keep_it(root, git_repo, common):
    path = make(root, git_repo)
    head = commit(path)
    audit = audit_worktree(path, common)
    assert not audit.removable
    assert audit.reason == "1 commit(s) on branch mnemosyne/a1b2c3d4 and no other branch"
    assert audit.details == {"unique_commits": 1}
    run_git("branch", "saved", head, cwd=git_repo)  # now another branch holds them
    assert audit_worktree(path, common).removable


def test_a_detached_head_with_its_own_commits_is_kept(root, git_repo, common):
    path = make(root, git_repo)
    run_git("checkout", "-q", "--detach", cwd=path)
    assert audit_worktree(path, common).removable  # detached at a commit main has
    commit(path)
    audit = audit_worktree(path, common)
    assert not audit.removable and audit.branch is None
    assert "on a detached HEAD and no other branch" in audit.reason


def test_a_git_file_naming_another_repository_is_kept(root, git_repo, common, tmp_path):
    path = make(root, git_repo)
    other = tmp_path / "other"
    run_git("init", "-q", str(other), cwd=tmp_path)
    (path / ".git").write_text(f"gitdir: {other / '.git'}\n")
    audit = audit_worktree(path, common)
    assert not audit.removable and "not verifiably" in audit.reason
    assert not remove_worktree(path, common, FREE).removable
    assert (path / "README").exists()


@pytest.mark.parametrize("damage", ["missing", "directory", "fifo", "garbage"])
def test_a_damaged_git_link_is_kept(root, git_repo, common, damage):
    path = make(root, git_repo)
    (path / ".git").unlink()
    if damage == "directory":
        (path / ".git").mkdir()
    elif damage == "fifo":
        os.mkfifo(path / ".git")
    elif damage == "garbage":
        (path / ".git").write_bytes(b"\xff\x00" * 10)
    audit = audit_worktree(path, common)
    assert not audit.removable and audit.reason != "clean"
    assert not remove_worktree(path, common, FREE).removable and (path / "README").exists()


def test_a_symlinked_worktree_directory_is_kept_and_not_followed(root, git_repo, common,
                                                                  tmp_path):
    real = make(root, git_repo)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(real), str(elsewhere))
    real.symlink_to(elsewhere)
    audit = audit_worktree(real, common)
    assert not audit.removable and "symbolic link" in audit.reason
    assert not remove_worktree(real, common, FREE).removable
    assert (elsewhere / "README").exists() and real.is_symlink()


def test_a_plain_directory_is_kept(root, git_repo, common):
    path = root.worktrees / "a1b2c3d4"
    path.mkdir()
    (path / "file").write_text("x")
    assert not audit_worktree(path, common).removable
    assert not remove_worktree(path, common, FREE).removable
    assert (path / "file").exists()


def test_remove_worktree_removes_only_clean_ones_and_prunes(root, git_repo, common):
    clean = make(root, git_repo, "c1c1c1c1")
    dirty = make(root, git_repo, "d1d1d1d1")
    (dirty / "notes.txt").write_text("unsaved\n")
    assert remove_worktree(clean, common, FREE).removable
    assert not clean.exists()
    assert str(clean) not in registered(git_repo)
    assert "mnemosyne/c1c1c1c1" in run_git("branch", "--list", cwd=git_repo)  # branch kept
    kept = remove_worktree(dirty, common, FREE)
    assert not kept.removable and (dirty / "notes.txt").read_text() == "unsaved\n"
    assert str(dirty) in registered(git_repo)
    assert leftovers(root.worktrees) == []


def test_a_worktree_whose_instance_holds_its_lock_at_removal_is_kept(root, git_repo, common):
    """The instance started (and took its lock) after the audit: it may take the worktree back."""
    clean = make(root, git_repo, "c1c1c1c1")
    kept = remove_worktree(clean, common, TAKEN)
    assert not kept.removable and "started meanwhile" in kept.reason
    assert clean.is_dir() and str(clean) in registered(git_repo)


def test_prunable_registrations_and_prune(root, git_repo, common, tmp_path):
    gone = make(root, git_repo, "a1a1a1a1")
    locked = make(root, git_repo, "b2b2b2b2")
    present = make(root, git_repo, "c3c3c3c3")
    outside = tmp_path / "outside-worktree"
    run_git("worktree", "add", "-q", "-b", "outside", str(outside), cwd=git_repo)
    run_git("worktree", "lock", str(locked), cwd=git_repo)
    for path in (gone, locked, outside):
        shutil.rmtree(path)
    assert prunable_registrations(common, root.worktrees) == ["a1a1a1a1"]
    assert not prune_registration(common, present.name)  # its directory is there
    assert not prune_registration(common, "b2b2b2b2")  # locked
    assert prune_registration(common, "a1a1a1a1")
    assert prune_registration(common, "a1a1a1a1")  # nothing left to prune
    listing = registered(git_repo)
    assert str(gone) not in listing and str(locked) in listing and str(outside) in listing
    assert prunable_registrations(common, root.worktrees) == []


def test_branches_without_own_commits(root, git_repo, common):
    run_git("branch", "mnemosyne/a0a0a0a0", cwd=git_repo)  # same tip as main
    run_git("branch", "plain", cwd=git_repo)  # not ours
    in_use = make(root, git_repo, "b0b0b0b0")  # checked out in a worktree
    worked = make(root, git_repo, "c0c0c0c0")
    commit(worked)
    behind = make(root, git_repo, "d0d0d0d0")
    run_git("checkout", "-q", "--detach", cwd=behind)  # frees its branch
    assert in_use.is_dir()
    assert branches_without_own_commits(common) == ["mnemosyne/a0a0a0a0", "mnemosyne/d0d0d0d0"]
    run_git("checkout", "-q", "--detach", cwd=worked)
    assert "mnemosyne/c0c0c0c0" not in branches_without_own_commits(common)  # unique commit


def test_many_changes_are_counted_and_a_few_named(root, git_repo, common):
    path = make(root, git_repo)
    for index in range(8):
        (path / f"new{index}.txt").write_text("x")
    audit = audit_worktree(path, common)
    assert audit.details["changes_count"] == 8
    assert audit.details["changes"] == [f"new{index}.txt" for index in range(5)]
