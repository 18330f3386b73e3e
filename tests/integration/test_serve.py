"""`mnemosyne serve` as a real process: ready, reload on SIGHUP, clean stop on TERM/INT."""

from __future__ import annotations

import signal

import pytest


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
