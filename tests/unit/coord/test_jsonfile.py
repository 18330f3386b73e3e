import json
import multiprocessing
import random
import threading
import time

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


def test_a_shorter_document_is_padded_and_a_much_shorter_one_truncated(tmp_path):
    document = make(tmp_path)
    path = tmp_path / "doc.json"
    document.update(lambda d: d["items"].update(a="x" * 100))
    size = path.stat().st_size
    document.update(lambda d: d["items"].update(a="x"))
    assert path.stat().st_size == size  # padded: one write, nothing to truncate
    assert path.read_bytes().endswith(b" " * 99)
    assert document.read()["items"] == {"a": "x"}
    document.update(lambda d: d["items"].update(a="x" * 10_000))
    document.update(lambda d: d["items"].clear())
    assert path.read_bytes() == b'{"items":{},"version":1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json", "doc.lock"]


def test_a_reader_waits_for_the_writer_holding_the_lock(tmp_path):
    document = make(tmp_path)
    document.update(lambda d: d["items"].update(a=1))
    started, results = threading.Event(), []

    def change(data):
        started.set()
        time.sleep(0.3)  # a writer in the middle of its read-modify-write
        data["items"]["a"] = 2

    writer = threading.Thread(target=document.update, args=(change,))
    writer.start()
    started.wait(5)
    results.append(make(tmp_path).read()["items"])
    writer.join(5)
    assert results == [{"a": 2}]


def rewrite_many(path, seed, times):
    document, rng = make(path), random.Random(seed)
    for _ in range(times):
        text = rng.choice("abc") * rng.choice((10, 5000, 200_000, 400_000))  # many pages
        document.update(lambda d, text=text: d["items"].update(text=text, size=len(text)))


def read_many(path, times):
    document = make(path)
    for _ in range(times):
        items = document.read()["items"]
        assert items and len(items["text"]) == items["size"] \
            and len(set(items["text"])) <= 1, "torn or empty read"


def test_readers_never_see_a_torn_or_empty_document_while_writers_rewrite(tmp_path):
    make(tmp_path).update(lambda d: d["items"].update(text="", size=0))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=rewrite_many, args=(tmp_path, seed, 150))
               for seed in range(3)]
    workers += [context.Process(target=read_many, args=(tmp_path, 300)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0


def test_an_oversized_document_is_set_aside_without_being_read(tmp_path, caplog):
    document = LockedJsonFile(tmp_path / "doc.json", tmp_path / "doc.lock",
                              empty=lambda: {"items": {}},
                              valid=lambda d: isinstance(d, dict), max_bytes=1000)
    (tmp_path / "doc.json").write_text(json.dumps({"items": {}, "pad": "x" * 5000}))
    assert document.read() == {"items": {}}
    assert "over the cap of 1000" in document.problems[0]
    document.update(lambda d: d["items"].update(a=1))
    assert json.loads((tmp_path / "doc.json").read_text()) == {"items": {"a": 1}}
    assert len(list(tmp_path.glob("doc.json.corrupt-*"))) == 1
    document.update(lambda d: d["items"].update(b=2))  # set aside once, not every update
    assert len(list(tmp_path.glob("doc.json.corrupt-*"))) == 1


@pytest.mark.parametrize("kind", ["fifo", "directory", "deep"])
def test_a_document_that_is_no_plain_json_file_is_set_aside(tmp_path, kind):
    import os  # noqa: PLC0415

    path = tmp_path / "doc.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    document = make(tmp_path)
    assert document.read() == {"version": 1, "items": {}}
    document.update(lambda d: d["items"].update(me=1))
    assert document.read()["items"] == {"me": 1}
    assert len(list(tmp_path.glob("doc.json.corrupt-*"))) == 1


def test_an_atomic_document_is_replaced_whole_and_leaves_no_temporary_file(tmp_path):
    document = LockedJsonFile(tmp_path / "doc.json", tmp_path / "doc.lock",
                              empty=lambda: {"version": 1, "items": {}},
                              valid=lambda d: isinstance(d, dict), atomic=True)
    document.update(lambda d: d["items"].update(a="x" * 100))
    before = (tmp_path / "doc.json").stat()
    document.update(lambda d: d["items"].update(a="y"))
    after = (tmp_path / "doc.json").stat()
    assert after.st_ino != before.st_ino  # a new file renamed over the old one
    assert json.loads((tmp_path / "doc.json").read_bytes()) == {"version": 1,
                                                                 "items": {"a": "y"}}
    assert after.st_mode & 0o777 == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["doc.json", "doc.lock"]


def test_an_atomic_document_never_follows_a_planted_temporary_link(tmp_path):
    import os  # noqa: PLC0415

    target = tmp_path / "elsewhere"
    document = LockedJsonFile(tmp_path / "doc.json", tmp_path / "doc.lock",
                              empty=lambda: {"version": 1, "items": {}},
                              valid=lambda d: isinstance(d, dict), atomic=True)
    os.symlink(target, tmp_path / f".doc.json.{os.getpid()}.tmp")
    with pytest.raises(Exception, match="cannot write"):
        document.update(lambda d: d["items"].update(a=1))
    assert not target.exists()
