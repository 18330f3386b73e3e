from mnemosyne.config import resolve_settings
from mnemosyne.coord.context import make_coordinator, open_root, signing_key


def test_root_and_key_follow_the_settings(tmp_path):
    settings = resolve_settings({"root": str(tmp_path / "r")},
                                environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg"),
                                         "MNEMOSYNE_SHARED_SECRET": "s"})
    assert open_root(settings, start=tmp_path).path == tmp_path / "r"
    assert signing_key(settings) == b"s"


def test_default_root_outside_git_is_the_state_directory(tmp_path):
    settings = resolve_settings(environ={"XDG_STATE_HOME": str(tmp_path / "state"),
                                         "XDG_CONFIG_HOME": str(tmp_path / "cfg")})
    assert open_root(settings, start=tmp_path).path == tmp_path / "state" / "mnemosyne"
    assert len(signing_key(settings)) == 64


def test_make_coordinator_uses_the_message_settings(tmp_path):
    settings = resolve_settings({"root": str(tmp_path / "r")},
                                environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg"),
                                         "MNEMOSYNE_MESSAGE_SIZE_CAP": "2048"})
    coordinator = make_coordinator(settings, "a1b2c3d4", start=tmp_path)
    assert coordinator.messages.max_bytes == 2048
    assert coordinator.root.path == tmp_path / "r"
