import multiprocessing
import os

import pytest

from mnemosyne.coord import signing
from mnemosyne.errors import UnsafeError

KEY = b"k" * 32


def test_signature_covers_every_field():
    entry = signing.signed({"instance_id": "a1b2c3d4", "pid": 10, "last_heartbeat": 1.0,
                            "worktree_path": None}, KEY)
    assert signing.verify(entry, KEY)
    for field, value in (("pid", 11), ("last_heartbeat", 2.0), ("worktree_path", "/x"),
                         ("extra", 1)):
        assert not signing.verify({**entry, field: value}, KEY), field
    assert not signing.verify(entry, b"other key")
    assert not signing.verify({k: v for k, v in entry.items() if k != "signature"}, KEY)
    assert not signing.verify({**entry, "signature": 5}, KEY)


def test_canonical_form_ignores_key_order():
    first = signing.canonical_bytes({"b": 1, "a": "é"})
    assert first == signing.canonical_bytes({"a": "é", "b": 1})


def test_shared_secret_wins(tmp_path):
    assert signing.load_key("s3cret", tmp_path) == b"s3cret"
    assert not (tmp_path / "secret").exists()


def test_secret_file_is_created_once_private_and_reused(tmp_path):
    first = signing.load_key(None, tmp_path / "cfg")
    assert len(first) == 64
    assert (tmp_path / "cfg" / "secret").stat().st_mode & 0o777 == 0o600
    assert signing.load_key(None, tmp_path / "cfg") == first


def load_in_process(directory, queue):
    queue.put(signing.load_key(None, directory))


def test_processes_racing_to_create_the_secret_agree(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=load_in_process, args=(tmp_path / "c", queue))
               for _ in range(6)]
    for worker in workers:
        worker.start()
    keys = {queue.get(timeout=30) for _ in workers}
    for worker in workers:
        worker.join(30)
    assert len(keys) == 1


def test_unsafe_secret_files_are_refused(tmp_path):
    signing.load_key(None, tmp_path)
    (tmp_path / "secret").chmod(0o644)
    with pytest.raises(UnsafeError, match="others can read it"):
        signing.load_key(None, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "target").write_text("x" * 64)
    (other / "secret").symlink_to(other / "target")
    with pytest.raises(UnsafeError, match="symbolic link"):
        signing.load_key(None, other)
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir()
        (theirs / "secret").write_text("y" * 64)
        (theirs / "secret").chmod(0o600)
        os.chown(theirs / "secret", 65534, 65534)
        with pytest.raises(UnsafeError, match="belongs to user id 65534"):
            signing.load_key(None, theirs)


def test_other_secret_files_share_the_same_safe_creation(tmp_path):
    path = tmp_path / "cfg" / "api-token"
    value = signing.load_secret_file(path)
    assert len(value) == 64 and signing.load_secret_file(path) == value
    assert os.stat(path).st_mode & 0o777 == 0o600
    link = tmp_path / "cfg" / "linked"
    link.symlink_to(path)
    with pytest.raises(UnsafeError):
        signing.load_secret_file(link)
