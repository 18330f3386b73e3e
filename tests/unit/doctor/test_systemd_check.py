"""The systemd check without a user manager: no test here starts or talks to systemd.

Runs that could reach a manager are made in a child process whose environment names no bus
and (where a fix would call systemctl) whose PATH has no systemctl.
"""

import json
import os
import subprocess
import sys

import pytest

from mnemosyne.daemon import units
from mnemosyne.doctor import systemd_check

CHILD = """
import json, sys, time
from mnemosyne.config import resolve_settings
from mnemosyne.doctor import systemd_check
from mnemosyne.doctor.context import Context, Run
settings = resolve_settings(environ={"XDG_CONFIG_HOME": sys.argv[1]}, lenient=True)
run = Run(settings, b"k" * 32, fix=sys.argv[2] == "fix")
what = sys.argv[3]
context = Context(run)
if what == "run":
    findings = systemd_check.run(context)
elif what == "failed":
    findings = systemd_check._failed(context, ["mnemosyne@a1b2c3d4.service"])
else:
    findings = getattr(systemd_check, "_" + what)(context)
print(json.dumps([[f.status, f.message] for f in findings]))
"""


def child(config_home, mode, what, path=None, timeout=60):
    env = {key: value for key, value in os.environ.items()
           if key not in ("XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")
           and not key.startswith("MNEMOSYNE_")}
    if path is not None:
        env["PATH"] = str(path)
    done = subprocess.run([sys.executable, "-c", CHILD, str(config_home), mode, what],
                          capture_output=True, text=True, env=env, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr
    return [tuple(item) for item in json.loads(done.stdout)]


@pytest.fixture
def no_systemctl(tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    return empty


def install_units(world):
    paths = units.UnitPaths.for_config_dir(world.settings.config_dir.parent)
    units.install(paths, reload=False)
    return paths


def test_without_systemctl_it_is_skipped(world, no_systemctl):
    assert child(world.tmp_path / "config", "fix", "run", no_systemctl) == [
        ("skipped", "skipped: systemctl not found")]


def test_without_a_user_manager_it_is_skipped(world):
    found = child(world.tmp_path / "config", "fix", "run")
    assert found in ([("skipped", "skipped: no user manager")],
                     [("skipped", "skipped: systemctl not found")])


def test_installed_units_of_this_version_are_not_stale(world):
    install_units(world)
    assert systemd_check._unit_files(world.context(fix=True, root=False)) == []


def test_stale_unit_files_are_reported_and_rewritten_only_by_fix(world, no_systemctl):
    paths = install_units(world)
    name = "mnemosyne@.service"
    (paths.units / name).write_text(f"{units.MARKER}\n[Service]\nExecStart=/old/mnemosyne\n")
    before = (paths.units / name).read_text()
    for mode in ("report", "cleanup"):
        context = world.context(cleanup_stale=mode == "cleanup", root=False)
        findings = systemd_check._unit_files(context)
        assert [(f.status, f.details["files"]) for f in findings] == [("problem", [name])]
        assert (paths.units / name).read_text() == before
    found = child(world.tmp_path / "config", "fix", "unit_files", no_systemctl)
    assert found[0][0] == "fixed" and name in found[0][1]
    assert (paths.units / name).read_text() == units.rendered_units()[name]


def test_unit_files_that_are_not_ours_or_unreadable_are_left_alone(world):
    paths = install_units(world)
    (paths.units / "mnemosyne@.service").write_text("[Service]\nExecStart=/my/own\n")
    (paths.units / "mnemosyne.target").unlink()
    (paths.units / "mnemosyne.target").mkdir()
    doctor_service = paths.units / "mnemosyne-doctor.service"
    doctor_service.unlink()
    os.mkfifo(doctor_service)
    assert systemd_check._unit_files(world.context(fix=True, root=False)) == []
    assert (paths.units / "mnemosyne@.service").read_text() == "[Service]\nExecStart=/my/own\n"


def test_units_and_registry_entries_are_compared(world):
    world.live("11111111", systemd_unit="mnemosyne@11111111.service")
    world.live("22222222", systemd_unit="mnemosyne@22222222.service")
    context = world.context()
    context.views()  # records the entries, as the per-root checks do
    states = {"mnemosyne@22222222.service": "active", "mnemosyne@33333333.service": "active",
              "mnemosyne@44444444.service": "failed"}
    findings = systemd_check._unregistered(context, states)
    messages = [(f.status, f.details["unit"]) for f in findings]
    assert messages == [("warn", "mnemosyne@33333333.service"),
                        ("warn", "mnemosyne@11111111.service")]


def test_failed_units_are_reset_only_by_fix(world, no_systemctl):
    findings = systemd_check._failed(world.context(cleanup_stale=True, root=False),
                                     ["mnemosyne@a1b2c3d4.service"])
    assert [f.status for f in findings] == ["problem"]
    assert systemd_check._failed(world.context(root=False), []) == []
    # Asked to fix, with no systemctl to do it: still a problem, not an exception.
    found = child(world.tmp_path / "config", "fix", "failed", no_systemctl)
    assert found[0][0] == "problem" and "could not reset" in found[0][1]


def test_the_timer_is_judged_only_when_units_are_installed(world, no_systemctl):
    if (systemd_check.SYSTEM_UNIT_DIRECTORY / systemd_check.TIMER).exists():
        pytest.skip("a packaged doctor timer is installed on this machine")
    assert child(world.tmp_path / "config", "report", "timer", no_systemctl) == []
    install_units(world)
    found = child(world.tmp_path / "config", "report", "timer", no_systemctl)
    assert found[0][0] == "warn" and "not enabled" in found[0][1]


def test_a_rewrite_never_writes_through_a_link_or_into_a_fifo(world, no_systemctl, tmp_path):
    paths = install_units(world)
    (paths.units / "mnemosyne@.service").write_text(f"{units.MARKER}\n[Service]\n")
    (paths.units / "mnemosyne.target").unlink()
    os.mkfifo(paths.units / "mnemosyne.target")
    target = tmp_path / "elsewhere.timer"
    target.write_text("mine")
    (paths.units / "mnemosyne-doctor.timer").unlink()
    (paths.units / "mnemosyne-doctor.timer").symlink_to(target)
    found = child(world.tmp_path / "config", "fix", "unit_files", no_systemctl, timeout=20)
    assert found[0][0] == "problem" and "not a regular file" in found[0][1]
    assert target.read_text() == "mine"
