import pytest

from mnemosyne.review import markers, tips
from tests.helpers import run_git
from tests.unit.review.conftest import commit_file


@pytest.mark.parametrize(("line", "expected"), [
    ("x = 1  # TODO: later", ["TODO"]),
    ("FIXME and HACK and XXX", ["FIXME", "HACK", "XXX"]),
    ("raise NotImplementedError", ["not implemented"]),
    ("this is Not Implemented yet", ["not implemented"]),
    ("a stub, stubbed out, a Placeholder", ["stub", "stub", "placeholder"]),
    ("todo in lower case, stubborn, TODOS, xxxl", []),
])
def test_markers_in_a_line(line, expected):
    assert markers.markers_in(line) == expected


def test_only_added_lines_since_the_merge_base_count(git_repo):
    (git_repo / "old.py").write_text("# TODO: already on main\n")
    run_git("add", "old.py", cwd=git_repo)
    run_git("commit", "-q", "-m", "old", cwd=git_repo)
    base = run_git("rev-parse", "main", cwd=git_repo).strip()
    sha = commit_file(git_repo, "mnemosyne/aaaaaaaa", "new.py", "ok = 1\n# FIXME: new\n")
    repository = tips.open_repository(git_repo / ".git")
    found, total = markers.scan_diff(repository, base, sha)
    assert total == 1
    assert found == [markers.Marker("new.py", 2, "FIXME", "# FIXME: new")]
    assert found[0].describe() == "new.py:2: FIXME: # FIXME: new"
    assert found[0].to_dict()["line"] == 2
    everything, total = markers.scan_diff(repository, None, sha)
    assert total == 2 and {marker.path for marker in everything} == {"old.py", "new.py"}


def test_a_removed_marker_is_not_counted(git_repo):
    (git_repo / "old.py").write_text("# TODO: drop me\n")
    run_git("add", "old.py", cwd=git_repo)
    run_git("commit", "-q", "-m", "old", cwd=git_repo)
    base = run_git("rev-parse", "main", cwd=git_repo).strip()
    sha = commit_file(git_repo, "mnemosyne/aaaaaaaa", "old.py", "done = True\n")
    found, total = markers.scan_diff(tips.open_repository(git_repo / ".git"), base, sha)
    assert (found, total) == ([], 0)
