"""SSE parsing and the small HTTP helpers, against a real API."""

from __future__ import annotations

import pytest

from mnemosyne.dash.sse_client import get_json, open_stream, parse_events


def test_parse_events_follows_the_sse_rules():
    raw = [b"retry: 2000\n", b": comment\n", b"\n", b"id: 7\n", b"event: memory_stored\n",
           b'data: {"a":\n', b"data: 1}\n", b"\n", b"data: plain\n", b"\n", b"id: 9\n", b"\n"]
    events = list(parse_events(iter(raw)))
    assert [(e.event, e.id, e.data) for e in events] == [
        ("memory_stored", "7", '{"a":\n1}'), ("message", None, "plain")]
    assert events[0].envelope() == {"a": 1}
    with pytest.raises(ValueError):
        events[1].envelope()


def test_open_stream_and_get_json(running_api):
    health = get_json(running_api.url, "/health", 2.0)
    assert health["instance_id"] == "a1b2c3d4"
    response = open_stream(running_api.url, None, 5.0)
    running_api.api.hub.publish("hello", {"n": 1})
    event = next(parse_events(iter(response.readline, b"")))
    assert event.event == "hello" and event.envelope()["data"] == {"n": 1}
    response.close()


def test_errors_are_connection_errors(make_api):
    running = make_api(api_max_subscribers=1, api_token="t")
    with pytest.raises(ConnectionError, match="HTTP 401: missing or wrong API token"):
        open_stream(running.url, None, 5.0)
    with pytest.raises(ConnectionError, match="HTTP 401"):
        get_json(running.url, "/instances", 2.0)
    assert get_json(running.url, "/health", 2.0, token="t")["status"] == "ok"
