import os

import pytest

from mnemosyne import atomicfile
from mnemosyne.atomicfile import SwappedFile, atomic_output


def test_replaces_content_with_mode(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with atomic_output(target, mode=0o600) as stream:
        stream.write("new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f.txt"]


def test_failure_keeps_old_content_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as stream:
        stream.write("partial")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]


def test_swapped_file_is_created_then_replaced_by_a_new_file_each_time(tmp_path):
    target = tmp_path / "f.json"
    swapped = SwappedFile(target)
    first = swapped.replace(b"one")
    assert target.read_bytes() == b"one"
    assert (first.st_ino, first.st_size) == (target.stat().st_ino, 3)
    with target.open("rb") as reader:
        second = swapped.replace(b"second")
        assert reader.read() == b"one"  # a reader's file is never written again
    assert target.read_bytes() == b"second"
    assert second.st_ino == target.stat().st_ino != first.st_ino
    assert target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f.json"]


def test_swapped_file_removes_a_temporary_left_by_a_crash(tmp_path):
    target = tmp_path / "f.json"
    (tmp_path / ".f.json.swap").write_bytes(b"half")
    SwappedFile(target).replace(b"whole")
    assert target.read_bytes() == b"whole"
    assert os.listdir(tmp_path) == ["f.json"]


def test_swapped_file_renames_where_exchange_is_unsupported(tmp_path, monkeypatch):
    monkeypatch.setattr(atomicfile, "_renameat2", None)  # as without glibc 2.28 or on NFS
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    SwappedFile(target).replace(b"new")
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.json"]


def test_swapped_file_failure_keeps_the_old_content(tmp_path):
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    (tmp_path / ".f.json.swap").mkdir()  # the temporary cannot be created
    with pytest.raises(OSError):
        SwappedFile(target).replace(b"new")
    assert target.read_bytes() == b"old"
