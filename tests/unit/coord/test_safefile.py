import logging
import os
import time

import pytest

from mnemosyne.coord.safefile import (
    RateLimitedWarnings,
    UntrustedFile,
    load_json,
    nesting_depth,
    open_lock_file,
    read_untrusted,
    set_aside,
)


def test_a_regular_file_of_ours_is_read(tmp_path):
    (tmp_path / "f").write_bytes(b'{"a": 1}')
    assert read_untrusted(tmp_path / "f", 100) == b'{"a": 1}'
    with pytest.raises(FileNotFoundError):
        read_untrusted(tmp_path / "missing", 100)


def test_a_symbolic_link_is_not_followed(tmp_path):
    (tmp_path / "target").write_text("secret")
    os.symlink(tmp_path / "target", tmp_path / "link")
    with pytest.raises(UntrustedFile, match="symbolic link") as caught:
        read_untrusted(tmp_path / "link", 100)
    assert caught.value.unsafe


def test_a_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    began = time.monotonic()
    with pytest.raises(UntrustedFile, match="not a regular file") as caught:
        read_untrusted(tmp_path / "fifo", 100)
    assert time.monotonic() - began < 1.0
    assert not caught.value.unsafe


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(UntrustedFile, match="not a regular file"):
        read_untrusted(tmp_path / "dir", 100)


def test_size_is_capped_before_reading(tmp_path):
    (tmp_path / "big").write_bytes(b" " * 101)
    with pytest.raises(UntrustedFile, match="over the cap of 100"):
        read_untrusted(tmp_path / "big", 100)


def test_nesting_depth_ignores_brackets_in_strings():
    assert nesting_depth(b'{"a": [1, {"b": "[[[[{{{{"}]}') == 3
    assert nesting_depth(b'"\\"[[[["') == 0
    assert nesting_depth(b"[" * 100_000 + b"]" * 100_000, limit=32) == 33


def test_deep_json_is_refused_quickly_and_shallow_json_parsed():
    began = time.perf_counter()
    with pytest.raises(UntrustedFile, match="nested more than 32"):
        load_json(b"[" * 100_000 + b"]" * 100_000)
    assert time.perf_counter() - began < 0.5
    assert load_json(b'{"a": ["[[["]}') == {"a": ["[[["]}
    with pytest.raises(UntrustedFile, match="not JSON"):
        load_json(b"\xff\xfe")


def test_set_aside_moves_the_link_not_its_target(tmp_path):
    (tmp_path / "target").write_text("kept")
    os.symlink(tmp_path / "target", tmp_path / "doc.json")
    moved = set_aside(tmp_path / "doc.json")
    assert moved is not None and moved.name.startswith("doc.json.corrupt-")
    assert moved.is_symlink() and (tmp_path / "target").read_text() == "kept"
    assert set_aside(tmp_path / "doc.json") is None


def test_a_lock_file_link_is_replaced_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside / "created", tmp_path / "x.lock")
    fd = open_lock_file(tmp_path / "x.lock")
    os.close(fd)
    assert not (tmp_path / "x.lock").is_symlink()
    assert list(outside.iterdir()) == []
    assert len(list(tmp_path.glob("x.lock.unsafe-*"))) == 1


def test_warnings_are_rate_limited_per_kind(caplog):
    now = [0.0]
    warnings = RateLimitedWarnings(logging.getLogger("test"), 60.0, lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert [warnings.warn("bad", "file %d", index) for index in range(1000)].count(True) == 1
        assert warnings.warn("other", "another kind")
        now[0] = 61.0
        assert warnings.warn("bad", "file %d", 1000)
    assert len(caplog.records) == 3
    assert "999 more like it" in caplog.records[-1].getMessage()


def test_remove_entry_removes_files_links_fifos_and_trees_without_following_links(tmp_path):
    from mnemosyne.coord.safefile import remove_entry  # noqa: PLC0415

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "file").write_text("x")
    os.mkfifo(inside / "fifo")
    (inside / "link").symlink_to(outside)
    (inside / "tree").mkdir()
    (inside / "tree" / "link").symlink_to(outside)
    for name in ("file", "fifo", "link", "tree", "missing"):
        assert remove_entry(inside / name)
    assert os.listdir(inside) == [] and (outside / "keep").exists()
    locked = inside / "locked"
    (locked / "sub").mkdir(parents=True)
    (locked / "sub" / "f").write_text("x")
    os.chmod(locked / "sub", 0o500)
    try:
        assert remove_entry(locked) is (os.geteuid() == 0)  # root ignores the mode
    finally:
        if (locked / "sub").exists():
            os.chmod(locked / "sub", 0o700)
