import select

import pytest

from mnemosyne.coord.inotify import DirectoryWatch
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.coord.root import prepare_root


@pytest.fixture
def root(tmp_path):
    return prepare_root(tmp_path / "coord", start=tmp_path)


def queue(root, instance_id):
    return MessageQueue(root, instance_id, b"k", max_bytes=1024, ttl_s=300.0)


def test_inotify_wakes_on_a_published_message(root):
    watch = DirectoryWatch.open(root.queue)
    assert watch is not None
    try:
        assert not watch.drain()
        queue(root, "aaaaaaaa").send("bbbbbbbb", "Note")
        readable, _, _ = select.select([watch], [], [], 5)
        assert readable
        assert watch.drain()
        assert not watch.drain()
    finally:
        watch.close()


def test_watching_a_missing_directory_falls_back_to_polling(tmp_path, caplog):
    assert DirectoryWatch.open(tmp_path / "missing") is None
    assert "polling instead" in caplog.text


def test_drain_names_reports_arrivals_and_odd_files_made_in_place(root):
    import os  # noqa: PLC0415

    watch = DirectoryWatch.open(root.queue)
    assert watch is not None
    try:
        sent = queue(root, "aaaaaaaa").send("bbbbbbbb", "Note")
        (root.queue / "a-directory").mkdir()
        os.mkfifo(root.queue / "a-fifo")
        (root.queue / "written-in-place").write_text("x")
        select.select([watch], [], [], 5)
        names = watch.drain_names()
        assert f"{sent.id}.json" in names
        assert {"a-directory", "a-fifo", "written-in-place"} <= set(names)
        assert names.count("written-in-place") == 1  # when closed, not when created
        assert watch.drain_names() == []
    finally:
        watch.close()
