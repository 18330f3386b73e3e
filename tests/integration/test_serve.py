"""`mnemosyne serve` as a real process: ready, reload on SIGHUP, clean stop on TERM/INT."""

from __future__ import annotations

import signal

import pytest

from tests.helpers import collect_datagrams as collect
from tests.helpers import notify_server


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_reports_ready_then_stops_cleanly(start_daemon, signum):
    daemon = start_daemon()
    ready = daemon.wait_for_line("ready:")
    assert "0 memories" in ready
    daemon.send(signum)
    assert daemon.wait() == 0
    daemon.wait_for_line(f"stopping on {signal.Signals(signum).name}")


def test_sighup_reloads_log_level_and_keeps_running(start_daemon, isolated_env, tmp_path):
    config = tmp_path / "home/.config/mnemosyne/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('log_level = "info"\n')
    daemon = start_daemon()
    daemon.wait_for_line("ready:")
    config.write_text('log_level = "debug"\n')
    daemon.send(signal.SIGHUP)
    daemon.wait_for_line("reloaded configuration (log level debug)")
    config.write_text("broken = = toml\n")
    daemon.send(signal.SIGHUP)
    daemon.wait_for_line("reload failed, keeping the current configuration")
    assert daemon.process.poll() is None
    daemon.send(signal.SIGTERM)
    assert daemon.wait() == 0


def test_serve_with_an_unusable_database_exits_3_with_one_line(start_daemon, db_path):
    db_path.parent.mkdir(parents=True)
    db_path.write_text("not a database at all\n" * 100)
    daemon = start_daemon()
    assert daemon.wait() == 3
    assert daemon.lines == [f"mnemosyne: error: {db_path} is not a SQLite database "
                            "(or it is encrypted)"]


def test_sd_notify_ready_watchdog_and_stopping(start_daemon, tmp_path):
    server = notify_server(tmp_path)
    try:
        daemon = start_daemon("--instance-id", "a1b2c3d4", env={
            "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "200000"})
        first = collect(server, lambda datagram: "READY=1" in datagram)
        assert first[-1].startswith("READY=1\nSTATUS=instance a1b2c3d4: no API, no worktree")
        pings = collect(server, lambda datagram: datagram == "WATCHDOG=1")
        pings += collect(server, lambda datagram: datagram == "WATCHDOG=1")
        daemon.send(signal.SIGTERM)
        rest = collect(server, lambda datagram: datagram.startswith("STOPPING=1"))
        assert daemon.wait() == 0
        assert rest[-1] == "STOPPING=1\nSTATUS=stopping"
    finally:
        server.close()


def test_startup_failure_is_reported_to_systemd(start_daemon, tmp_path, db_path):
    server = notify_server(tmp_path)
    try:
        blocker = tmp_path / "blocker"
        blocker.write_text("")
        daemon = start_daemon("--db", str(blocker / "sub" / "m.db"),
                              env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        assert daemon.wait() == 3
        status = collect(server, lambda datagram: "failed" in datagram)
        assert status[-1].startswith("STATUS=failed: cannot create database directory")
        assert status[-1].endswith("ERRNO=20")  # ENOTDIR
    finally:
        server.close()
