import os

import pytest

from mnemosyne.doctor import runner

HOLD_DOCTOR_LOCK = ("import fcntl, os, sys, time\n"
                    "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
                    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                    "print('held', flush=True)\n"
                    "time.sleep(600)\n")


@pytest.mark.parametrize("damage", ["mode", "link", "directory", "fifo", "empty"])
def test_an_unusable_secret_gives_a_random_key_and_says_why(world, tmp_path, damage):
    secret = world.settings.config_dir / "secret"
    world.settings.config_dir.mkdir(parents=True, exist_ok=True)
    if damage == "mode":
        secret.write_text("x" * 64)
        secret.chmod(0o644)
    elif damage == "link":
        (tmp_path / "target").write_text("x" * 64)
        secret.symlink_to(tmp_path / "target")
    elif damage == "directory":
        secret.mkdir()
    elif damage == "fifo":
        os.mkfifo(secret, 0o600)
    else:
        secret.write_text("")
        secret.chmod(0o600)
    key, problem = runner.signing_key_for_doctor(world.settings)
    assert problem and len(key) == 32 and key != b"x" * 32


