"""`mnemosyne serve --daemon --pidfile PATH`: a classic daemon, off systemd."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from tests.helpers import assert_one_line_error


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
    return result


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_daemon_writes_its_pidfile_runs_detached_and_cleans_up(cli, tmp_path):
    pidfile = tmp_path / "run" / "m.pid"
    log = tmp_path / "daemon.log"
    result = cli("serve", "--daemon", "--pidfile", str(pidfile), "--instance-id", "da3a0001",
                 prefix=("sh", "-c", f'exec "$@" 2>>{log}', "sh"))
    assert result.returncode == 0, log.read_text() if log.exists() else result.stderr
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip()))
    try:
        assert alive(pid)
        wait_for(lambda: any(view["instance_id"] == "da3a0001" for view in json.loads(
            cli("instances", "--format", "json").ok().stdout)))
        assert os.getsid(pid) != os.getsid(0)  # its own session, detached from ours
        assert_one_line_error(cli("serve", "--daemon", "--pidfile", str(pidfile)), 7,
                              f"pid {pid}")
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pidfile.exists())
        wait_for(lambda: not alive(pid))
        assert "ready:" in log.read_text()
        views = json.loads(cli("instances", "--format", "json", "--all").ok().stdout)
        assert views == []
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_stale_pidfile_is_taken_over_and_logs_go_beside_it(cli, tmp_path):
    pidfile = tmp_path / "m.pid"
    pidfile.write_text("999999\n")
    result = cli("serve", "--daemon", "--pidfile", str(pidfile), "--instance-id", "da3a0002")
    assert result.ok().stderr == f"mnemosyne: logging to {tmp_path / 'm.log'}\n"
    pid = int(wait_for(lambda: pidfile.read_text().strip() != "999999"
                       and pidfile.read_text().strip()))
    try:
        assert alive(pid)
        wait_for(lambda: "ready:" in (tmp_path / "m.log").read_text())
        assert (tmp_path / "m.log").stat().st_mode & 0o777 == 0o600
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pidfile.exists())


def test_daemon_mode_is_refused_under_systemd(cli, tmp_path):
    for variable in ("INVOCATION_ID", "NOTIFY_SOCKET"):
        result = cli("serve", "--daemon", env={variable: "x"})
        assert_one_line_error(result, 2, "--daemon is for machines without systemd")


def test_pidfile_without_daemon_is_a_usage_error(cli, tmp_path):
    assert_one_line_error(cli("serve", "--pidfile", str(tmp_path / "p")), 2,
                          "--pidfile goes with --daemon")
