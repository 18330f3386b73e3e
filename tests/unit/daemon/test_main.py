import dataclasses
import logging
from pathlib import Path

import pytest

from mnemosyne.config import ConfigError, resolve_settings
from mnemosyne.coord.queue import Message
from mnemosyne.daemon import main as daemon_main
from mnemosyne.errors import UsageError


def settings_for(tmp_path, **flags):
    return resolve_settings({"db_path": str(tmp_path / "d.db"), **flags},
                            environ={"XDG_CONFIG_HOME": str(tmp_path)})


def test_reload_applies_the_new_log_level(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    level = logging.getLogger().level
    fresh = settings_for(tmp_path, log_level="debug")
    try:
        assert daemon_main.handle_sighup(settings_for(tmp_path), lambda: fresh) == fresh
        assert logging.getLogger().level == logging.DEBUG
    finally:
        logging.getLogger().setLevel(level)
    assert "reloaded configuration (log level debug): changed log_level" in caplog.text


def test_reload_names_the_settings_that_wait_for_a_restart(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    current = settings_for(tmp_path)
    fresh = settings_for(tmp_path, db_path=str(tmp_path / "other.db"),
                         api_addr="127.0.0.1:4000")
    fresh = dataclasses.replace(fresh, heartbeat_interval_s=1.5)
    effective = daemon_main.handle_sighup(current, lambda: fresh)
    assert effective.heartbeat_interval_s == 1.5  # the loop applies it at once
    assert (effective.db_path, effective.api_addr) == (current.db_path, current.api_addr)
    assert effective.sources["api_addr"] == current.sources["api_addr"]
    assert "changed database_url, api_addr, heartbeat_interval_s; only after a restart: " \
           "database_url, api_addr" in caplog.text


def test_reload_with_nothing_changed_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    current = settings_for(tmp_path)
    assert daemon_main.handle_sighup(current, lambda: settings_for(tmp_path)) == current
    assert "reloaded configuration (log level info): nothing changed" in caplog.text


def test_workdir_is_entered_or_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "repo").mkdir()
    daemon_main.enter_workdir(settings_for(tmp_path, workdir=str(tmp_path / "repo")))
    assert Path.cwd() == tmp_path / "repo"
    with pytest.raises(UsageError, match=r"workdir .*missing"):
        daemon_main.enter_workdir(settings_for(tmp_path, workdir=str(tmp_path / "missing")))
    daemon_main.enter_workdir(settings_for(tmp_path))  # none set: stays
    assert Path.cwd() == tmp_path / "repo"


def test_failed_reload_keeps_the_current_settings(tmp_path, caplog):
    current = settings_for(tmp_path)

    def broken():
        raise ConfigError("x.toml", ["bad"])

    assert daemon_main.handle_sighup(current, broken) is current
    assert "reload failed" in caplog.text


def test_messages_are_logged_with_their_payload(caplog):
    caplog.set_level(logging.INFO)
    daemon_main.log_message(Message("id", "aaaaaaaa", None, "Heartbeat", "t", {"x": "é"}))
    assert 'message Heartbeat from aaaaaaaa to all: {"x": "é"}' in caplog.text
