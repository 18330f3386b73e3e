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


def test_a_replayed_direct_message_is_refused_within_its_ttl_and_after_a_restart(root, caplog):
    alice, bob = queue(root, "aaaaaaaa"), queue(root, "bbbbbbbb")
    sent = alice.send("bbbbbbbb", "Note", "once")
    path = root.queue / f"{sent.id}.json"
    body = path.read_bytes()
    assert [message.payload for message in bob.receive()] == ["once"]
    path.write_bytes(body)
    assert bob.receive() == []
    assert "replayed copy" in caplog.text
    assert not path.exists()
    path.write_bytes(body)
    assert queue(root, "bbbbbbbb").receive() == []  # a restart: the cursor from disk
    later = queue(root, "bbbbbbbb")
    later.clock_ns = lambda: time.time_ns() + 60 * 10**9  # past the seen names' window
    path.write_bytes(body)
    assert later.receive() == []


def test_messages_sent_before_a_new_id_first_receives_still_arrive(root):
    queue(root, "aaaaaaaa").send("bbbbbbbb", "Note", "early")
    late = queue(root, "bbbbbbbb")
    late.clock_ns = lambda: time.time_ns() + 100 * 10**9  # within the 300 s TTL
    assert [message.payload for message in late.receive()] == ["early"]


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_odd_files_named_like_messages_are_set_aside_without_blocking(root, tmp_path, kind):
    bob = queue(root, "bbbbbbbb")
    bob.receive()
    now = time.time_ns()
    names = [f"{now:019d}-aaaaaaaa-bbbbbbbb-00000001.json",
             f"{now:019d}-aaaaaaaa-all-00000002.json"]
    (tmp_path / "outside").write_text("{}")
    for name in names:
        path = root.queue / name
        if kind == "directory":
            path.mkdir()
        elif kind == "fifo":
            os.mkfifo(path)
        else:
            os.symlink(tmp_path / "outside", path)
    began = time.monotonic()
    assert bob.receive() == []
    assert time.monotonic() - began < 1.0
    assert queued_names(root.queue) == []
    assert sorted(os.listdir(root.rejected)) == sorted(names)
    assert (tmp_path / "outside").read_text() == "{}"
    alice = queue(root, "aaaaaaaa")
    alice.send("bbbbbbbb", "Note", "after")
    assert [message.payload for message in bob.receive()] == ["after"]


def test_an_expired_directory_is_set_aside_not_an_error(root):
    (root.queue / "1000000000000000000-aaaaaaaa-99999999-00000001.json").mkdir()
    assert queue(root, "bbbbbbbb").receive() == []
    assert queued_names(root.queue) == []


def test_only_the_names_given_are_looked_at(root):
    alice, bob = queue(root, "aaaaaaaa"), queue(root, "bbbbbbbb")
    bob.receive()
    first = alice.send("bbbbbbbb", "Note", 1)
    second = alice.send("bbbbbbbb", "Note", 2)
    (root.queue / "README").write_text("not a message")
    assert [message.payload for message in bob.receive([f"{second.id}.json"])] == [2]
    assert (root.queue / "README").exists()  # only a full scan sets it aside
    assert [message.payload for message in bob.receive()] == [1]
    assert first.id


def test_warnings_about_bad_broadcasts_are_rate_limited(root, caplog):
    bob = queue(root, "bbbbbbbb")
    bob.receive()
    other = queue(root, "cccccccc", key=b"another secret")
    for index in range(50):
        other.send(None, "Note", index)
    assert bob.receive() == []
    assert caplog.text.count("skipped broadcast") == 1


def test_deep_payloads_are_refused_at_send(root):
    with pytest.raises(UsageError, match="nested more than"):
        queue(root, "aaaaaaaa").send("bbbbbbbb", "Note", json.loads("[" * 40 + "]" * 40))


def test_a_deep_cursor_is_set_aside(root, caplog):
    (root.cursors / "bbbbbbbb.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    queue(root, "aaaaaaaa").send("bbbbbbbb", "Note", "still")
    assert [message.payload for message in queue(root, "bbbbbbbb").receive()] == ["still"]
    assert len(list(root.cursors.glob("bbbbbbbb.json.corrupt-*"))) == 1
    assert "cursor" in caplog.text


def test_two_threads_receiving_at_once_hand_over_each_broadcast_once(tmp_path):
    """The daemon's loop and an API thread may both receive for one instance."""
    import threading  # noqa: PLC0415

    from mnemosyne.coord.queue import MessageQueue  # noqa: PLC0415
    from mnemosyne.coord.root import prepare_root  # noqa: PLC0415

    root = prepare_root(tmp_path / "coord", start=tmp_path)
    receiver = MessageQueue(root, "bbbbbbbb", b"k", max_bytes=1024, ttl_s=60)
    receiver.receive()
    sender = MessageQueue(root, "aaaaaaaa", b"k", max_bytes=1024, ttl_s=60)
    got, stop = [], threading.Event()

    def receive_until_stopped():
        while not stop.is_set():
            got.extend(message.id for message in receiver.receive())

    threads = [threading.Thread(target=receive_until_stopped) for _ in range(2)]
    for thread in threads:
        thread.start()
    sent = [sender.send(None, "Note", index).id for index in range(200)]
    stop.set()
    for thread in threads:
        thread.join()
    got += [message.id for message in receiver.receive()]
    assert sorted(got) == sorted(sent)
