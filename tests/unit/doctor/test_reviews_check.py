import shutil
import subprocess

from mnemosyne.doctor import reviews_check, root_check
from mnemosyne.review.record import holding_claim
from mnemosyne.review.worktree import add_worktree, worktrees_directory
from tests.helpers import run_git


def left(git_world, git_repo):
    sha = run_git("rev-parse", "HEAD", cwd=git_repo).strip()
    path = worktrees_directory(git_world.root.path) / sha
    add_worktree(git_repo, path, sha)
    return sha, path


def test_nothing_left_is_ok(git_world):
    findings = reviews_check.run(git_world.context(fix=True))
    assert [(f.status, f.message) for f in findings] == [
        ("ok", "no review worktrees left behind")]


def test_a_left_worktree_is_reported_then_removed_with_its_registration(git_world, git_repo):
    _, path = left(git_world, git_repo)
    findings = reviews_check.run(git_world.context())
    assert [f.status for f in findings] == ["problem"] and path.is_dir()
    findings = reviews_check.run(git_world.context(fix=True))
    assert [f.status for f in findings] == ["fixed"]
    assert not path.exists()
    assert str(path) not in run_git("worktree", "list", cwd=git_repo)


def test_a_running_reviewers_worktree_is_left_alone(git_world, git_repo):
    sha, path = left(git_world, git_repo)
    with holding_claim(git_world.root.path, sha) as held:
        assert held
        findings = reviews_check.run(git_world.context(fix=True))
    assert [f.status for f in findings] == ["ok"] and path.is_dir()
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=git_repo,
                   check=True)


def test_a_registration_whose_directory_is_gone_is_pruned(git_world, git_repo):
    _, path = left(git_world, git_repo)
    shutil.rmtree(path)
    findings = reviews_check.run(git_world.context())
    assert [f.status for f in findings] == ["problem"] and "prunable" in findings[0].message
    findings = reviews_check.run(git_world.context(fix=True))
    assert [f.status for f in findings] == ["fixed"]
    assert "reviews" not in run_git("worktree", "list", cwd=git_repo)


def test_the_root_check_leaves_the_modes_inside_a_review_worktree_alone(git_world, git_repo):
    _, path = left(git_world, git_repo)
    (path / "README").chmod(0o644)
    findings = root_check.run(git_world.context(fix=True))
    assert [f.status for f in findings] == ["ok"], findings
    assert (path / "README").stat().st_mode & 0o777 == 0o644
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=git_repo,
                   check=True)
