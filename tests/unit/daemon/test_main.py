import logging
import signal

import pytest

from mnemosyne.config import ConfigError, resolve_settings
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import prepare_root
from mnemosyne.daemon import main as daemon_main
from mnemosyne.daemon.signals import SignalQueue


def settings_for(tmp_path, **flags):
    return resolve_settings({"db_path": str(tmp_path / "d.db"), **flags},
                            environ={"XDG_CONFIG_HOME": str(tmp_path)})


@pytest.fixture(autouse=True)
def keep_root_level():
    """The SIGHUP handler changes the root logger's level, as it does in the daemon."""
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


def test_loop_reloads_on_hup_and_stops_on_term(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    queue = SignalQueue()
    for signum in (signal.SIGHUP, signal.SIGTERM):
        queue.received.put(signum)
    fresh = settings_for(tmp_path, log_level="debug")
    coordinator = CrossProcessCoordinator(prepare_root(tmp_path / "coord", start=tmp_path),
                                          "a1b2c3d4", b"key")
    coordinator.register()
    code = daemon_main._loop(settings_for(tmp_path), queue, coordinator, lambda: fresh)
    coordinator.unregister()
    assert code == 0
    assert "reloaded configuration (log level debug)" in caplog.text
    assert "stopping on SIGTERM" in caplog.text


def test_failed_reload_keeps_the_current_settings(tmp_path, caplog):
    current = settings_for(tmp_path)

    def broken():
        raise ConfigError("x.toml", ["bad"])

    assert daemon_main.handle_sighup(current, broken) is current
    assert "reload failed" in caplog.text
