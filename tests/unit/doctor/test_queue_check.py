import os
import time

import pytest

from mnemosyne.coord.liveness import InstanceLock
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.doctor import queue_check
from tests.unit.doctor.conftest import KEY, snapshot

DAY_S = 86400
HOUR_S = 3600


def send(world, to, age_s=0.0, sender="aaaaaaaa"):
    clock_ns = lambda: time.time_ns() - int(age_s * 10**9)  # noqa: E731
    queue = MessageQueue(world.root, sender, KEY, max_bytes=4096, ttl_s=300, clock_ns=clock_ns)
    return queue.send(to, "Test").id + ".json"


def age(path, seconds):
    os.utime(path, (time.time() - seconds,) * 2, follow_symlinks=False)


def found(findings, status):
    return [finding for finding in findings if finding.status == status]


def test_an_empty_root_is_ok(world):
    findings = queue_check.run(world.context(fix=True))
    assert [(f.status, f.message) for f in findings] == [("ok", "0 message(s) in the queue")]


def test_missing_directories_are_fine(world):
    for directory in (world.root.queue, world.root.rejected, world.root.cursors):
        directory.rmdir()
    assert [f.status for f in queue_check.run(world.context(fix=True))] == ["ok"]


def test_expired_messages_are_deleted_by_the_stale_side_fix_only(world):
    world.live("11111111")
    expired = send(world, "11111111", age_s=world.settings.message_ttl_s + 10)
    current = send(world, "11111111")
    broadcast = send(world, None)
    waiting = send(world, "44444444")  # nobody runs as 44444444: it waits, within the TTL
    before = snapshot(world.root.path)
    findings = queue_check.run(world.context())
    assert snapshot(world.root.path) == before
    assert found(findings, "problem")[0].details["files"] == [expired]
    assert found(findings, "ok")[0].details["files"] == [waiting]
    findings = queue_check.run(world.context(cleanup_stale=True))
    assert found(findings, "fixed")[0].details["files"] == [expired]
    assert sorted(os.listdir(world.root.queue)) == sorted([current, broadcast, waiting])


def plant_repairs(world):
    queue = world.root.queue
    (queue / "junk.txt").write_text("not a message")
    (queue / "subdir").mkdir()
    os.mkfifo(queue / "fifo.json")
    (queue / ".tmp-aaaaaaaa-00000001").write_text("half")
    age(queue / ".tmp-aaaaaaaa-00000001", HOUR_S + 60)
    (queue / ".tmp-aaaaaaaa-00000002").write_text("in flight")
    (world.root.path / ".process_registry.json.tmp").write_text("{}")
    age(world.root.path / ".process_registry.json.tmp", HOUR_S + 60)
    (world.root.rejected / "ancient").write_text("x")
    age(world.root.rejected / "ancient", 8 * DAY_S)
    (world.root.rejected / "recent").write_text("x")


def test_strays_temporaries_and_old_rejected_files_wait_for_fix(world):
    plant_repairs(world)
    before = snapshot(world.root.path)
    for context in (world.context(), world.context(cleanup_stale=True)):
        findings = queue_check.run(context)
        assert snapshot(world.root.path) == before
        problems = {tuple(finding.details["files"]) for finding in found(findings, "problem")}
        assert problems == {("fifo.json", "junk.txt", "subdir"),
                            (".tmp-aaaaaaaa-00000001",), (".process_registry.json.tmp",),
                            ("ancient",)}


def test_fix_moves_strays_aside_and_deletes_old_leftovers(world):
    plant_repairs(world)
    findings = queue_check.run(world.context(fix=True))
    assert not found(findings, "problem")
    assert os.listdir(world.root.queue) == [".tmp-aaaaaaaa-00000002"]
    assert sorted(os.listdir(world.root.rejected)) == ["fifo.json", "junk.txt", "recent",
                                                       "subdir"]
    assert not (world.root.path / ".process_registry.json.tmp").exists()
    again = queue_check.run(world.context(fix=True))
    assert not found(again, "fixed") and not found(again, "problem")


def test_a_stray_whose_name_is_taken_in_rejected_is_set_aside_beside_it(world):
    (world.root.queue / "junk.txt").write_text("second")
    (world.root.rejected / "junk.txt").write_text("first")
    queue_check.run(world.context(fix=True))
    assert (world.root.rejected / "junk.txt").read_text() == "first"
    assert [path.read_text() for path in world.root.rejected.glob("junk.txt.rejected-*")] == \
        ["second"]


def test_old_rejected_links_and_directories_are_removed_never_followed(world, tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "file").write_text("keep")
    (world.root.rejected / "link").symlink_to(target)
    (world.root.rejected / "tree").mkdir()
    (world.root.rejected / "tree" / "inner-link").symlink_to(target)
    age(world.root.rejected / "tree", 8 * DAY_S)
    age(world.root.rejected / "link", 8 * DAY_S)
    queue_check.run(world.context(fix=True))
    assert os.listdir(world.root.rejected) == []
    assert (target / "file").read_text() == "keep"


