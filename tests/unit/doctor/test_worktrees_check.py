import os
import shutil

import pytest

from mnemosyne.coord.worktrees import open_workspace
from mnemosyne.doctor import worktrees_check
from tests.helpers import run_git
from tests.unit.doctor.conftest import snapshot


def make(world, git_repo, instance_id):
    return open_workspace(world.root, instance_id, git_repo).path


def by_status(findings):
    result = {}
    for finding in findings:
        result.setdefault(finding.status, []).append(finding)
    return result


def branches(git_repo):
    return run_git("branch", "--list", cwd=git_repo)


def test_no_worktrees_is_ok(git_world):
    findings = worktrees_check.run(git_world.context(fix=True))
    assert [(f.status, f.message) for f in findings] == [
        ("ok", "0 worktree(s) of running instances left alone")]


def test_outside_a_repository_leftovers_are_kept(world):
    assert [f.status for f in worktrees_check.run(world.context(fix=True))] == ["ok"]
    (world.root.worktrees / "44444444").mkdir()
    findings = worktrees_check.run(world.context(fix=True))
    assert [f.status for f in findings] == ["kept"]
    assert (world.root.worktrees / "44444444").is_dir()


def test_a_clean_worktree_of_a_gone_instance_is_removed_by_fix_only(git_world, git_repo):
    path = make(git_world, git_repo, "44444444")
    git_world.dead("44444444")
    before = snapshot(git_world.root.path)
    for context in (git_world.context(), git_world.context(cleanup_stale=True)):
        found = by_status(worktrees_check.run(context))
        assert snapshot(git_world.root.path) == before
        assert "clean worktree" in found["problem"][0].message
        assert found["problem"][0].details["branch"] == "mnemosyne/44444444"
    found = by_status(worktrees_check.run(git_world.context(fix=True)))
    assert "removed clean worktree" in found["fixed"][0].message
    assert not path.exists()
    assert str(path) not in run_git("worktree", "list", cwd=git_repo)
    assert "mnemosyne/44444444" in branches(git_repo)
    again = by_status(worktrees_check.run(git_world.context(fix=True)))
    assert set(again) == {"ok"}
    assert again["ok"][-1].details["branches"] == ["mnemosyne/44444444"]  # information only
    assert "mnemosyne/44444444" in branches(git_repo)


def test_unsaved_work_is_kept_and_described(git_world, git_repo):
    dirty = make(git_world, git_repo, "44444444")
    (dirty / "notes.txt").write_text("unsaved\n")
    committed = make(git_world, git_repo, "55555555")
    (committed / "new.txt").write_text("x\n")
    run_git("add", "new.txt", cwd=committed)
    run_git("commit", "-q", "-m", "work", cwd=committed)
    locked = make(git_world, git_repo, "88888888")
    run_git("worktree", "lock", str(locked), cwd=git_repo)
    git_world.dead("44444444")  # 55555555 and 88888888 have no entry at all
    found = by_status(worktrees_check.run(git_world.context(fix=True)))
    kept = {finding.details["path"]: finding for finding in found["kept"]}
    assert kept[str(dirty)].details["changes"] == ["notes.txt"]
    assert "uncommitted" in kept[str(dirty)].message
    assert "on branch mnemosyne/55555555 and no other branch" in kept[str(committed)].message
    assert "locked" in kept[str(locked)].message
    assert "problem" not in found and "fixed" not in found
    assert (dirty / "notes.txt").read_text() == "unsaved\n"
    assert (committed / "new.txt").exists() and locked.is_dir()


def test_worktrees_of_instances_that_may_run_are_never_touched(git_world, git_repo):
    ids = ["11111111", "22222222", "33333333", "66666666", "77777777"]
    paths = [make(git_world, git_repo, instance_id) for instance_id in ids]
    git_world.live("11111111")
    git_world.hung("22222222")
    git_world.unverified("33333333")
    git_world.dead("66666666")
    git_world.hold_lock("66666666")  # its PID is gone but its lock is held
    git_world.register("77777777", git_world.dead_pid(), start_time=1, hostname="elsewhere")
    before = snapshot(git_world.root.path)
    findings = worktrees_check.run(git_world.context(fix=True))
    assert [(f.status, f.message) for f in findings] == [
        ("ok", "5 worktree(s) of running instances left alone")]
    assert all(path.is_dir() for path in paths)
    assert snapshot(git_world.root.path) == before


def test_hostile_entries_are_kept_or_ignored(git_world, git_repo, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep")
    worktrees = git_world.root.worktrees
    (worktrees / "44444444").symlink_to(elsewhere)
    (worktrees / "55555555").write_text("a file")
    os.mkfifo(worktrees / "66666666")
    (worktrees / "notanid").mkdir()
    (worktrees / "notanid" / "file").write_text("x")
    found = by_status(worktrees_check.run(git_world.context(fix=True)))
    assert len(found["kept"]) == 3 and "fixed" not in found
    assert (elsewhere / "precious").read_text() == "keep"
    assert (worktrees / "44444444").is_symlink() and (worktrees / "55555555").is_file()
    assert (worktrees / "notanid" / "file").exists()


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


def test_registrations_whose_directory_is_gone_are_pruned_by_fix(git_world, git_repo):
    path = make(git_world, git_repo, "44444444")
    shutil.rmtree(path)
    found = by_status(worktrees_check.run(git_world.context(cleanup_stale=True)))
    assert found["problem"][0].details["names"] == ["44444444"]
    assert str(path) in run_git("worktree", "list", cwd=git_repo)
    found = by_status(worktrees_check.run(git_world.context(fix=True)))
    assert found["fixed"][0].details["names"] == ["44444444"]
    assert str(path) not in run_git("worktree", "list", cwd=git_repo)
