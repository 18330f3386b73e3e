import logging

from mnemosyne.config import ConfigError, resolve_settings
from mnemosyne.coord.queue import Message
from mnemosyne.daemon import main as daemon_main


def settings_for(tmp_path, **flags):
    return resolve_settings({"db_path": str(tmp_path / "d.db"), **flags},
                            environ={"XDG_CONFIG_HOME": str(tmp_path)})


def test_reload_applies_the_new_log_level(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    level = logging.getLogger().level
    fresh = settings_for(tmp_path, log_level="debug")
    try:
        assert daemon_main.handle_sighup(settings_for(tmp_path), lambda: fresh) is fresh
        assert logging.getLogger().level == logging.DEBUG
    finally:
        logging.getLogger().setLevel(level)
    assert "reloaded configuration (log level debug)" in caplog.text


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
