import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.coord.context import open_root, signing_key
from mnemosyne.coord.liveness import InstanceLock
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.daemon.inbox import run_inbox
from mnemosyne.errors import ConflictError


@pytest.fixture
def settings(tmp_path):
    return resolve_settings({"root": str(tmp_path / "coord")},
                            environ={"XDG_CONFIG_HOME": str(tmp_path / "cfg")})


def test_inbox_delivers_waiting_messages_and_leaves_no_entry(settings, tmp_path):
    root = open_root(settings, start=tmp_path)
    sender = MessageQueue(root, "aaaaaaaa", signing_key(settings), max_bytes=1024, ttl_s=60)
    sender.send("bbbbbbbb", "Note", 1)
    sender.send("bbbbbbbb", "Note", 2)
    got = []
    assert run_inbox(settings, "bbbbbbbb", follow=False, on_message=got.append) == 0
    assert [message.payload for message in got] == [1, 2]
    assert not (root.path / "process_registry.json").read_text().count("bbbbbbbb")


def test_inbox_refuses_an_id_held_by_a_live_instance(settings, tmp_path):
    root = open_root(settings, start=tmp_path)
    lock = InstanceLock(root.locks, "bbbbbbbb")
    lock.acquire()
    try:
        with pytest.raises(ConflictError):
            run_inbox(settings, "bbbbbbbb", follow=False, on_message=print)
    finally:
        lock.release()
