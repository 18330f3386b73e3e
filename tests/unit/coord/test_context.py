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


def test_api_token_is_the_setting_else_the_users_token_file(tmp_path):
    from mnemosyne.coord.context import api_token  # noqa: PLC0415

    environ = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert api_token(resolve_settings({"api_token": "given"}, environ=environ)) == "given"
    settings = resolve_settings({}, environ=environ)
    token = api_token(settings)
    assert settings.api_token_path == tmp_path / "cfg" / "mnemosyne" / "api-token"
    assert settings.api_token_path.read_text() == token
    assert api_token(settings) == token and len(token) == 64
