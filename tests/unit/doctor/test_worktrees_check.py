import os
import shutil

import pytest

from mnemosyne.coord.worktrees import open_workspace
from mnemosyne.doctor import worktrees_check
from tests.helpers import run_git


def make(world, git_repo, instance_id):
    return open_workspace(world.root, instance_id, git_repo).path


def by_status(findings):
    result = {}
    for finding in findings:
        result.setdefault(finding.status, []).append(finding)
    return result


def branches(git_repo):
    return run_git("branch", "--list", cwd=git_repo)


def test_a_worktrees_directory_that_is_a_link_is_not_emptied(git_world, git_repo, tmp_path):
    real = make(git_world, git_repo, "44444444")
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(git_world.root.worktrees), str(elsewhere))
    git_world.root.worktrees.symlink_to(elsewhere)
    found = by_status(worktrees_check.run(git_world.context(fix=True)))
    assert "fixed" not in found
    assert (elsewhere / "44444444" / "README").exists()
    assert real.is_dir()


@pytest.mark.parametrize("kind", ["file", "fifo"])
def test_a_worktrees_path_that_is_not_a_directory_is_no_crash(git_world, kind):
    git_world.root.worktrees.rmdir()
    if kind == "file":
        git_world.root.worktrees.write_text("")
    else:
        os.mkfifo(git_world.root.worktrees)
    findings = worktrees_check.run(git_world.context(fix=True))
    assert all(finding.status == "ok" for finding in findings)


