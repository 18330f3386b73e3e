import os

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


def test_a_config_path_that_is_a_directory_or_fifo_is_a_problem(tmp_path, config_dir):
    (config_dir / "config.toml").mkdir()
    assert check(tmp_path)[0][0] == "problem"
    (config_dir / "config.toml").rmdir()
    os.mkfifo(config_dir / "config.toml")
    found = check(tmp_path)
    assert found[0][0] == "problem" and "not a regular file" in found[0][1]  # never blocks


