"""GET /events over real HTTP: greeting, order, resume, lag, cap, keep-alive, shutdown."""

from __future__ import annotations

import threading

import pytest

from mnemosyne.api.sse import requested_resume
from tests.helpers import SseClient, http_request


def test_resume_id_comes_from_the_header_then_the_query():
    assert requested_resume({"HTTP_LAST_EVENT_ID": " 42 "}) == 42
    assert requested_resume({"QUERY_STRING": "last_event_id=7"}) == 7
    assert requested_resume({"HTTP_LAST_EVENT_ID": ""}) is None
    assert requested_resume({}) is None
    for bad in ("abc", "-1", "1.5", "9" * 30):
        with pytest.raises(ValueError, match="not an event id"):
            requested_resume({"HTTP_LAST_EVENT_ID": bad})


def test_stream_delivers_events_in_order(running_api):
    client = SseClient(running_api.url + "/events")
    assert client.status == 200
    assert client.response.getheader("Content-Type").startswith("text/event-stream")
    hub = running_api.api.hub
    published = [hub.publish("memory_stored", {"n": index}) for index in range(20)]
    events = [client.next_event() for _ in range(20)]
    assert [int(event.id) for event in events] == [event.id for event in published]
    assert [event.json()["data"]["n"] for event in events] == list(range(20))
    assert all(event.event == "memory_stored" for event in events)
    assert any("connected to a1b2c3d4" in comment for comment in client.comments)
    client.close()


def test_resume_with_last_event_id_gets_what_was_missed(running_api):
    hub = running_api.api.hub
    events = [hub.publish("e", {"n": index}) for index in range(5)]
    client = SseClient(running_api.url + "/events", last_event_id=str(events[1].id))
    received = [client.next_event() for _ in range(3)]
    assert [event.json()["data"]["n"] for event in received] == [2, 3, 4]
    client.close()


def test_a_client_behind_the_ring_gets_a_lagged_event(make_api):
    running = make_api(api_capacity=4)
    hub = running.api.hub
    first = hub.publish("e", {"n": 0})
    for index in range(1, 10):
        hub.publish("e", {"n": index})
    client = SseClient(running.url + "/events", last_event_id=str(first.id))
    lagged = client.next_event()
    assert lagged.event == "lagged" and lagged.id is None
    assert lagged.json()["data"] == {"missed": 5, "reason": "overflow",
                                     "oldest_id": first.id + 6}
    rest = [client.next_event().json()["data"]["n"] for _ in range(4)]
    assert rest == [6, 7, 8, 9]
    client.close()


def test_subscriber_cap_answers_503_with_retry_after(make_api):
    running = make_api(api_max_subscribers=2)
    clients = [SseClient(running.url + "/events") for _ in range(2)]
    assert [client.status for client in clients] == [200, 200]
    refused = http_request(running.url + "/events")
    assert refused.status == 503 and refused.headers["retry-after"] == "5"
    assert "too many event subscribers" in refused.json()["error"]
    health = http_request(running.url + "/health").json()
    assert health["subscribers"] == 2
    for client in clients:
        client.close()


def test_keepalive_comment_on_an_idle_stream(make_api):
    running = make_api(api_keepalive_s=0.05)
    client = SseClient(running.url + "/events", timeout=5)
    threading.Timer(0.5, lambda: running.api.hub.publish("wake")).start()
    assert client.next_event().event == "wake"
    assert "keepalive" in client.comments
    client.close()


def test_bad_resume_id_and_wrong_method(running_api):
    bad = http_request(running_api.url + "/events", headers={"Last-Event-ID": "x"})
    assert bad.status == 400 and "not an event id" in bad.json()["error"]
    wrong = http_request(running_api.url + "/events", method="POST", body=b"")
    assert wrong.status == 405 and wrong.headers["allow"] == "GET"


def test_streams_end_when_the_api_stops(make_api):
    running = make_api()
    clients = [SseClient(running.url + "/events") for _ in range(10)]
    running.api.hub.publish("instance_stopping", {"reason": "test"})
    stopper = threading.Thread(target=running.api.stop)
    stopper.start()
    for client in clients:
        events = []
        while (event := client.next_event()) is not None:
            events.append(event.event)
        assert events == ["instance_stopping"]
        client.close()
    stopper.join(10)
    assert not stopper.is_alive()


def test_a_departed_client_is_no_longer_counted(make_api):
    running = make_api()
    client = SseClient(running.url + "/events")
    assert running.api.hub.subscribers == 1
    client.close()
    for _ in range(100):  # the server notices at its next write
        running.api.hub.publish("e")
        if running.api.hub.subscribers == 0:
            break
        threading.Event().wait(0.02)
    assert running.api.hub.subscribers == 0
