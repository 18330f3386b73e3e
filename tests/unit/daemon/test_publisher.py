"""Events an instance publishes: its life, peers, messages and memory changes."""

from __future__ import annotations

import pytest

from mnemosyne.api.events import EventHub
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import prepare_root
from mnemosyne.daemon.publisher import EventPublisher
from mnemosyne.store.sqlite.changes import ChangeFeed
from mnemosyne.store.sqlite.tasks import TaskStore

KEY = b"k"


@pytest.fixture
def publisher(tmp_path, store):
    root = prepare_root(tmp_path / "coord", start=tmp_path)
    coordinator = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    coordinator.register()
    hub = EventHub("a1b2c3d4", 100, 10)
    yield EventPublisher(hub, coordinator, ChangeFeed(store.database)), root
    coordinator.unregister()


def types(hub):
    return [event.type for event in hub.recent()]


def test_life_events(publisher):
    events, _ = publisher
    events.instance_started({"api_url": "http://127.0.0.1:1"})
    events.instance_stopping("stop requested")
    started, stopping = events.hub.recent()
    assert started.type == "instance_started" and started.data["api_url"].endswith(":1")
    assert stopping.type == "instance_stopping" and stopping.data["reason"] == "stop requested"


def test_peers_joining_and_leaving_and_heartbeats(publisher):
    events, root = publisher
    events.instance_started({})
    peer = CrossProcessCoordinator(root, "bbbbbbbb", KEY)
    peer.register(api_url="http://127.0.0.1:2")
    events.after_heartbeat()
    joined = [event for event in events.hub.recent() if event.type == "peer_joined"]
    assert [(e.data["peer_id"], e.data["api_url"]) for e in joined] == [
        ("bbbbbbbb", "http://127.0.0.1:2")]
    peer.unregister()
    events.after_heartbeat()
    assert types(events.hub)[-2:] == ["peer_left", "heartbeat"]
    assert events.hub.recent()[-1].data["peers"] == 0


def test_messages_become_events(publisher):
    events, root = publisher
    peer = CrossProcessCoordinator(root, "bbbbbbbb", KEY)
    message = peer.send_message("a1b2c3d4", "JoinRequest", {"n": 1})
    events.message_received(message)
    event = events.hub.recent()[-1]
    assert event.type == "message_received"
    assert event.data["from_agent"] == "bbbbbbbb" and event.data["payload"] == {"n": 1}
    assert event.data["message_id"] == message.id


def test_task_transitions_become_task_events(publisher, store):
    events, _ = publisher
    tasks = TaskStore(store.database)
    events.tasks, events.task_cursor = tasks, tasks.last_event()
    task = {"title": "a", "depends_on": [], "command": "true", "retries": 0}
    tasks.put_plan({"name": "p", "tasks": [{**task, "id": "a"},
                                           {**task, "id": "b", "depends_on": ["a"]}]},
                   "/tmp", "global")
    row = tasks.claim("w", "r1", "h")
    tasks.finish("p", "a", row.run_id, exit_status=1, duration_s=0.5, output_tail="")
    events.database_changed()
    assert types(events.hub)[-2:] == ["task_started", "task_failed"]
    assert events.hub.recent()[-1].data == {
        "plan": "p", "task": "a", "state": "failed", "worker": "w", "attempt": 1,
        "exit_status": 1, "duration_s": 0.5, "error": None}
    events.database_changed()
    assert types(events.hub)[-1] == "task_failed"  # each transition once


def test_memory_changes_become_events(publisher, store):
    events, _ = publisher
    memory = store.remember("one")
    store.forget(memory.id)
    events.database_changed()
    assert types(events.hub) == ["memory_stored", "memory_deleted"]
    assert events.hub.recent()[0].data["memory_id"] == memory.id


def test_more_than_a_batch_of_changes_in_one_call(publisher, store):
    events, _ = publisher

    def many(connection):
        for index in range(2500):
            connection.execute("INSERT INTO change_log(op, memory_id, namespace) "
                               "VALUES ('stored', ?, 'global')", (f"m{index}",))

    store.database.write(many)
    events.database_changed()
    assert events.hub.last_id - events.hub.first_id + 1 == 2500
