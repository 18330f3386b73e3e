import os

import pytest

from mnemosyne.coord.root import locate_git, prepare_root
from mnemosyne.coord.worktrees import (
    close_workspace,
    open_workspace,
    validate_mode,
    verify_own_worktree,
    wants_worktree,
)
from mnemosyne.errors import ConflictError, UsageError
from tests.helpers import run_git


@pytest.fixture
def root(git_repo):
    return prepare_root(git_repo / ".mnemosyne", start=git_repo)


def worktrees(repo):
    return run_git("worktree", "list", "--porcelain", cwd=repo)


def test_modes(git_repo, tmp_path):
    main = locate_git(git_repo)
    linked_dir = tmp_path / "linked"
    run_git("worktree", "add", "-q", "-b", "l", str(linked_dir), cwd=git_repo)
    linked = locate_git(linked_dir)
    assert not wants_worktree("auto", main)
    assert wants_worktree("auto", linked)
    assert wants_worktree("always", main)
    assert not wants_worktree("never", linked)
    assert not wants_worktree("always", None)
    with pytest.raises(UsageError, match="invalid --worktree"):
        validate_mode("sometimes")


def test_create_work_and_remove_when_clean(root, git_repo):
    workspace = open_workspace(root, "a1b2c3d4", git_repo / "src")
    assert workspace.path == git_repo / ".mnemosyne" / "worktrees" / "a1b2c3d4"
    assert workspace.branch == "mnemosyne/a1b2c3d4"
    assert workspace.workdir == workspace.path / "src"
    assert (workspace.path / "README").read_text() == "hello\n"
    assert str(workspace.path) in worktrees(git_repo)
    assert run_git("status", "--porcelain", cwd=git_repo) == ""
    assert close_workspace(workspace)
    assert not workspace.path.exists()
    assert str(workspace.path) not in worktrees(git_repo)
    assert "mnemosyne/a1b2c3d4" in run_git("branch", "--list", cwd=git_repo)


@pytest.mark.parametrize("change", ["modified", "untracked", "staged"])
def test_dirty_worktree_is_kept(root, git_repo, change, caplog):
    workspace = open_workspace(root, "a1b2c3d4", git_repo)
    if change == "modified":
        (workspace.path / "README").write_text("changed\n")
    elif change == "untracked":
        (workspace.path / "new.txt").write_text("new\n")
    else:
        (workspace.path / "staged.txt").write_text("s\n")
        run_git("add", "staged.txt", cwd=workspace.path)
    assert not close_workspace(workspace)
    assert workspace.path.is_dir()
    assert "kept" in caplog.text


def test_restart_with_the_same_id_takes_the_worktree_back(root, git_repo):
    first = open_workspace(root, "a1b2c3d4", git_repo)
    (first.path / "work.txt").write_text("in progress\n")
    again = open_workspace(root, "a1b2c3d4", git_repo)
    assert again.taken_back
    assert again.path == first.path
    assert again.branch == "mnemosyne/a1b2c3d4"
    assert (again.path / "work.txt").read_text() == "in progress\n"
    assert worktrees(git_repo).count("a1b2c3d4") == 2  # one path line, one branch line


def test_named_branch_must_not_be_checked_out_elsewhere(root, git_repo):
    with pytest.raises(ConflictError, match="branch main is already checked out"):
        open_workspace(root, "a1b2c3d4", git_repo, branch="main")
    run_git("branch", "topic", cwd=git_repo)
    workspace = open_workspace(root, "a1b2c3d4", git_repo, branch="topic")
    assert workspace.branch == "topic"
    with pytest.raises(ConflictError, match="branch topic is already checked out"):
        open_workspace(root, "b1b2c3d4", git_repo, branch="topic")


def test_detached_head_and_linked_worktree_start(root, git_repo, tmp_path):
    head = run_git("rev-parse", "HEAD", cwd=git_repo).strip()
    run_git("checkout", "-q", "--detach", head, cwd=git_repo)
    workspace = open_workspace(root, "a1b2c3d4", git_repo)
    assert run_git("rev-parse", "HEAD", cwd=workspace.path).strip() == head
    linked = tmp_path / "linked"
    run_git("worktree", "add", "-q", "-b", "l", str(linked), cwd=git_repo)
    (linked / "more").mkdir()
    other = open_workspace(root, "b1b2c3d4", linked / "more")
    assert other.path.parent == git_repo / ".mnemosyne" / "worktrees"
    assert other.workdir == other.path  # "more" is not tracked, so not in the new worktree


def test_a_stale_registration_is_pruned_and_a_foreign_directory_refused(root, git_repo):
    workspace = open_workspace(root, "a1b2c3d4", git_repo)
    os.system(f"rm -rf {workspace.path}")
    again = open_workspace(root, "a1b2c3d4", git_repo)
    assert not again.taken_back and again.path.is_dir()
    foreign = root.worktrees / "b1b2c3d4"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("mine")
    with pytest.raises(ConflictError, match="not a worktree of this repository"):
        open_workspace(root, "b1b2c3d4", git_repo)
    assert (foreign / "precious.txt").read_text() == "mine"


def test_empty_repository_cannot_give_a_worktree(tmp_path):
    empty = tmp_path / "empty"
    run_git("init", "-q", str(empty), cwd=tmp_path)
    root = prepare_root(empty / ".mnemosyne", start=empty)
    with pytest.raises(UsageError, match="no commits yet"):
        open_workspace(root, "a1b2c3d4", empty)


def test_only_a_worktree_linked_both_ways_to_this_repository_verifies(root, git_repo, tmp_path):
    workspace = open_workspace(root, "a1b2c3d4", git_repo)
    common = git_repo / ".git"
    opened, problem = verify_own_worktree(workspace.path, common)
    assert opened is not None and problem is None
    admin = common / "worktrees" / "a1b2c3d4"
    back = (admin / "gitdir").read_text()
    (admin / "gitdir").write_text(str(tmp_path / "elsewhere" / ".git") + "\n")
    opened, problem = verify_own_worktree(workspace.path, common)
    assert opened is None and "does not name" in problem
    (admin / "gitdir").write_text(back)
    (workspace.path / ".git").unlink()
    opened, problem = verify_own_worktree(workspace.path, common)
    assert opened is None and "missing or not a regular file" in problem
    assert not close_workspace(workspace)
    assert (workspace.path / "README").exists()


def test_a_worktree_whose_link_is_lost_is_not_taken_back(root, git_repo):
    workspace = open_workspace(root, "a1b2c3d4", git_repo)
    (workspace.path / "work.txt").write_text("in progress\n")
    (workspace.path / ".git").unlink()
    with pytest.raises(ConflictError, match="not verifiably this instance's worktree"):
        open_workspace(root, "a1b2c3d4", git_repo)
    assert (workspace.path / "work.txt").read_text() == "in progress\n"
