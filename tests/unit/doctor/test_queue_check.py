import os
import time

import pytest

from mnemosyne.coord.queue import MessageQueue
from mnemosyne.doctor import queue_check
from tests.unit.doctor.conftest import KEY

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
