"""mnemosyne@.service under a real systemd user manager (tests/systemd/sandbox.sh)."""

from __future__ import annotations

import os

import pytest

from tests.helpers import http_request, occupy

pytestmark = [pytest.mark.systemd, pytest.mark.usefixtures("installed_units")]


def test_start_reaches_active_with_status_and_registers_its_unit(user_manager):
    user_manager.systemctl("start", "mnemosyne@a1b2c3d4")
    assert user_manager.show("mnemosyne@a1b2c3d4", "ActiveState") == "active"
    status = user_manager.show("mnemosyne@a1b2c3d4", "StatusText")
    port = user_manager.api_first_port
    assert status.startswith(f"instance a1b2c3d4: serving on 127.0.0.1:{port}, no worktree")
    view = user_manager.instances()["a1b2c3d4"]
    assert (view["state"], view["systemd_unit"]) == ("live", "mnemosyne@a1b2c3d4.service")
    assert view["api_url"] == f"http://127.0.0.1:{port}"  # set before READY=1
    assert http_request(view["api_url"] + "/health").json()["instance_id"] == "a1b2c3d4"
    user_manager.systemctl("stop", "mnemosyne@a1b2c3d4")
    assert user_manager.show("mnemosyne@a1b2c3d4", "ActiveState") == "inactive"
    assert user_manager.instances() == {}


def test_journal_has_the_daemons_lines_at_their_priorities(user_manager):
    held = occupy(user_manager.api_first_port, 11)  # so that the instance logs a warning
    try:
        user_manager.systemctl("start", "mnemosyne@b1b2c3d4")
    finally:
        for holder in held:
            holder.close()
    entries = user_manager.wait_for(lambda: [
        entry for entry in user_manager.journal("-u", "mnemosyne@b1b2c3d4")
        if entry.get("SYSLOG_IDENTIFIER") == "mnemosyne"], what="journal lines")
    by_message = {entry["MESSAGE"]: entry["PRIORITY"] for entry in entries}
    ready = next(message for message in by_message if "ready:" in message)
    assert ready.startswith("[b1b2c3d4] ")
    assert by_message[ready] == "6"
    warning = next(message for message in by_message if "All ports" in message)
    assert by_message[warning] == "4"
    tagged = user_manager.journal("MNEMOSYNE_INSTANCE=b1b2c3d4")
    assert {entry["MESSAGE"] for entry in tagged} >= {ready, warning}
    assert {entry["_SYSTEMD_UNIT"] for entry in tagged} == {"mnemosyne@b1b2c3d4.service"}


def test_sigkill_makes_systemd_restart_it_and_the_registry_follows(user_manager):
    user_manager.systemctl("start", "mnemosyne@c1b2c3d4")
    first = user_manager.show("mnemosyne@c1b2c3d4", "MainPID")
    user_manager.run("kill", "-KILL", first)
    second = user_manager.wait_for(
        lambda: (pid := user_manager.show("mnemosyne@c1b2c3d4", "MainPID")) not in ("0", first)
        and user_manager.show("mnemosyne@c1b2c3d4", "ActiveState") == "active" and pid,
        what="a restart")
    assert user_manager.show("mnemosyne@c1b2c3d4", "NRestarts") == "1"
    view = user_manager.wait_for(lambda: (v := user_manager.instances().get("c1b2c3d4"))
                                 and str(v["pid"]) == second and v, what="re-registration")
    assert view["state"] == "live"


def test_a_configuration_error_does_not_restart_in_a_loop(user_manager):
    env = user_manager.config / "mnemosyne" / "d1b2c3d4.env"
    env.write_text("MNEMOSYNE_ARGS=--no-such-flag\n")
    try:
        user_manager.systemctl("start", "mnemosyne@d1b2c3d4", check=False)
        user_manager.wait_for(
            lambda: user_manager.show("mnemosyne@d1b2c3d4", "ActiveState") == "failed",
            what="failure")
        assert user_manager.show("mnemosyne@d1b2c3d4", "ExecMainStatus") == "2"
        assert user_manager.show("mnemosyne@d1b2c3d4", "NRestarts") == "0"
    finally:
        os.unlink(env)


def test_the_target_stops_every_instance(user_manager):
    user_manager.systemctl("start", "mnemosyne.target")
    for instance in ("e1b2c3d4", "f1b2c3d4"):
        user_manager.systemctl("start", f"mnemosyne@{instance}")
    assert set(user_manager.instances()) == {"e1b2c3d4", "f1b2c3d4"}
    user_manager.systemctl("stop", "mnemosyne.target")
    for instance in ("e1b2c3d4", "f1b2c3d4"):  # stopping the target does not wait for them
        user_manager.wait_for(lambda i=instance: user_manager.show(
            f"mnemosyne@{i}", "ActiveState") == "inactive", what=f"{instance} to stop")
        assert user_manager.show(f"mnemosyne@{instance}", "Result") == "success"
    assert user_manager.instances() == {}  # clean stops: every entry was removed


