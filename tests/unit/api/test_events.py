"""The event hub: numbering, frames, resume, lag, cap and close."""

from __future__ import annotations

import json
import threading

import pytest

from mnemosyne.api.events import EventHub, HubClosedError, HubFullError


def make_hub(capacity=5, max_subscribers=2, start_s=1000.0):
    return EventHub("a1b2c3d4", capacity, max_subscribers, clock=lambda: start_s)


def test_ids_start_at_the_start_time_in_ms_and_grow_by_one():
    hub = make_hub()
    first = hub.publish("heartbeat", {"uptime_s": 1})
    second = hub.publish("heartbeat")
    assert first.id == 1_000_000 and second.id == first.id + 1 and hub.last_id == second.id


def test_frame_is_one_sse_event_with_the_envelope():
    event = make_hub().publish("memory_stored", {"memory_id": "x", "preview": "é"})
    text = event.frame().decode()
    assert text.endswith("\n\n")
    lines = text.strip().split("\n")
    assert lines[0] == f"id: {event.id}" and lines[1] == "event: memory_stored"
    envelope = json.loads(lines[2].removeprefix("data: "))
    assert envelope == {"id": event.id, "type": "memory_stored", "instance_id": "a1b2c3d4",
                        "timestamp": event.timestamp,
                        "data": {"memory_id": "x", "preview": "é"}}


def test_payload_may_not_reuse_envelope_names():
    with pytest.raises(ValueError, match="clash"):
        make_hub().publish("x", {"type": "nope"})


def test_backlog_resumes_after_an_id():
    hub = make_hub()
    events = [hub.publish("e") for _ in range(4)]
    backlog = hub.backlog(events[1].id)
    assert [event.id for event, _ in backlog.events] == [events[2].id, events[3].id]
    assert backlog.missed == 0 and backlog.reason is None
    assert hub.backlog(events[-1].id).events == []
    assert hub.backlog(None).events == []


def test_falling_behind_the_ring_reports_how_many_were_missed():
    hub = make_hub(capacity=3)
    events = [hub.publish("e") for _ in range(10)]
    backlog = hub.backlog(events[2].id)
    assert backlog.reason == "overflow"
    assert backlog.missed == 4  # events[3..6] are gone; the ring holds events[7..9]
    assert [event.id for event, _ in backlog.events] == [e.id for e in events[7:]]


def test_an_id_from_an_earlier_run_or_the_future_is_a_gap_of_unknown_size():
    hub = make_hub()
    hub.publish("e")
    assert hub.backlog(5).reason == "restart" and hub.backlog(5).missed is None
    assert hub.backlog(hub.last_id + 100).reason == "unknown id"


def test_subscriber_cap_and_count():
    hub = make_hub(max_subscribers=2)
    hub.subscribe()
    hub.subscribe()
    with pytest.raises(HubFullError):
        hub.subscribe()
    assert hub.subscribers == 2
    hub.unsubscribe()
    hub.subscribe()
    assert hub.subscribers == 2


def test_wait_returns_new_events_and_times_out_empty():
    hub = make_hub()
    assert hub.wait(hub.last_id, 0.01).events == []
    cursor = hub.last_id
    threading.Timer(0.05, lambda: hub.publish("later")).start()
    backlog = hub.wait(cursor, 5.0)
    assert [event.type for event, _ in backlog.events] == ["later"]


def test_close_wakes_waiters_after_they_read_the_last_events():
    hub = make_hub()
    cursor = hub.last_id
    results = []

    def subscriber():
        nonlocal cursor
        try:
            while True:
                backlog = hub.wait(cursor, 5.0)
                for event, _ in backlog.events:
                    results.append(event.type)
                    cursor = event.id
        except HubClosedError:
            results.append("closed")

    thread = threading.Thread(target=subscriber)
    thread.start()
    hub.publish("instance_stopping")
    hub.close()
    thread.join(5)
    assert not thread.is_alive()
    assert results == ["instance_stopping", "closed"]
    with pytest.raises(HubClosedError):
        hub.subscribe()


def test_recent_returns_the_newest():
    hub = make_hub(capacity=5)
    for index in range(7):
        hub.publish("e", {"n": index})
    assert [event.data["n"] for event in hub.recent()] == [2, 3, 4, 5, 6]
    assert [event.data["n"] for event in hub.recent(2)] == [5, 6]
    assert hub.recent(0) == []
