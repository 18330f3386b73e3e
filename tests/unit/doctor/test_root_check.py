import os
import pwd

import pytest

from mnemosyne.coord.worktrees import open_workspace
from mnemosyne.doctor import root_check
from tests.unit.doctor.conftest import snapshot


def by_status(findings):
    return {finding.status: finding for finding in findings}


def test_a_private_root_is_ok(world):
    findings = root_check.run(world.context(fix=True))
    assert [finding.status for finding in findings] == ["ok"]
    assert "yours, private" in findings[0].message


def loosen(world):
    (world.root.queue / "dropped.json").write_text("{}")
    (world.root.queue / "dropped.json").chmod(0o644)
    (world.root.rejected / "open").mkdir(mode=0o755)
    (world.root.rejected / "open").chmod(0o755)
    (world.root.path / "process_registry.json").write_text("{}")
    (world.root.path / "process_registry.json").chmod(0o640)


def test_loose_modes_are_a_problem_and_report_only_changes_nothing(world):
    loosen(world)
    before = snapshot(world.root.path)
    for context in (world.context(), world.context(cleanup_stale=True)):
        found = by_status(root_check.run(context))
        assert set(found) == {"problem"}
        assert "3 entr(ies) others can access" in found["problem"].message
        assert "coordination_queue/dropped.json (0644)" in found["problem"].details["paths"]
        assert snapshot(world.root.path) == before


def test_fix_makes_them_private(world):
    loosen(world)
    found = by_status(root_check.run(world.context(fix=True)))
    assert "made 3 entr(ies) private" in found["fixed"].message
    assert (world.root.queue / "dropped.json").stat().st_mode & 0o777 == 0o600
    assert (world.root.rejected / "open").stat().st_mode & 0o777 == 0o700
    assert (world.root.path / "process_registry.json").stat().st_mode & 0o777 == 0o600
    assert [f.status for f in root_check.run(world.context(fix=True))] == ["ok"]


def test_links_are_reported_never_followed_or_changed(world, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    outside.chmod(0o755)
    (outside / "secret").write_text("x")
    (outside / "secret").chmod(0o644)
    (world.root.rejected / "link").symlink_to(outside)
    (world.root.queue / "file-link.json").symlink_to(outside / "secret")
    found = by_status(root_check.run(world.context(fix=True)))
    assert set(found) == {"warn"}
    assert "2 symbolic link(s)" in found["warn"].message
    assert outside.stat().st_mode & 0o777 == 0o755
    assert (outside / "secret").stat().st_mode & 0o777 == 0o644


def test_the_worktrees_contents_are_the_users_own(world):
    tree = world.root.worktrees / "a1b2c3d4"
    tree.mkdir(mode=0o700)
    (tree / "script.sh").write_text("#!/bin/sh\n")
    (tree / "script.sh").chmod(0o755)
    assert [f.status for f in root_check.run(world.context(fix=True))] == ["ok"]
    assert (tree / "script.sh").stat().st_mode & 0o777 == 0o755
    tree.chmod(0o755)  # a worktree keeps the user's modes: worktrees/ is what guards it
    assert [f.status for f in root_check.run(world.context(fix=True))] == ["ok"]
    assert tree.stat().st_mode & 0o777 == 0o755
    world.root.worktrees.chmod(0o755)
    found = by_status(root_check.run(world.context()))
    assert found["problem"].details["paths"] == ["worktrees (0755)"]


def test_fifos_and_odd_entries_are_findings_not_exceptions(world):
    os.mkfifo(world.root.queue / "fifo.json", 0o666)
    os.chmod(world.root.queue / "fifo.json", 0o666)
    (world.root.cursors / "dir.json").mkdir(mode=0o700)
    found = by_status(root_check.run(world.context(fix=True)))
    assert found["fixed"].details["paths"] == ["coordination_queue/fifo.json"]
    assert (world.root.queue / "fifo.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_another_users_files_are_a_problem_and_left_alone(world):
    nobody = pwd.getpwnam("nobody").pw_uid
    path = world.root.queue / "theirs.json"
    path.write_text("{}")
    path.chmod(0o644)
    os.chown(path, nobody, -1)
    found = by_status(root_check.run(world.context(fix=True)))
    assert "of another user" in found["problem"].message
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_huge_root_is_walked_only_so_far(world, monkeypatch):
    monkeypatch.setattr(root_check, "MOST_ENTRIES", 3)
    for name in "abcde":
        (world.root.queue / name).write_text("")
        (world.root.queue / name).chmod(0o600)
    found = by_status(root_check.run(world.context()))
    assert "checked the first ones only" in found["warn"].message


def test_a_live_instances_git_worktree_is_healthy_and_never_re_moded(git_world, git_repo):
    path = open_workspace(git_world.root, "11111111", git_repo).path
    git_world.live("11111111")
    mode = path.stat().st_mode
    findings = root_check.run(git_world.context(fix=True))
    assert [f.status for f in findings] == ["ok"]
    assert path.stat().st_mode == mode
