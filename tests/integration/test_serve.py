"""`mnemosyne serve` as a real process: ready, reload on SIGHUP, clean stop on TERM/INT."""

from __future__ import annotations

import signal
from pathlib import Path

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


def test_reload_keeps_the_command_lines_flags_and_names_what_needs_a_restart(
        start_daemon, tmp_path):
    config = tmp_path / "home/.config/mnemosyne/config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'log_level = "error"\napi_capacity = 10\n'
                      f'db_path = "{tmp_path / "elsewhere.db"}"\n')
    daemon = start_daemon("--log-level", "info", "--api-capacity", "50")  # and --db
    daemon.wait_for_line("ready:")
    daemon.send(signal.SIGHUP)  # the flags still win over the file, as at start
    daemon.wait_for_line("reloaded configuration (log level info): nothing changed")
    config.write_text(config.read_text() + 'heartbeat_interval_s = 1.5\nmessage_ttl_s = 100\n')
    daemon.send(signal.SIGHUP)
    daemon.wait_for_line("reloaded configuration (log level info): changed "
                         "heartbeat_interval_s, message_ttl_s; only after a restart: "
                         "message_ttl_s")
    daemon.send(signal.SIGTERM)
    assert daemon.wait() == 0


def test_reload_tells_systemd_reloading_then_ready(start_daemon, tmp_path):
    server = notify_server(tmp_path)
    try:
        daemon = start_daemon("--instance-id", "a1b2c3d4",
                              env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        collect(server, lambda datagram: "READY=1" in datagram)
        daemon.send(signal.SIGHUP)
        got = collect(server, lambda datagram: datagram.startswith("READY=1"))
        reloading = next(datagram for datagram in got if "RELOADING=1" in datagram)
        fields = dict(line.split("=", 1) for line in reloading.splitlines())
        assert fields["RELOADING"] == "1" and int(fields["MONOTONIC_USEC"]) > 0
        assert got.index(reloading) < len(got) - 1
        assert got[-1].startswith("READY=1\nSTATUS=instance a1b2c3d4: no API")
        daemon.send(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        server.close()


def test_workdir_decides_where_the_instance_works_and_its_root(start_daemon, git_repo):
    daemon = start_daemon(env={"MNEMOSYNE_WORKDIR": str(git_repo / "src"),
                               "MNEMOSYNE_ROOT": ""})
    ready = daemon.wait_for_line("ready:")
    assert f"coordination root {git_repo / '.mnemosyne'}," in ready
    assert Path(f"/proc/{daemon.process.pid}/cwd").resolve() == git_repo / "src"


def test_a_missing_workdir_is_a_usage_error(start_daemon, tmp_path):
    daemon = start_daemon(env={"MNEMOSYNE_WORKDIR": str(tmp_path / "gone")})
    assert daemon.wait() == 2
    assert daemon.lines == [f"mnemosyne: error: workdir {tmp_path / 'gone'}: "
                            "No such file or directory"]


@pytest.mark.parametrize(("args", "status"), [
    (["--no-such-flag"], "STATUS=failed: unrecognized arguments: --no-such-flag"),
    (["--instance-id", "NOT-AN-ID"], "STATUS=failed: invalid instance id"),
])
def test_a_usage_error_is_reported_to_systemd(start_daemon, tmp_path, args, status):
    server = notify_server(tmp_path)
    try:
        daemon = start_daemon(*args, env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        assert daemon.wait() == 2
        assert collect(server, lambda datagram: "failed" in datagram)[-1].startswith(status)
        assert len(daemon.lines) == 1 and daemon.lines[0].startswith("mnemosyne: error: ")
    finally:
        server.close()
