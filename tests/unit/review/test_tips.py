import pytest

from mnemosyne.errors import UsageError
from mnemosyne.review import tips
from tests.helpers import run_git
from tests.unit.review.conftest import commit_file


def test_tips_of_matching_branches_one_per_commit(git_repo):
    first = commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "a\n")
    run_git("branch", "mnemosyne/bbbbbbbb", "mnemosyne/aaaaaaaa", cwd=git_repo)
    run_git("branch", "feature", "main", cwd=git_repo)
    repository = tips.open_repository(git_repo / ".git")
    found = tips.branch_tips(repository)
    assert found == [tips.Tip(first, ("mnemosyne/aaaaaaaa", "mnemosyne/bbbbbbbb"))]
    assert found[0].short == first[:12]
    assert [tip.branches for tip in tips.branch_tips(repository, ["feat*"])] == [("feature",)]


def test_the_default_branch_is_the_main_worktrees_unless_it_is_reviewed(git_repo):
    commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "a\n")
    repository = tips.open_repository(git_repo / ".git")
    assert tips.default_branch(repository) == "main"
    run_git("checkout", "-q", "mnemosyne/aaaaaaaa", cwd=git_repo)
    repository = tips.open_repository(git_repo / ".git")
    assert tips.default_branch(repository) == "main"
    assert tips.default_branch(repository, ["*"]) is None


def test_merge_base(git_repo):
    base = run_git("rev-parse", "main", cwd=git_repo).strip()
    sha = commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "a\n")
    repository = tips.open_repository(git_repo / ".git")
    assert tips.merge_base(repository, sha, "main") == base
    assert tips.merge_base(repository, sha, None) is None


def test_no_repository_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot open the git repository"):
        tips.open_repository(tmp_path)
