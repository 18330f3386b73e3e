import select
import signal
import threading
import time

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.review import watcher
from mnemosyne.review.reviewer import make_options
from tests.helpers import run_git
from tests.unit.review.conftest import commit_file


@pytest.fixture
def settings(tmp_path):
    return resolve_settings({"db_path": tmp_path / "db" / "m.db", "root": tmp_path / "coord"},
                            environ={"XDG_CONFIG_HOME": str(tmp_path / "config"),
                                     "XDG_STATE_HOME": str(tmp_path / "state")})


def test_ref_directories_cover_nested_branch_folders(git_repo):
    commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "\n")
    found = watcher.ref_directories(git_repo / ".git")
    assert found[0] == git_repo / ".git"
    assert git_repo / ".git" / "refs" / "heads" / "mnemosyne" in found


def test_a_moved_branch_wakes_the_watches(git_repo):
    commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "\n")
    watches = watcher.RefWatches(git_repo / ".git")
    try:
        commit_file(git_repo, "mnemosyne/aaaaaaaa", "b.py", "\n")
        ready, _, _ = select.select(watches.descriptors(), [], [], 5)
        assert watches.drain(set(ready))
        run_git("branch", "mnemosyne/new/nested", "main", cwd=git_repo)
        watches.refresh()
        assert git_repo / ".git" / "refs" / "heads" / "mnemosyne" / "new" in watches.watches
    finally:
        watches.close()


def test_one_pass_exits_1_when_a_check_fails(settings, git_repo):
    commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "\n")
    options = make_options(settings, check="exit 1")
    seen = []
    assert watcher.run_once(settings, options, seen.append, git_repo) == 1
    assert [result.passed for result in seen] == [False]
    assert watcher.run_once(settings, options, seen.append, git_repo) == 0


def test_watch_reviews_then_stops_on_sigint(settings, git_repo):
    commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "\n")
    seen = []
    ready = []

    def interrupt_after_the_first_review(result):
        seen.append(result)
        threading.Timer(0.2, signal.raise_signal, (signal.SIGINT,)).start()

    # Whatever handled SIGINT before (ignored, when the run itself was started in the
    # background by a shell) handles it again afterwards.
    before = signal.getsignal(signal.SIGINT)
    started = time.monotonic()
    status = watcher.run_watch(settings, make_options(settings, check="true"),
                               interrupt_after_the_first_review, ready.append, git_repo)
    assert status == 130 and len(seen) == 1 and len(ready) == 1
    assert time.monotonic() - started < 10
    assert signal.getsignal(signal.SIGINT) is before


def test_packing_refs_wakes_the_watches_but_the_index_does_not(git_repo):
    commit_file(git_repo, "mnemosyne/aaaaaaaa", "a.py", "\n")
    watches = watcher.RefWatches(git_repo / ".git")
    try:
        (git_repo / "README").write_text("changed\n")
        run_git("add", "README", cwd=git_repo)  # rewrites .git/index
        ready, _, _ = select.select(watches.descriptors(), [], [], 0.2)
        assert not watches.drain(set(ready))
        run_git("pack-refs", "--all", cwd=git_repo)
        ready, _, _ = select.select(watches.descriptors(), [], [], 5)
        assert watches.drain(set(ready))
    finally:
        watches.close()