def test_a_hung_instance_is_killed_by_the_watchdog_and_restarted(user_manager):
    """Hung: SIGSTOP, so it can neither heartbeat nor notify; systemd's watchdog must act."""
    dropin = user_manager.config / "systemd" / "user" / "mnemosyne@.service.d"
    dropin.mkdir(exist_ok=True)
    (dropin / "watchdog.conf").write_text("[Service]\nWatchdogSec=1s\nTimeoutStopSec=2s\n")
    user_manager.systemctl("daemon-reload")
    try:
        user_manager.systemctl("start", "mnemosyne@0a0b0c0d")
        first = user_manager.show("mnemosyne@0a0b0c0d", "MainPID")
        user_manager.systemctl("kill", "--kill-whom=main", "--signal=SIGSTOP",
                               "mnemosyne@0a0b0c0d")
        # The manager's own lines about a user unit carry USER_UNIT=, which -u does not match.
        user_manager.wait_for(lambda: any(
            "Watchdog timeout" in entry.get("MESSAGE", "")
            for entry in user_manager.journal("USER_UNIT=mnemosyne@0a0b0c0d.service")),
            what="the watchdog to fire")
        user_manager.wait_for(
            lambda: user_manager.show("mnemosyne@0a0b0c0d", "ActiveState") == "active"
            and user_manager.show("mnemosyne@0a0b0c0d", "MainPID") not in ("0", first),
            what="the restart")
        assert int(user_manager.show("mnemosyne@0a0b0c0d", "NRestarts")) >= 1
        user_manager.wait_for(lambda: user_manager.instances().get("0a0b0c0d", {}).get(
            "state") == "live", what="live again")
    finally:
        (dropin / "watchdog.conf").unlink()
        user_manager.systemctl("daemon-reload")


def test_eight_instances_started_at_once_each_register_with_their_unit(user_manager):
    ids = [f"8888000{index}" for index in range(8)]
    user_manager.systemctl("start", *(f"mnemosyne@{instance}" for instance in ids))
    views = user_manager.wait_for(lambda: (v := user_manager.instances()) and len(v) == 8 and v,
                                  what="8 registrations")
    assert {view["systemd_unit"] for view in views.values()} == {
        f"mnemosyne@{instance}.service" for instance in ids}
    assert {view["state"] for view in views.values()} == {"live"}
    first = user_manager.api_first_port
    urls = {view["api_url"] for view in views.values()}
    assert len(urls) == 8  # each its own port
    assert all(int(url.rsplit(":", 1)[1]) in range(first, first + 11) for url in urls)
    user_manager.systemctl("stop", *(f"mnemosyne@{instance}" for instance in ids))
    assert user_manager.instances() == {}


def test_stop_removes_the_instances_clean_worktree(user_manager, git_repo):
    dropin = user_manager.config / "systemd" / "user" / "mnemosyne@7e7e7e7e.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "repository.conf").write_text(f"[Service]\nWorkingDirectory={git_repo}\n")
    env = user_manager.config / "mnemosyne" / "7e7e7e7e.env"
    env.write_text("MNEMOSYNE_ARGS=--worktree always\n")
    user_manager.systemctl("daemon-reload")
    try:
        user_manager.systemctl("start", "mnemosyne@7e7e7e7e")
        worktree = user_manager.root / "worktrees" / "7e7e7e7e"
        view = user_manager.instances()["7e7e7e7e"]
        assert (view["worktree_path"], view["branch"]) == (str(worktree), "mnemosyne/7e7e7e7e")
        assert "worktree" in user_manager.show("mnemosyne@7e7e7e7e", "StatusText")
        user_manager.systemctl("stop", "mnemosyne@7e7e7e7e")
        assert not worktree.exists()
        assert user_manager.instances() == {}
    finally:
        env.unlink()
        (dropin / "repository.conf").unlink()
        user_manager.systemctl("daemon-reload")


def test_the_cli_installs_units_and_starts_a_new_instance(user_manager):
    program = str(user_manager.program)
    installed = user_manager.run(program, "systemd", "install").stdout
    assert "mnemosyne@.service" in installed
    unit = user_manager.run(program, "systemd", "new", "--start", "--instance-id",
                            "9a9a9a9a").stdout.strip()
    assert unit == "mnemosyne@9a9a9a9a.service"
    assert user_manager.show(unit, "ActiveState") == "active"
    user_manager.systemctl("stop", unit)
    removed = user_manager.run(program, "systemd", "uninstall").stdout
    assert removed.count("removed ") == 4
