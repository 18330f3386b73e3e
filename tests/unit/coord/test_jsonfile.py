import json
import multiprocessing

import pytest

from mnemosyne.coord.jsonfile import LockedJsonFile


def make(tmp_path):
    return LockedJsonFile(tmp_path / "doc.json", tmp_path / "doc.lock",
                          empty=lambda: {"version": 1, "items": {}},
                          valid=lambda d: isinstance(d, dict) and isinstance(d.get("items"), dict))


def test_update_and_read(tmp_path):
    document = make(tmp_path)
    assert document.read() == {"version": 1, "items": {}}
    assert document.update(lambda d: d["items"].update(a=1) or "done") == "done"
    assert document.read()["items"] == {"a": 1}
    assert (tmp_path / "doc.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "doc.lock").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("content", [b"", b'{"version": 1, "ite', b"not json", b"[1, 2]",
                                     b'{"items": []}', b"\xff\xfe"])
def test_corrupt_file_is_moved_aside_and_rebuilt(tmp_path, content, caplog):
    (tmp_path / "doc.json").write_bytes(content)
    document = make(tmp_path)
    assert document.read() == {"version": 1, "items": {}}
    document.update(lambda d: d["items"].update(me=1))
    assert document.read()["items"] == {"me": 1}
    aside = list(tmp_path.glob("doc.json.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_bytes() == content
    assert "was corrupt" in caplog.text


def increment_many(path, times):
    document = make(path)
    for _ in range(times):
        document.update(lambda d: d["items"].update(n=d["items"].get("n", 0) + 1))


def test_32_processes_lose_no_update(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=increment_many, args=(tmp_path, 25)) for _ in range(32)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert make(tmp_path).read()["items"]["n"] == 32 * 25
    assert json.loads((tmp_path / "doc.json").read_text())["items"]["n"] == 800


def test_own_last_write_is_reused_and_anyone_elses_is_read(tmp_path):
    def make():
        return LockedJsonFile(tmp_path / "doc.json", tmp_path / "doc.lock",
                              lambda: {"n": 0}, lambda data: isinstance(data, dict))

    mine, theirs = make(), make()

    def bump(data):
        data["n"] += 1
        return data["n"]

    assert mine.update(bump) == 1
    assert mine.update(bump) == 2  # reused its own write (the file did not change)
    assert theirs.update(bump) == 3  # another writer: a new file
    assert mine.update(bump) == 4  # so this one reads it again
    (tmp_path / "doc.json").write_text('{"n": 10}')  # edited in place, same inode
    assert mine.update(bump) == 11


def test_a_failed_change_leaves_nothing_behind_in_the_kept_document(tmp_path):
    document = make(tmp_path)
    document.update(lambda d: d["items"].update(a=1))

    def half_done(data):
        data["items"]["b"] = 2
        raise RuntimeError("changed its mind")

    with pytest.raises(RuntimeError):
        document.update(half_done)
    # The next update starts from the file, not from the document the failed change touched.
    assert document.update(lambda d: dict(d["items"])) == {"a": 1}
    assert document.read()["items"] == {"a": 1}


def test_readers_holding_the_old_file_keep_reading_it_whole(tmp_path):
    document = make(tmp_path)
    document.update(lambda d: d["items"].update(a="old"))
    with (tmp_path / "doc.json").open() as reader:
        for value in range(3):  # enough writes to reuse any temporary a writer keeps
            document.update(lambda d, value=value: d["items"].update(a=value))
        assert json.loads(reader.read())["items"] == {"a": "old"}
    assert document.read()["items"] == {"a": 2}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["doc.json", "doc.lock"]
