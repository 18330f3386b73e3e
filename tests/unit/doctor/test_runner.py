import dataclasses
import os
import pwd
import subprocess
import sys
import threading
import time

import pytest

from mnemosyne.coord.signing import load_key
from mnemosyne.doctor import runner
from mnemosyne.doctor.checks import CHECKS, Check
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, exit_code
from mnemosyne.errors import ExitCode, UsageError
from tests.unit.doctor.conftest import snapshot

HOLD_DOCTOR_LOCK = ("import fcntl, os, sys, time\n"
                    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
                    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                    "print('held', flush=True)\n"
                    "time.sleep(600)\n")


def test_select_checks():
    every = [check.name for check in CHECKS]
    assert [c.name for c in runner.select_checks([], fix=False, cleanup_stale=False)] == every
    assert [c.name for c in runner.select_checks([], fix=True, cleanup_stale=True)] == every
    assert [c.name for c in runner.select_checks([], fix=False, cleanup_stale=True)] == [
        "registry", "branches", "queue"]
    assert [c.name for c in runner.select_checks(["config", "root"], False, True)] == [
        "root", "config"]
    with pytest.raises(UsageError, match="unknown check 'nosuch'"):
        runner.select_checks(["root", "nosuch"], False, False)


def test_the_signing_key_never_creates_the_secret(world):
    key, problem = runner.signing_key_for_doctor(world.settings)
    assert len(key) == 32 and problem is None
    assert not (world.settings.config_dir / "secret").exists()
    shared = dataclasses.replace(world.settings, shared_secret="shared")
    assert runner.signing_key_for_doctor(shared) == (b"shared", None)
    made = load_key(None, world.settings.config_dir)
    assert runner.signing_key_for_doctor(world.settings) == (made, None)


@pytest.mark.parametrize("damage", ["mode", "link", "directory", "fifo", "empty"])
def test_an_unusable_secret_gives_a_random_key_and_says_why(world, tmp_path, damage):
    secret = world.settings.config_dir / "secret"
    world.settings.config_dir.mkdir(parents=True, exist_ok=True)
    if damage == "mode":
        secret.write_text("x" * 64)
        secret.chmod(0o644)
    elif damage == "link":
        (tmp_path / "target").write_text("x" * 64)
        secret.symlink_to(tmp_path / "target")
    elif damage == "directory":
        secret.mkdir()
    elif damage == "fifo":
        os.mkfifo(secret, 0o600)
    else:
        secret.write_text("")
        secret.chmod(0o600)
    key, problem = runner.signing_key_for_doctor(world.settings)
    assert problem and len(key) == 32 and key != b"x" * 32


def settings_for(world, root):
    return dataclasses.replace(world.settings, root=root)


def test_the_roots_examined(world, git_repo, tmp_path):
    assert runner.doctor_roots(settings_for(world, world.root.path), tmp_path, False) == [
        world.root.path]
    plain = dataclasses.replace(world.settings, root=None)
    assert runner.doctor_roots(plain, git_repo / "src", False) == [git_repo / ".mnemosyne"]
    outside = tmp_path / "outside"
    outside.mkdir()
    assert runner.doctor_roots(plain, outside, False) == [world.settings.state_dir]


def test_a_missing_root_is_noted_and_not_created(world, tmp_path):
    missing = tmp_path / "missing"
    findings = runner.run_doctor(settings_for(world, missing), fix=True, start=tmp_path,
                                 names=["root", "registry", "queue"])
    assert [(f.status, f.check) for f in findings] == [("ok", "root")]
    assert not missing.exists()


@pytest.mark.parametrize("kind", ["link", "file", "fifo", "foreign"])
def test_an_unusable_root_is_a_problem_and_not_looked_into(world, tmp_path, kind):
    path = tmp_path / "bad-root"
    if kind == "link":
        path.symlink_to(world.root.path)
    elif kind == "file":
        path.write_text("")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        if os.geteuid() != 0:
            pytest.skip("chown to another user needs root")
        path.mkdir()
        os.chown(path, pwd.getpwnam("nobody").pw_uid, -1)
    world.dead("44444444")
    before = snapshot(world.root.path)
    findings = runner.run_doctor(settings_for(world, path), fix=True, start=tmp_path,
                                 names=["root", "registry", "queue", "worktrees"])
    assert [(f.status, f.check) for f in findings] == [("problem", "root")]
    assert "not looked into" in findings[0].message
    assert snapshot(world.root.path) == before


def with_secret(world):
    key = load_key(None, world.settings.config_dir)
    return key


