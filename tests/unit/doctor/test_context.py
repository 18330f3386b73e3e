import os
import time

import pytest

from mnemosyne.coord.root import prepare_root
from mnemosyne.doctor.context import Context


@pytest.mark.parametrize(("fix", "cleanup", "stale", "repair"), [
    (False, False, False, False),
    (False, True, True, False),
    (True, False, True, True),
    (True, True, True, True),
])
def test_may_follows_the_flags(world, fix, cleanup, stale, repair):
    run = world.run(fix=fix, cleanup_stale=cleanup)
    assert (run.may("stale"), run.may("repair")) == (stale, repair)
    with pytest.raises(ValueError):
        run.may("everything")


def test_findings_name_their_root(world):
    assert world.context().finding("root", "ok", "m", a=1).root == str(world.root.path)
    user_wide = world.context(root=False)
    assert user_wide.root_text is None
    assert user_wide.finding("config", "ok", "m").details == {}


def test_gone_only_for_dead_verified_or_missing_entries_without_a_held_lock(world):
    world.live("11111111")
    world.hung("22222222")
    world.unverified("33333333")
    world.dead("44444444")
    world.dead("55555555")
    world.hold_lock("55555555")  # its PID is gone but someone holds its lock
    world.hold_lock("66666666")  # no entry (yet), but running
    context = world.context()
    assert not context.gone("11111111")
    assert not context.gone("22222222")
    assert not context.gone("33333333")
    assert context.gone("44444444")
    assert not context.gone("55555555")
    assert not context.gone("66666666")
    assert context.gone("77777777")  # no entry, no lock
    for hostile in ("notanid", "../../etc", "ABCDEF12", "1234567", ""):
        assert not context.gone(hostile)


def test_views_are_read_once_and_recorded_for_the_user_wide_checks(world):
    world.live("11111111", systemd_unit="mnemosyne@11111111.service")
    context = world.context()
    first = context.views()
    world.live("22222222")
    assert context.views() is first
    assert f"{world.root.path}:11111111" in context.run.entries_seen
    context.forget_views()
    assert {view.instance_id for view in context.views()} == {"11111111", "22222222"}


def test_other_hosts_entries_are_never_gone(world):
    world.register("11111111", world.dead_pid(), start_time=1, hostname="elsewhere")
    assert not world.context().gone("11111111")


def test_git_is_the_repository_whose_main_worktree_holds_the_root(git_world, git_repo, tmp_path):
    assert git_world.context().git().main_worktree == git_repo
    # A root found without git information, but named .mnemosyne at the top of a repository.
    bare_root = prepare_root(git_repo / ".mnemosyne", start=tmp_path)
    assert bare_root.git is None
    assert Context(git_world.run(), bare_root).git().main_worktree == git_repo
    # A root elsewhere has no repository.
    elsewhere = prepare_root(tmp_path / "coord", start=tmp_path)
    assert Context(git_world.run(), elsewhere).git() is None


def test_age_does_not_follow_links(world, tmp_path):
    target = tmp_path / "target"
    target.write_text("x")
    link = world.root.path / "link"
    link.symlink_to(target)
    os.utime(link, (time.time() - 100,) * 2, follow_symlinks=False)
    context = world.context()
    assert 99 < context.age_s(link) < 200
    assert context.age_s(target) < 50
    assert context.age_s(world.root.path / "missing") is None


def test_an_unreadable_registry_leaves_every_unregistered_id_owned(world):
    """Found in review: after a corrupt registry is set aside, another host's instances are
    missing from it until their next heartbeat, and their locks are not visible here."""
    (world.root.path / "process_registry.json").write_bytes(b"{corrupt")
    context = world.context()
    assert context.views() == []
    assert context.registry_incomplete
    assert not context.gone("a1a1a1a1")
    assert not context.unowned_by_registry("a1a1a1a1")


def test_holding_if_gone_keeps_an_instance_from_starting_meanwhile(world):
    from mnemosyne.coord.liveness import InstanceLock  # noqa: PLC0415
    from mnemosyne.errors import ConflictError  # noqa: PLC0415

    context = world.context()
    with context.holding_if_gone("a1a1a1a1") as gone:
        assert gone
        with pytest.raises(ConflictError):
            InstanceLock(world.root.locks, "a1a1a1a1").acquire()
    assert not (world.root.locks / "a1a1a1a1.lock").exists()  # made for the moment only
    holder = world.hold_lock("b1b1b1b1")
    with context.holding_if_gone("b1b1b1b1") as gone:
        assert not gone
    holder.kill()
    holder.wait()
