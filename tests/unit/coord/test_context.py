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


def test_open_root_records_the_root_it_prepared(tmp_path):
    from mnemosyne.coord.roots import indexed_roots  # noqa: PLC0415

    settings = resolve_settings({"root": str(tmp_path / "r")},
                                environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg"),
                                         "XDG_STATE_HOME": str(tmp_path / "state")})
    open_root(settings, start=tmp_path)
    open_root(settings, start=tmp_path)
    assert indexed_roots(settings.state_dir) == [tmp_path / "r"]


def test_open_indexed_roots_opens_every_usable_root_and_says_which_it_skipped(tmp_path):
    from mnemosyne.coord.context import open_indexed_roots  # noqa: PLC0415
    from mnemosyne.coord.roots import record_root  # noqa: PLC0415

    environ = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_STATE_HOME": str(tmp_path / "st")}
    settings = resolve_settings({"root": str(tmp_path / "current")}, environ=environ)
    other = resolve_settings({"root": str(tmp_path / "other")}, environ=environ)
    open_root(other, start=tmp_path)
    state = settings.state_dir
    record_root(state, tmp_path / "gone")
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    record_root(state, tmp_path / "link")
    (tmp_path / "file").write_text("x")
    record_root(state, tmp_path / "file")
    (tmp_path / "plain").mkdir(mode=0o755)  # a directory that never was a root
    record_root(state, tmp_path / "plain")
    (tmp_path / "other" / "cursors").rmdir()  # an older root: used as it is
    roots, skipped = open_indexed_roots(settings, start=tmp_path)
    assert [root.path for root in roots] == [tmp_path / "current", tmp_path / "other"]
    assert not (tmp_path / "other" / "cursors").exists()
    assert not (tmp_path / "gone").exists()
    assert list((tmp_path / "plain").iterdir()) == []
    assert (tmp_path / "plain").stat().st_mode & 0o777 == 0o755
    assert len(skipped) == 4, skipped
    assert any("gone no longer exists" in line for line in skipped)
    assert any("symbolic link" in line for line in skipped)
    assert f"{tmp_path / 'file'} is not a coordination directory" in skipped
    assert f"{tmp_path / 'plain'} is not a coordination directory (no locks/)" in skipped
    (tmp_path / "current").rename(tmp_path / "moved")
    (tmp_path / "current").symlink_to(tmp_path / "moved")
    roots, skipped = open_indexed_roots(settings, start=tmp_path)
    assert [root.path for root in roots] == [tmp_path / "other"]
    assert any("current: it is a symbolic link" in line for line in skipped)