def plant(world, key):
    world.register("44444444", world.dead_pid(), start_time=12345, key=key)
    world.register("11111111", world.sleeper().pid, key=key)
    (world.root.cursors / "44444444.json").write_text("{}")
    (world.root.locks / "44444444.lock").touch()
    (world.root.queue / "junk.txt").write_text("x")


def test_report_only_changes_nothing_and_a_second_fix_finds_nothing(world, tmp_path):
    plant(world, with_secret(world))
    settings = settings_for(world, world.root.path)
    names = ["root", "registry", "branches", "queue", "worktrees", "api", "config"]
    before = snapshot(world.root.path)
    found = runner.run_doctor(settings, names=names, start=tmp_path)
    # Reading a registry under its shared lock may create that (empty) lock file; nothing
    # else may appear or change.
    after = snapshot(world.root.path)
    created = {path for path in set(after) - set(before) if path.endswith(".json.lock")}
    assert {path: value for path, value in after.items()
            if path not in created and path != "locks"} == \
        {path: value for path, value in before.items() if path != "locks"}
    assert exit_code(found) == ExitCode.PROBLEMS
    assert all(f.root == str(world.root.path) for f in found if f.check != "config")
    cleaned = runner.run_doctor(settings, names=names, cleanup_stale=True, start=tmp_path)
    assert {f.check for f in cleaned if f.status == "fixed"} == {"registry", "queue"}
    assert (world.root.queue / "junk.txt").exists()  # moving strays aside is a repair
    fixed = runner.run_doctor(settings, names=names, fix=True, start=tmp_path)
    assert [f.check for f in fixed if f.status == "fixed"] == ["root", "queue"]  # 0644 junk
    again = runner.run_doctor(settings, names=names, fix=True, start=tmp_path)
    assert not [f for f in again if f.status in ("fixed", "problem")]
    assert exit_code(again) == ExitCode.OK
    assert set(world.registry(with_secret(world)).entries()) == {"11111111"}


def test_an_unusable_secret_means_nothing_registered_is_touched(world, tmp_path):
    key = with_secret(world)
    plant(world, key)
    (world.settings.config_dir / "secret").chmod(0o644)
    found = runner.run_doctor(settings_for(world, world.root.path), fix=True, start=tmp_path,
                              names=["registry", "queue"])
    assert found[0].status == "warn" and "cannot verify entries" in found[0].message
    assert set(world.registry(key).entries()) == {"11111111", "44444444"}
    assert (world.root.cursors / "44444444.json").exists()


def test_fixes_take_turns_and_reports_do_not_wait(world, tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_DOCTOR_LOCK,
                               str(world.root.locks / runner.DOCTOR_LOCK)],
                              stdout=subprocess.PIPE, text=True)
    world.children.append(holder)
    assert holder.stdout.readline() == "held\n"
    settings = settings_for(world, world.root.path)
    started = time.monotonic()
    runner.run_doctor(settings, names=["registry"], start=tmp_path)
    assert time.monotonic() - started < 5
    done = []
    fixing = threading.Thread(target=lambda: done.append(runner.run_doctor(
        settings, names=["registry"], fix=True, start=tmp_path)))
    fixing.start()
    time.sleep(0.5)
    assert fixing.is_alive() and not done  # waits for the other doctor
    holder.kill()
    fixing.join(timeout=30)
    assert done


def test_the_doctor_lock_that_is_a_link_is_not_followed(world, tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    (world.root.locks / runner.DOCTOR_LOCK).symlink_to(target)
    runner.run_doctor(settings_for(world, world.root.path), names=["registry"], fix=True,
                      start=tmp_path)
    assert target.read_text() == "keep"


def test_a_check_that_fails_is_one_problem_and_the_others_still_run(world):
    def broken(context):
        raise RuntimeError("boom")

    finding = runner._run_check(Check("broken", "p", broken, True, False), world.context())
    assert finding == [Finding("broken", "problem", "the check failed: RuntimeError: boom",
                               root=str(world.root.path))]
    assert runner._run_check(CHECKS[0], Context(world.run(), world.root))




@pytest.mark.parametrize("name", ["locks", "coordination_queue", "worktrees", "cursors"])
def test_a_root_whose_directory_is_a_link_is_not_looked_into(world, tmp_path, name):
    """Found in review: a linked locks/ made even report-only doctor create files elsewhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    inside = world.root.path / name
    for entry in inside.iterdir():
        entry.unlink()
    inside.rmdir()
    inside.symlink_to(elsewhere)
    settings = dataclasses.replace(world.settings, root=world.root.path)
    findings = runner.run_doctor(settings, fix=True, cleanup_stale=True, start=world.root.path)
    assert any(f.check == "root" and f.status == "problem" and "link" in f.message
               for f in findings)
    assert list(elsewhere.iterdir()) == []