def plant_instance_files(world):
    world.live("11111111")
    world.hung("22222222")
    world.unverified("33333333")
    world.dead("44444444")
    world.hold_lock("66666666")  # running, not registered yet
    own = InstanceLock(world.root.locks, "77777777")  # held in this very process
    own.acquire()
    for instance_id in ("11111111", "22222222", "33333333", "44444444", "55555555",
                        "66666666", "77777777", "88888888"):
        (world.root.cursors / f"{instance_id}.json").write_text("{}")
        if instance_id not in ("66666666", "77777777"):
            (world.root.locks / f"{instance_id}.lock").touch()
    (world.root.cursors / "notanid.json").write_text("{}")
    (world.root.cursors / "55555555.txt").write_text("")
    (world.root.locks / "notanid.lock").touch()
    return own


def test_cursors_and_locks_of_gone_ids_only(world):
    own = plant_instance_files(world)
    try:
        before = snapshot(world.root.path)
        findings = queue_check.run(world.context())
        assert snapshot(world.root.path) == before
        gone = ["44444444", "55555555", "88888888"]
        problems = [finding.details["files"] for finding in found(findings, "problem")]
        assert problems == [[f"{i}.json" for i in gone], [f"{i}.lock" for i in gone]]
        queue_check.run(world.context(cleanup_stale=True))
        assert sorted(os.listdir(world.root.cursors)) == [
            "11111111.json", "22222222.json", "33333333.json", "55555555.txt",
            "66666666.json", "77777777.json", "notanid.json"]
        assert "process_registry.json.lock" in os.listdir(world.root.locks)
        assert not {f"{i}.lock" for i in gone} & set(os.listdir(world.root.locks))
        for kept in ("11111111", "22222222", "33333333", "66666666", "77777777", "notanid"):
            assert (world.root.locks / f"{kept}.lock").exists()
    finally:
        own.release()


def test_a_gone_ids_lock_file_that_is_a_link_or_directory_is_reported_not_followed(
        world, tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    (world.root.locks / "44444444.lock").symlink_to(target)
    (world.root.locks / "55555555.lock").mkdir()
    findings = queue_check.run(world.context(fix=True))
    assert target.read_text() == "keep"
    assert any("could not be handled" in finding.message for finding in found(findings,
                                                                               "problem"))


@pytest.mark.parametrize("name", ["coordination_queue", "rejected", "cursors"])
def test_a_directory_replaced_by_a_link_is_never_followed(world, tmp_path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    old_ns = time.time_ns() - 10**12
    files = ["junk.txt", f"{old_ns:019d}-aaaaaaaa-all-00000001.json", "44444444.json"]
    for file in files:
        (outside / file).write_text("keep")
        age(outside / file, 30 * DAY_S)
    directory = world.root.path / name
    directory.rmdir()
    directory.symlink_to(outside)
    queue_check.run(world.context(fix=True))
    assert sorted(os.listdir(outside)) == sorted(files)


@pytest.mark.parametrize("name", ["coordination_queue", "rejected", "cursors", "locks"])
def test_a_file_where_a_directory_belongs_is_no_crash(world, name):
    directory = world.root.path / name
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()
    directory.write_text("")
    queue_check.run(world.context(fix=True))


def test_strays_are_never_moved_through_a_rejected_link(world, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    world.root.rejected.rmdir()
    world.root.rejected.symlink_to(outside)
    (world.root.queue / "junk.txt").write_text("dropped")
    findings = queue_check.run(world.context(fix=True))
    assert os.listdir(outside) == []
    assert (world.root.queue / "junk.txt").read_text() == "dropped"
    assert any("could not be handled" in finding.message for finding in found(findings,
                                                                               "problem"))


def test_an_expired_message_that_is_a_link_or_directory_goes_without_following(world,
                                                                              tmp_path):
    target = tmp_path / "precious"
    target.mkdir()
    (target / "file").write_text("keep")
    old_ns = time.time_ns() - 10**13
    link = world.root.queue / f"{old_ns:019d}-aaaaaaaa-all-00000001.json"
    link.symlink_to(target)
    directory = world.root.queue / f"{old_ns:019d}-aaaaaaaa-all-00000002.json"
    directory.mkdir()
    (directory / "inner").symlink_to(target)
    findings = queue_check.run(world.context(cleanup_stale=True))
    assert len(found(findings, "fixed")[0].details["files"]) == 2
    assert os.listdir(world.root.queue) == []
    assert (target / "file").read_text() == "keep"
