import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.coord.root import locate_git
from mnemosyne.errors import UsageError
from mnemosyne.review import reviewer
from tests.unit.review.conftest import commit_file


@pytest.fixture
def settings(tmp_path):
    return resolve_settings({"db_path": tmp_path / "db" / "m.db", "root": tmp_path / "coord"},
                            environ={"XDG_CONFIG_HOME": str(tmp_path / "config"),
                                     "XDG_STATE_HOME": str(tmp_path / "state")})


def test_options_fall_back_to_the_settings_and_are_checked(settings):
    options = reviewer.make_options(settings)
    assert options == reviewer.ReviewOptions(("mnemosyne/*",), None, 600.0, None)
    assert reviewer.make_options(settings, ["a/*"], "make", 5, "global").globs == ("a/*",)
    for bad in ({"check": ""}, {"timeout_s": 0}, {"timeout_s": float("inf")},
                {"namespace": "x"}, {"globs": [" "]}):
        with pytest.raises(UsageError):
            reviewer.make_options(settings, **bad)


def test_the_namespace_follows_the_repository(git_repo, tmp_path):
    assert reviewer.project_namespace(locate_git(git_repo)) == "project:repo"
    odd = tmp_path / "..."
    odd.mkdir()
    (odd / ".git").mkdir()
    assert reviewer.project_namespace(locate_git(odd)) == "global"


def test_outside_a_repository_is_a_usage_error(settings, tmp_path):
    with pytest.raises(UsageError, match="not in a git repository"):
        reviewer.Reviewer(settings, reviewer.make_options(settings), tmp_path)


def test_a_pass_without_a_check_scans_markers_once(settings, git_repo):
    sha = commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "# XXX\n")
    review = reviewer.Reviewer(settings, reviewer.make_options(settings), git_repo)
    try:
        seen = []
        [result] = review.run_pass(seen.append)
        assert seen == [result]
        assert (result.sha, result.passed, result.check, result.marker_count) == \
            (sha, True, None, 1)
        assert result.memory_id and result.notified == ()
        assert review.run_pass() == []
        assert review.pending() == []
    finally:
        review.close()
