import os
import shutil

import pytest

from mnemosyne.coord.root import prepare_root
from mnemosyne.errors import MnemosyneError
from mnemosyne.review import worktree
from mnemosyne.review.checkrun import CheckStopped
from mnemosyne.review.record import holding_claim
from tests.helpers import run_git


@pytest.fixture
def root(tmp_path):
    return prepare_root(tmp_path / "coord", start=tmp_path)


def head(git_repo):
    return run_git("rev-parse", "HEAD", cwd=git_repo).strip()


def test_a_temporary_worktree_is_detached_and_always_removed(root, git_repo):
    sha = head(git_repo)
    branches = run_git("branch", "--list", cwd=git_repo)
    with pytest.raises(RuntimeError), \
            worktree.temporary_worktree(root.path, git_repo, git_repo / ".git", sha) as path:
        assert (path / "README").read_text() == "hello\n"
        assert run_git("rev-parse", "HEAD", cwd=path).strip() == sha
        assert (path / ".git").is_file()
        raise RuntimeError("the check blew up")
    assert not path.exists()
    assert str(path) not in run_git("worktree", "list", cwd=git_repo)
    assert run_git("branch", "--list", cwd=git_repo) == branches


def test_one_left_by_a_dead_reviewer_is_replaced(root, git_repo):
    sha = head(git_repo)
    stale = worktree.worktrees_directory(root.path) / sha
    worktree.add_worktree(git_repo, stale, sha)
    (stale / "junk").write_text("x")
    with worktree.temporary_worktree(root.path, git_repo, git_repo / ".git", sha) as path:
        assert path == stale and not (path / "junk").exists()
    assert not stale.exists()


def test_git_failing_is_an_error(root, git_repo):
    with pytest.raises(MnemosyneError, match="cannot make a review worktree"), \
            worktree.temporary_worktree(root.path, git_repo, git_repo / ".git", "f" * 40):
        pass


def test_left_behind_only_when_the_claim_is_free(root, git_repo):
    sha = head(git_repo)
    path = worktree.worktrees_directory(root.path) / sha
    worktree.add_worktree(git_repo, path, sha)
    (path.parent / "stray").mkdir()  # not a reviewer's: never listed
    (path.parent / ("b" * 40)).symlink_to(path)
    assert worktree.left_behind(root.path) == [path]
    with holding_claim(root.path, sha) as held:
        assert held
        assert worktree.left_behind(root.path) == []
        assert not worktree.remove_left_behind(root.path, git_repo / ".git", path)
    assert worktree.linked_common_dir(path) == (git_repo / ".git").resolve()
    assert worktree.remove_left_behind(root.path, None, path)
    assert not path.exists()
    assert str(path) not in run_git("worktree", "list", cwd=git_repo)


def test_an_unwritable_tree_is_removed(tmp_path):
    tree = tmp_path / "tree"
    (tree / "locked" / "inner").mkdir(parents=True)
    (tree / "locked" / "inner" / "f").write_text("x")
    (tree / "locked" / "inner").chmod(0)
    (tree / "locked").chmod(0)
    assert worktree.remove_worktree(None, tree)
    assert not tree.exists()


def test_a_stop_while_git_checks_out_leaves_nothing(root, git_repo):
    sha = head(git_repo)
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, b"x")
        with pytest.raises(CheckStopped), worktree.temporary_worktree(
                root.path, git_repo, git_repo / ".git", sha, stop_fd=read_end):
            pass
    finally:
        os.close(read_end)
        os.close(write_end)
    assert not (worktree.worktrees_directory(root.path) / sha).exists()
    assert "reviews" not in run_git("worktree", "list", cwd=git_repo)


def test_a_registration_whose_directory_is_gone_does_not_block(root, git_repo):
    sha = head(git_repo)
    stale = worktree.worktrees_directory(root.path) / sha
    worktree.add_worktree(git_repo, stale, sha)
    shutil.rmtree(stale)  # as `rm -rf` would: git still lists it
    with worktree.temporary_worktree(root.path, git_repo, git_repo / ".git", sha) as path:
        assert (path / "README").exists()
    assert "reviews" not in run_git("worktree", "list", cwd=git_repo)
