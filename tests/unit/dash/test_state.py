"""Merged events, the type filter and payload summaries."""

from __future__ import annotations

from mnemosyne.dash.state import DashboardState, EventFilter, summarize


def envelope(event_type, **data):
    return {"id": 1, "type": event_type, "instance_id": "a1b2c3d4",
            "timestamp": "2026-11-28T07:00:00.000000Z", "data": data}


def test_heartbeats_are_hidden_by_default_and_newest_comes_first():
    state = DashboardState()
    state.add("u", envelope("memory_stored", memory_id="m1", namespace="global", preview="x"))
    state.add("u", envelope("heartbeat", uptime_s=1, peers=0))
    state.add("u", envelope("peer_joined", peer_id="bbbbbbbb"))
    assert [row.type for row in state.visible()] == ["peer_joined", "memory_stored"]
    state.toggle_heartbeats()
    assert [row.type for row in state.visible()] == ["peer_joined", "heartbeat",
                                                     "memory_stored"]
    assert len(state.visible(1)) == 1


def test_type_filter_cycles_through_the_types_seen():
    state = DashboardState()
    for event_type in ("memory_stored", "heartbeat", "peer_left"):
        state.add("u", envelope(event_type))
    seen = []
    for _ in range(4):
        state.cycle_type()
        seen.append(state.filter.event_type)
    assert seen == ["heartbeat", "memory_stored", "peer_left", None]
    state.filter.event_type = "peer_left"
    assert [row.type for row in state.visible()] == ["peer_left"]


def test_filter_description():
    assert EventFilter().describe() == "all types, heartbeats hidden"
    assert EventFilter(show_heartbeats=True).describe() == "all types"
    assert EventFilter("memory_stored").describe() == "memory_stored"


def test_summaries():
    assert summarize("memory_stored", {"namespace": "global", "memory_id": "0123456789",
                                       "preview": "hi"}) == "global 01234567 hi"
    assert summarize("memory_recalled", {"query": "q", "results": 2}) == "'q' -> 2 result(s)"
    assert summarize("lagged", {"missed": None, "reason": "restart"}) == \
        "missed an unknown number of event(s) (restart)"
    assert summarize("lagged", {"missed": 3, "reason": "overflow"}) == \
        "missed 3 event(s) (overflow)"
    assert summarize("message_received", {"message_type": "Ping", "from_agent": "b"}) == \
        "Ping from b"
    assert summarize("custom", {"a": 1}) == "a=1"
