import os
import stat

import pytest

from mnemosyne.coord import root as root_module
from mnemosyne.coord.root import choose_root_path, locate_git, prepare_root
from mnemosyne.errors import UnsafeError
from tests.helpers import run_git


def test_configured_root_wins(tmp_path, git_repo):
    assert choose_root_path(tmp_path / "r", git_repo, tmp_path / "state") == tmp_path / "r"


def test_main_worktree_and_subdirectories_share_one_root(git_repo, tmp_path):
    expected = git_repo / ".mnemosyne"
    assert choose_root_path(None, git_repo, tmp_path) == expected
    assert choose_root_path(None, git_repo / "src" / "deep", tmp_path) == expected


def test_linked_worktrees_use_the_main_worktrees_root(git_repo, tmp_path):
    linked = tmp_path / "linked"
    run_git("worktree", "add", "-q", "-b", "feature", str(linked), cwd=git_repo)
    (linked / "sub").mkdir()
    location = locate_git(linked / "sub")
    assert location.in_linked_worktree
    assert location.main_worktree == git_repo
    assert choose_root_path(None, linked / "sub", tmp_path) == git_repo / ".mnemosyne"


def test_outside_any_repository_the_state_directory_is_used(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert locate_git(plain) is None
    assert choose_root_path(None, plain, tmp_path / "state") == tmp_path / "state"


def test_worktree_of_a_bare_repository_has_no_main_worktree(tmp_path, git_repo):
    bare = tmp_path / "bare.git"
    run_git("clone", "-q", "--bare", str(git_repo), str(bare), cwd=tmp_path)
    linked = tmp_path / "from-bare"
    run_git("worktree", "add", "-q", str(linked), "main", cwd=bare)
    assert locate_git(linked) is None


def test_prepare_makes_private_directories_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        root = prepare_root(tmp_path / "coord", start=tmp_path)
    finally:
        os.umask(old)
    for directory in (root.path, root.locks, root.queue, root.worktrees, root.rejected,
                      root.cursors):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


def test_prepare_tightens_a_loose_existing_directory(tmp_path):
    loose = tmp_path / "coord"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    prepare_root(loose, start=tmp_path)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700


def test_symlinked_root_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(UnsafeError, match="symbolic link") as caught:
        prepare_root(link, start=tmp_path)
    assert caught.value.exit_code == 6


def test_root_owned_by_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root can give a directory to another user")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, 65534, 65534)
    with pytest.raises(UnsafeError, match="belongs to user id 65534"):
        prepare_root(theirs, start=tmp_path)


def test_root_in_a_repository_is_excluded_from_git_once(git_repo):
    for _ in range(2):
        prepare_root(git_repo / ".mnemosyne", start=git_repo / "src")
    (git_repo / ".mnemosyne" / "locks" / "x").write_text("")
    assert run_git("status", "--porcelain", cwd=git_repo) == ""
    exclude = (git_repo / ".git" / "info" / "exclude").read_text()
    assert exclude.splitlines().count(root_module.EXCLUDE_LINE) == 1


def test_exclude_file_without_final_newline_gets_one(git_repo):
    exclude = git_repo / ".git" / "info" / "exclude"
    exclude.write_text("*.log")
    root_module.exclude_from_git(git_repo / ".git")
    assert exclude.read_text() == "*.log\n/.mnemosyne/\n"
