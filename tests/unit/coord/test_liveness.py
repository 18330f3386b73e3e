import fcntl
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from mnemosyne.coord import liveness
from mnemosyne.coord.liveness import InstanceLock, lock_is_held, remove_free_lock_file
from mnemosyne.errors import ConflictError

HOLDER = """
import sys, time
from pathlib import Path
from mnemosyne.coord.liveness import InstanceLock
lock = InstanceLock(Path(sys.argv[1]), sys.argv[2])
lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_held_lock_is_seen_and_a_second_holder_refused(tmp_path):
    first = InstanceLock(tmp_path, "a1b2c3d4")
    first.acquire()
    assert lock_is_held(tmp_path, "a1b2c3d4")
    with pytest.raises(ConflictError, match="already running") as caught:
        InstanceLock(tmp_path, "a1b2c3d4").acquire()
    assert caught.value.exit_code == 7
    first.release()
    assert not lock_is_held(tmp_path, "a1b2c3d4")
    assert not lock_is_held(tmp_path, "ffffffff")
    assert (tmp_path / "a1b2c3d4.lock").stat().st_mode & 0o777 == 0o600


def test_sigkill_releases_the_lock_at_once(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path), "a1b2c3d4"],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        assert lock_is_held(tmp_path, "a1b2c3d4")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 5
        while lock_is_held(tmp_path, "a1b2c3d4") and time.monotonic() < deadline:
            time.sleep(0.001)
        assert not lock_is_held(tmp_path, "a1b2c3d4")
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


def test_a_probe_in_flight_does_not_make_acquire_fail(tmp_path):
    (tmp_path / "a1b2c3d4.lock").touch()
    fd = os.open(tmp_path / "a1b2c3d4.lock", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    timer = threading.Timer(0.05, lambda: os.close(fd))
    timer.start()
    lock = InstanceLock(tmp_path, "a1b2c3d4")
    lock.acquire()
    timer.join()
    lock.release()


def test_a_linked_lock_is_set_aside_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    locks = tmp_path / "locks"
    locks.mkdir()
    os.symlink(outside / "a1b2c3d4.lock", locks / "a1b2c3d4.lock")
    assert not lock_is_held(locks, "a1b2c3d4")
    lock = InstanceLock(locks, "a1b2c3d4")
    lock.acquire()
    try:
        assert lock_is_held(locks, "a1b2c3d4")
        assert list(outside.iterdir()) == []
    finally:
        lock.release()


def test_only_a_free_lock_file_is_removed(tmp_path):
    held = InstanceLock(tmp_path, "a1b2c3d4")
    held.acquire()
    assert not remove_free_lock_file(tmp_path, "a1b2c3d4")
    assert lock_is_held(tmp_path, "a1b2c3d4")
    held.release()
    assert remove_free_lock_file(tmp_path, "a1b2c3d4")
    assert not (tmp_path / "a1b2c3d4.lock").exists()
    assert not remove_free_lock_file(tmp_path, "a1b2c3d4")  # nothing left to remove
    os.symlink(tmp_path / "elsewhere", tmp_path / "b1b2c3d4.lock")
    assert not remove_free_lock_file(tmp_path, "b1b2c3d4")
    assert os.path.islink(tmp_path / "b1b2c3d4.lock")


def test_an_instance_that_opened_a_lock_file_removed_under_it_takes_the_new_one(tmp_path,
                                                                                 monkeypatch):
    """The race doctor could cause: open, (file removed), flock: acquire must not trust it."""
    (tmp_path / "a1b2c3d4.lock").touch(mode=0o600)
    real_open = liveness.open_lock_file
    opened = []

    def open_then_lose_the_name(path):
        fd = real_open(path)
        if not opened:
            opened.append(fd)
            assert remove_free_lock_file(tmp_path, "a1b2c3d4")
        return fd

    monkeypatch.setattr(liveness, "open_lock_file", open_then_lose_the_name)
    lock = InstanceLock(tmp_path, "a1b2c3d4")
    lock.acquire()
    named = os.stat(tmp_path / "a1b2c3d4.lock")
    assert (named.st_dev, named.st_ino) == (os.fstat(lock.fd).st_dev, os.fstat(lock.fd).st_ino)
    assert lock_is_held(tmp_path, "a1b2c3d4")
    lock.release()


def test_a_held_lock_moves_to_another_id_without_a_gap(tmp_path):
    lock = InstanceLock(tmp_path, "a1b2c3d4")
    lock.acquire()
    inode = os.fstat(lock.fd).st_ino
    lock.move_to("0f0f0f0f")
    assert lock.instance_id == "0f0f0f0f" and lock.path == tmp_path / "0f0f0f0f.lock"
    assert lock_is_held(tmp_path, "0f0f0f0f") and not lock_is_held(tmp_path, "a1b2c3d4")
    assert not (tmp_path / "a1b2c3d4.lock").exists()
    assert os.stat(lock.path).st_ino == inode  # the same file: nothing created
    with pytest.raises(ConflictError):  # a second process cannot take the moved id
        InstanceLock(tmp_path, "0f0f0f0f").acquire()
    lock.release()


def test_a_lock_never_moves_onto_an_existing_file_or_when_not_held(tmp_path):
    other = tmp_path / "0f0f0f0f.lock"
    other.write_bytes(b"")
    lock = InstanceLock(tmp_path, "a1b2c3d4")
    with pytest.raises(ConflictError, match="not held"):
        lock.move_to("0e0e0e0e")
    lock.acquire()
    with pytest.raises(ConflictError, match="taken"):
        lock.move_to("0f0f0f0f")
    assert lock_is_held(tmp_path, "a1b2c3d4") and other.exists()
    lock.release()
