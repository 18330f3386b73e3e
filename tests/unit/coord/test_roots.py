"""The per-user index of coordination roots, on real files, hostile entries included."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from mnemosyne.coord.roots import (
    ENTRY_MAX_BYTES,
    entry_name,
    forget_root,
    index_directory,
    indexed_roots,
    record_root,
)


@pytest.fixture
def state(tmp_path):
    return tmp_path / "state" / "mnemosyne"


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_index_directory_is_under_the_state_directory(state):
    assert index_directory(state) == state / "roots"


def test_missing_index_lists_nothing(state):
    assert indexed_roots(state) == []


def test_record_is_private_idempotent_and_sorted(state, tmp_path):
    one, two = tmp_path / "b" / ".mnemosyne", tmp_path / "a"
    for root in (one, two, one, two):
        record_root(state, root)
    assert indexed_roots(state) == [two, one]
    index = index_directory(state)
    assert mode(index) == 0o700
    entries = sorted(index.iterdir())
    assert len(entries) == 2
    assert {mode(entry) for entry in entries} == {0o600}
    assert (index / entry_name(one)).read_bytes() == os.fsencode(one) + b"\n"


def test_relative_roots_are_recorded_as_absolute_paths(state, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record_root(state, tmp_path / "x" / ".." / "r")
    record_root(state, type(tmp_path)("r"))
    assert indexed_roots(state) == [tmp_path / "r"]


def test_an_existing_entry_is_not_rewritten(state, tmp_path):
    record_root(state, tmp_path / "r")
    entry = index_directory(state) / entry_name(tmp_path / "r")
    before = os.stat(entry)
    record_root(state, tmp_path / "r")
    after = os.stat(entry)
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_a_vanished_root_stays_listed_and_can_be_forgotten(state, tmp_path):
    gone = tmp_path / "gone"
    record_root(state, gone)
    record_root(state, tmp_path / "kept")
    assert indexed_roots(state) == [gone, tmp_path / "kept"]
    assert forget_root(state, gone) is True
    assert forget_root(state, gone) is False
    assert indexed_roots(state) == [tmp_path / "kept"]
    assert forget_root(tmp_path / "no-state", gone) is False


def test_a_non_utf8_path_round_trips(state, tmp_path):
    root = tmp_path / os.fsdecode(b"caf\xe9")
    record_root(state, root)
    assert indexed_roots(state) == [root]


def plant(state, name, content=b""):
    index = index_directory(state)
    index.mkdir(parents=True, exist_ok=True)
    (index / name).write_bytes(content)
    return index / name


def test_hostile_entries_are_skipped_with_one_warning(state, tmp_path, caplog):
    good = tmp_path / "good"
    record_root(state, good)
    index = index_directory(state)
    outside = tmp_path / "outside"
    outside.write_bytes(os.fsencode(tmp_path / "evil") + b"\n")
    link_root = tmp_path / "via-link"
    (index / entry_name(link_root)).symlink_to(outside)
    fifo_root = tmp_path / "fifo"
    os.mkfifo(index / entry_name(fifo_root))
    huge_root = tmp_path / "huge"
    plant(state, entry_name(huge_root),
          os.fsencode(huge_root) + b"/" * ENTRY_MAX_BYTES + b"\n")
    plant(state, entry_name(type(tmp_path)("relative")), b"relative\n")
    plant(state, entry_name(tmp_path / "dots"), os.fsencode(tmp_path) + b"/x/../dots\n")
    plant(state, entry_name(tmp_path / "nul"), os.fsencode(tmp_path) + b"/n\0ul\n")
    plant(state, entry_name(tmp_path / "two"), b"/a\n/b\n")
    plant(state, entry_name(tmp_path / "empty"))
    # Another root's entry copied under this name: the hash does not match its content.
    plant(state, entry_name(tmp_path / "copy"), os.fsencode(tmp_path / "elsewhere") + b"\n")
    plant(state, "garbage.txt", b"/etc\n")
    (index / "0123456789abcdef0123456789abcdef.root").mkdir()
    plant(state, f".{entry_name(good)}.x1y2.tmp", b"/half")  # a record in progress
    with caplog.at_level(logging.WARNING, logger="mnemosyne.coord.roots"):
        assert indexed_roots(state) == [good]
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1
    assert "skipped 11 entries of the root index" in warnings[0]
    assert outside.read_bytes() == os.fsencode(tmp_path / "evil") + b"\n"


def test_another_users_entry_is_skipped(state, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a file of another user")
    entry = plant(state, entry_name(tmp_path / "r"), os.fsencode(tmp_path / "r") + b"\n")
    os.chown(entry, 65534, 65534)
    assert indexed_roots(state) == []


def test_recording_replaces_a_hostile_entry_without_following_it(state, tmp_path):
    root = tmp_path / "r"
    index = index_directory(state)
    index.mkdir(parents=True)
    target = tmp_path / "target"
    target.write_bytes(b"keep me")
    (index / entry_name(root)).symlink_to(target)
    record_root(state, root)
    assert target.read_bytes() == b"keep me"
    assert not (index / entry_name(root)).is_symlink()
    assert indexed_roots(state) == [root]
    fifo = tmp_path / "fifo-root"
    os.mkfifo(index / entry_name(fifo))
    record_root(state, fifo)  # must not block on the FIFO
    assert indexed_roots(state) == [fifo, root]


def test_recording_never_raises(state, tmp_path, caplog):
    state.parent.mkdir(parents=True)
    state.write_text("a file where the state directory should be")
    with caplog.at_level(logging.WARNING, logger="mnemosyne.coord.roots"):
        record_root(state, tmp_path / "r")
    assert [record.levelname for record in caplog.records] == ["WARNING"]
    assert "could not record the coordination root" in caplog.records[0].getMessage()
    assert indexed_roots(state) == []


def test_an_index_entry_that_is_a_directory_is_reported_not_raised(state, tmp_path, caplog):
    root = tmp_path / "r"
    (index_directory(state) / entry_name(root)).mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="mnemosyne.coord.roots"):
        record_root(state, root)
    assert len(caplog.records) == 1


def test_an_index_that_is_a_symbolic_link_is_not_used(state, tmp_path, caplog):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    state.mkdir(parents=True)
    index_directory(state).symlink_to(elsewhere)
    with caplog.at_level(logging.WARNING, logger="mnemosyne.coord.roots"):
        record_root(state, tmp_path / "r")
        assert indexed_roots(state) == []
    assert list(elsewhere.iterdir()) == []
    assert len(caplog.records) == 2


def test_a_loose_index_directory_is_made_private(state, tmp_path):
    index_directory(state).mkdir(parents=True, mode=0o755)
    os.chmod(index_directory(state), 0o755)
    record_root(state, tmp_path / "r")
    assert mode(index_directory(state)) == 0o700
