import os
import pwd

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.doctor import config_check
from mnemosyne.doctor.context import Context, Run


@pytest.fixture
def config_dir(tmp_path):
    directory = tmp_path / "config" / "mnemosyne"
    directory.mkdir(parents=True, mode=0o700)
    return directory


def check(tmp_path, fix=False, cleanup_stale=False, **environ):
    settings = resolve_settings(environ={"XDG_CONFIG_HOME": str(tmp_path / "config"),
                                         **environ}, lenient=True)
    return [(f.status, f.message) for f in
            config_check.run(Context(Run(settings, b"k" * 32, fix=fix,
                                         cleanup_stale=cleanup_stale)))]


def test_no_file_and_no_secret_yet_is_ok(tmp_path):
    found = check(tmp_path, fix=True)
    assert [status for status, _ in found] == ["ok", "ok"]
    assert "defaults" in found[0][1] and "no secret file yet" in found[1][1]
    assert not (tmp_path / "config" / "mnemosyne" / "secret").exists()  # never created


def test_a_valid_file_and_a_set_secret(tmp_path, config_dir):
    (config_dir / "config.toml").write_text("heartbeat_interval_s = 1.5\n")
    found = check(tmp_path, MNEMOSYNE_SHARED_SECRET="s3cret-value")
    assert found == [("ok", f"configuration resolves ({config_dir / 'config.toml'})"),
                     ("ok", "shared secret set (shared_secret)")]
    assert "s3cret-value" not in repr(found)


@pytest.mark.parametrize(("text", "fragment"), [
    ("heartbeat_interval_s = 'often'\n", "heartbeat_interval_s"),
    ("not toml at all [\n", "not valid TOML"),
    ("no_such_setting = 1\n", "unknown key 'no_such_setting'"),
])
def test_an_invalid_configuration_is_a_problem(tmp_path, config_dir, text, fragment):
    (config_dir / "config.toml").write_text(text)
    found = check(tmp_path, fix=True)
    assert found[0][0] == "problem" and fragment in found[0][1]
    assert (config_dir / "config.toml").read_text() == text  # doctor never rewrites it


def test_a_config_path_that_is_a_directory_or_fifo_is_a_problem(tmp_path, config_dir):
    (config_dir / "config.toml").mkdir()
    assert check(tmp_path)[0][0] == "problem"
    (config_dir / "config.toml").rmdir()
    os.mkfifo(config_dir / "config.toml")
    found = check(tmp_path)
    assert found[0][0] == "problem" and "not a regular file" in found[0][1]  # never blocks


def test_a_secret_others_can_read_is_repaired_only_by_fix(tmp_path, config_dir):
    secret = config_dir / "secret"
    secret.write_text("x" * 64)
    secret.chmod(0o644)
    for options in ({}, {"cleanup_stale": True}):
        found = check(tmp_path, **options)
        assert found[1][0] == "problem" and "(0644)" in found[1][1]
        assert secret.stat().st_mode & 0o777 == 0o644
    found = check(tmp_path, fix=True)
    assert found[1][0] == "fixed"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert check(tmp_path, fix=True)[1] == ("ok", f"secret file {secret} is private (0600)")


def test_an_empty_secret_is_a_problem(tmp_path, config_dir):
    (config_dir / "secret").write_text("")
    (config_dir / "secret").chmod(0o600)
    assert "is empty" in check(tmp_path, fix=True)[1][1]


def test_a_secret_that_is_a_link_directory_or_fifo_is_a_problem_and_untouched(
        tmp_path, config_dir):
    target = tmp_path / "elsewhere"
    target.write_text("x" * 64)
    target.chmod(0o644)
    secret = config_dir / "secret"
    secret.symlink_to(target)
    found = check(tmp_path, fix=True)
    assert found[1][0] == "problem" and "not a regular file" in found[1][1]
    assert target.stat().st_mode & 0o777 == 0o644 and secret.is_symlink()
    secret.unlink()
    secret.mkdir()
    assert check(tmp_path, fix=True)[1][0] == "problem"
    secret.rmdir()
    os.mkfifo(secret)
    assert check(tmp_path, fix=True)[1][0] == "problem"


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_another_users_secret_is_a_problem_and_untouched(tmp_path, config_dir):
    secret = config_dir / "secret"
    secret.write_text("x" * 64)
    secret.chmod(0o644)
    os.chown(secret, pwd.getpwnam("nobody").pw_uid, -1)
    found = check(tmp_path, fix=True)
    assert found[1][0] == "problem" and "belongs to user id" in found[1][1]
    assert secret.stat().st_mode & 0o777 == 0o644
