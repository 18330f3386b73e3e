"""Following one real instance: events, resume after a drop, backoff, health."""

from __future__ import annotations

import threading
import time

import pytest

from mnemosyne.dash.watcher import InstanceWatcher, describe_failure, retry_delay


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)


def test_retry_delay_doubles_up_to_a_cap_with_jitter():
    assert retry_delay(1, rand=lambda: 0.5) == 0.5
    assert retry_delay(2, rand=lambda: 0.5) == 1.0
    assert retry_delay(10, rand=lambda: 0.5) == 10.0
    assert retry_delay(1, rand=lambda: 0.0) == pytest.approx(0.4)
    assert retry_delay(1, rand=lambda: 1.0) == pytest.approx(0.6)


def test_failures_are_described():
    assert "refused" in describe_failure(ConnectionRefusedError())
    assert describe_failure(TimeoutError()) == "timed out"
    assert describe_failure(ConnectionError("HTTP 503: full")) == "HTTP 503: full"


def test_watcher_receives_events_and_health(running_api):
    received = []
    watcher = InstanceWatcher(running_api.url, lambda url, envelope: received.append(envelope))
    watcher.start()
    try:
        wait_until(lambda: watcher.status.connected and watcher.status.health)
        running_api.api.hub.publish("memory_stored", {"memory_id": "m"})
        wait_until(lambda: received)
        assert received[0]["type"] == "memory_stored"
        assert watcher.status.last_event_id == str(received[0]["id"])
        assert watcher.status.health["instance_id"] == "a1b2c3d4"
    finally:
        watcher.stop()


def test_a_down_instance_is_reported_with_its_retry(make_api):
    running = make_api()
    url = running.url
    running.api.stop()
    watcher = InstanceWatcher(url, lambda *_: None)
    watcher.start()
    try:
        wait_until(lambda: watcher.status.problem is not None)
        assert not watcher.status.connected and "refused" in watcher.status.problem
        assert watcher.status.retry_at is not None
    finally:
        watcher.stop()


def test_resumes_with_the_last_event_id_after_the_stream_drops(running_api):
    received = []
    watcher = InstanceWatcher(running_api.url, lambda url, envelope: received.append(envelope))
    watcher.start()
    try:
        wait_until(lambda: watcher.status.connected)
        hub = running_api.api.hub
        hub.publish("e", {"n": 0})
        wait_until(lambda: len(received) == 1)
        watcher._response.interrupt()  # the stream drops ...
        hub.publish("e", {"n": 1})  # ... and an event happens meanwhile
        wait_until(lambda: [event["data"].get("n") for event in received] == [0, 1])
        assert watcher.status.reconnects >= 1
    finally:
        watcher.stop()


def test_stop_ends_the_threads(running_api):
    watcher = InstanceWatcher(running_api.url, lambda *_: None)
    watcher.start()
    wait_until(lambda: watcher.status.connected)
    watcher.stop()
    for thread in watcher._threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in watcher._threads)
    assert threading.active_count() >= 1
