"""Reload, usage errors, `systemd new --repo` and `install --enable` under a real user manager."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.systemd.conftest import PROGRAM, SECRET

pytestmark = [pytest.mark.systemd, pytest.mark.usefixtures("installed_units")]


def instances_in(user_manager, root: Path) -> dict[str, dict]:
    env = {**os.environ, "MNEMOSYNE_ROOT": str(root), "MNEMOSYNE_SHARED_SECRET": SECRET,
           "XDG_CONFIG_HOME": str(user_manager.config)}
    result = subprocess.run([str(PROGRAM), "instances", "--all", "--format", "json"],
                            capture_output=True, text=True, env=env, check=True)
    return {view["instance_id"]: view for view in json.loads(result.stdout)}


def messages(user_manager, *matches: str) -> list[str]:
    return [entry.get("MESSAGE", "") for entry in user_manager.journal(*matches)]


def test_reload_applies_a_changed_setting_and_the_unit_stays_active(user_manager):
    unit = "mnemosyne@1e1e1e1e.service"
    config = user_manager.config / "mnemosyne" / "config.toml"
    env = user_manager.config / "mnemosyne" / "1e1e1e1e.env"
    env.write_text("MNEMOSYNE_ARGS=--log-level info\n")  # a flag: the file cannot change it
    config.write_text('log_level = "error"\n')
    try:
        user_manager.systemctl("start", unit)
        pid = user_manager.show(unit, "MainPID")
        config.write_text('log_level = "error"\nheartbeat_interval_s = 1.5\n'
                          'message_ttl_s = 100\n')
        user_manager.systemctl("reload", unit)
        expected = ("[1e1e1e1e] reloaded configuration (log level info): changed "
                    "heartbeat_interval_s, message_ttl_s; only after a restart: message_ttl_s")
        user_manager.wait_for(lambda: expected in messages(
            user_manager, "MNEMOSYNE_INSTANCE=1e1e1e1e"), what="the reload's log line")
        user_manager.wait_for(lambda: user_manager.systemctl(
            "show", "-p", "ActiveState,SubState", unit).stdout.split()
            == ["ActiveState=active", "SubState=running"], what="active (running) again")
        assert user_manager.show(unit, "MainPID") == pid
        assert user_manager.show(unit, "StatusText").startswith("instance 1e1e1e1e: serving")
        user_manager.systemctl("reload", unit)  # what waits for a restart is named again
        again = ("[1e1e1e1e] reloaded configuration (log level info): changed "
                 "message_ttl_s; only after a restart: message_ttl_s")
        user_manager.wait_for(lambda: again in messages(
            user_manager, "MNEMOSYNE_INSTANCE=1e1e1e1e"), what="the second reload")
        assert user_manager.show(unit, "ActiveState") == "active"
        assert instances_in(user_manager, user_manager.root)["1e1e1e1e"]["state"] == "live"
    finally:
        config.unlink()
        env.unlink()


@pytest.mark.parametrize(("instance", "env_args", "error"), [
    ("2e2e2e2e", "--no-such-flag",
     "unrecognized arguments: --no-such-flag (see 'mnemosyne --help')"),
    ("NOTANID", "", "invalid instance id 'NOTANID': use 8 lowercase hex digits, e.g. a1b2c3d4"),
])
def test_a_usage_error_leaves_a_status_and_a_journal_entry(user_manager, instance, env_args,
                                                           error):
    unit = f"mnemosyne@{instance}.service"
    env = user_manager.config / "mnemosyne" / f"{instance}.env"
    env.write_text(f"MNEMOSYNE_ARGS={env_args}\n")
    try:
        user_manager.systemctl("start", unit, check=False)
        user_manager.wait_for(lambda: user_manager.show(unit, "ActiveState") == "failed",
                              what="failure")
        assert user_manager.show(unit, "ExecMainStatus") == "2"
        assert user_manager.show(unit, "StatusText") == f"failed: {error}"
        assert f'Status: "failed: {error}"' in \
            user_manager.systemctl("status", unit, check=False).stdout
        entries = user_manager.wait_for(lambda: user_manager.journal(
            f"MNEMOSYNE_INSTANCE={instance}"), what="a journal entry")
        assert [(entry["MESSAGE"], entry["PRIORITY"], entry["SYSLOG_IDENTIFIER"])
                for entry in entries] == [(f"mnemosyne: error: {error}", "3", "mnemosyne")]
        assert f"mnemosyne: error: {error}" in messages(user_manager, "-u", unit)
    finally:
        env.unlink()


def test_new_with_a_repository_serves_it_and_comes_back_with_the_target(user_manager,
                                                                        git_repo):
    unit = "mnemosyne@3e3e3e3e.service"
    result = user_manager.run(str(PROGRAM), "systemd", "new", "--repo", str(git_repo),
                              "--start", "--instance-id", "3e3e3e3e")
    try:
        assert result.stdout == f"{unit}\n"
        assert "mnemosyne.target is not enabled" in result.stderr
        assert user_manager.systemctl("is-enabled", unit).stdout.strip() == "enabled"
        assert user_manager.show(unit, "ActiveState") == "active"
        view = instances_in(user_manager, git_repo / ".mnemosyne")["3e3e3e3e"]
        assert (view["state"], view["systemd_unit"]) == ("live", unit)
        assert "3e3e3e3e" not in instances_in(user_manager, user_manager.root)
        pid = user_manager.show(unit, "MainPID")
        cwd = user_manager.run("readlink", f"/proc/{pid}/cwd").stdout.strip()
        assert cwd == str(git_repo)
        # What a login does: default.target starts mnemosyne.target, which wants the instance.
        user_manager.systemctl("stop", unit)
        user_manager.systemctl("start", "mnemosyne.target")
        user_manager.wait_for(lambda: user_manager.show(unit, "ActiveState") == "active",
                              what="the enabled instance to start with the target")
        assert instances_in(user_manager, git_repo / ".mnemosyne")["3e3e3e3e"]["state"] \
            == "live"
    finally:
        user_manager.systemctl("disable", "--now", unit, check=False)
        user_manager.systemctl("stop", "mnemosyne.target", check=False)
        (user_manager.config / "mnemosyne" / "3e3e3e3e.env").unlink(missing_ok=True)


def test_install_enable_enables_the_timer_and_the_target_and_uninstall_undoes_it(
        user_manager):
    program = str(PROGRAM)
    user_manager.run(program, "systemd", "install", "--enable")
    assert user_manager.systemctl("is-enabled", "mnemosyne-doctor.timer",
                                  "mnemosyne.target").stdout.split() == ["enabled", "enabled"]
    assert user_manager.show("mnemosyne-doctor.timer", "ActiveState") == "active"
    removed = user_manager.run(program, "systemd", "uninstall").stdout
    assert removed.count("removed ") == 4
    units = user_manager.config / "systemd" / "user"
    links = [path for path in units.rglob("*") if path.is_symlink()
             and path.name in ("mnemosyne-doctor.timer", "mnemosyne.target")]
    assert links == []
    assert user_manager.show("mnemosyne-doctor.timer", "ActiveState") == "inactive"
