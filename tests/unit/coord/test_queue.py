import json
import os
import time

import pytest

from mnemosyne.coord import signing
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.coord.root import prepare_root
from mnemosyne.errors import UsageError

KEY = b"k" * 32


@pytest.fixture
def root(tmp_path):
    return prepare_root(tmp_path / "coord", start=tmp_path)


def queued_names(directory):
    return sorted(name for name in os.listdir(directory) if not name.startswith("."))


def queue(root, instance_id, key=KEY, **kwargs):
    options = {"max_bytes": 1024, "ttl_s": 300.0, **kwargs}
    return MessageQueue(root, instance_id, key, **options)


def test_direct_messages_arrive_once_in_send_order_and_are_removed(root):
    alice, bob = queue(root, "aaaaaaaa"), queue(root, "bbbbbbbb")
    bob.receive()
    for index in range(5):
        alice.send("bbbbbbbb", "JoinRequest", {"n": index})
    assert alice.receive() == []
    got = bob.receive()
    assert [message.payload["n"] for message in got] == [0, 1, 2, 3, 4]
    assert {message.from_agent for message in got} == {"aaaaaaaa"}
    assert bob.receive() == []
    assert queued_names(root.queue) == []


def test_broadcast_reaches_each_other_instance_once_never_the_sender(root):
    receivers = [queue(root, f"0000000{index}") for index in range(3)]
    sender = queue(root, "5e5e5e5e")
    for receiver in (*receivers, sender):
        receiver.receive()  # first contact: the cursor starts now
    sent = sender.send(None, "ConflictNotification", {"branch": "main"})
    assert sent.to_agent is None
    assert sender.receive() == []
    for receiver in receivers:
        assert [message.id for message in receiver.receive()] == [sent.id]
        assert receiver.receive() == []
    # A restart of the same id (new object, cursor from disk) does not repeat it.
    assert queue(root, "00000000").receive() == []


def test_size_limit_is_enforced_at_send_and_at_receive(root, caplog):
    alice, bob = queue(root, "aaaaaaaa"), queue(root, "bbbbbbbb")
    bob.receive()
    with pytest.raises(UsageError, match="over the limit of 1024 bytes"):
        alice.send("bbbbbbbb", "Note", "x" * 2000)
    big = queue(root, "aaaaaaaa", max_bytes=4096).send("bbbbbbbb", "Note", "x" * 2000)
    assert bob.receive() == []
    assert (root.rejected / f"{big.id}.json").exists()
    assert "over 1024 bytes" in caplog.text


@pytest.mark.parametrize(("content", "reason"), [
    (b"{not json", "not JSON"),
    (b'{"id": 1}', "not those of a message"),
    (b"\xff\xfe", "not JSON"),
])
def test_malformed_files_are_set_aside_once(root, content, reason, caplog):
    bob = queue(root, "bbbbbbbb")
    name = "1800000000000000000-aaaaaaaa-bbbbbbbb-00000001.json"
    bob.clock_ns = lambda: 1_800_000_000_000_000_001
    (root.queue / name).write_bytes(content)
    assert bob.receive() == []
    assert (root.rejected / name).read_bytes() == content
    assert reason in caplog.text


def test_foreign_names_are_set_aside(root):
    (root.queue / "README").write_text("hello")
    assert queue(root, "bbbbbbbb").receive() == []
    assert (root.rejected / "README").exists()


def test_forged_direct_message_is_rejected_forged_broadcast_skipped(root, caplog):
    honest, bob = queue(root, "aaaaaaaa"), queue(root, "bbbbbbbb")
    other_secret = queue(root, "cccccccc", key=b"another secret")
    bob.receive()
    direct = other_secret.send("bbbbbbbb", "JoinRequest")
    broadcast = other_secret.send(None, "Heartbeat")
    assert bob.receive() == []
    assert (root.rejected / f"{direct.id}.json").exists()
    assert (root.queue / f"{broadcast.id}.json").exists()  # still there for its own group
    assert "signature does not verify" in caplog.text
    caplog.clear()
    assert bob.receive() == []
    assert caplog.text == ""  # not re-read
    honest.send("bbbbbbbb", "JoinApproval")
    assert [message.message_type for message in bob.receive()] == ["JoinApproval"]


def test_tampered_message_is_rejected(root):
    alice, bob = queue(root, "aaaaaaaa"), queue(root, "bbbbbbbb")
    bob.receive()
    sent = alice.send("bbbbbbbb", "JoinRequest", {"branch": "main"})
    path = root.queue / f"{sent.id}.json"
    data = json.loads(path.read_text())
    data["payload"] = {"branch": "release"}
    path.write_text(json.dumps(data))
    assert bob.receive() == []
    assert (root.rejected / path.name).exists()


def test_messages_older_than_the_ttl_are_deleted(root):
    alice = queue(root, "aaaaaaaa", ttl_s=10)
    alice.send("99999999", "JoinRequest")  # an instance that never existed
    later = queue(root, "bbbbbbbb", ttl_s=10)
    later.clock_ns = lambda: time.time_ns() + 11 * 10**9
    later.receive()
    assert queued_names(root.queue) == []


@pytest.mark.parametrize(("to", "kind", "payload", "message"), [
    ("BAD", "Note", None, "invalid instance id"),
    ("aaaaaaaa", "Note", None, "cannot send a message to itself"),
    ("bbbbbbbb", "9bad", None, "invalid message type"),
    ("bbbbbbbb", "Note", {1, 2}, "payload is not JSON"),
    ("bbbbbbbb", "Note", float("nan"), "payload is not JSON"),
])
def test_bad_sends_are_refused_and_write_nothing(root, to, kind, payload, message):
    with pytest.raises(UsageError, match=message):
        queue(root, "aaaaaaaa").send(to, kind, payload)
    assert os.listdir(root.queue) == []


def test_signature_is_checked_with_the_key(root):
    sent = queue(root, "aaaaaaaa").send("bbbbbbbb", "Note", [1, "two"])
    data = json.loads((root.queue / f"{sent.id}.json").read_text())
    assert signing.verify(data, KEY)
