"""Snapshots, keys and the live loop, against a real API."""

from __future__ import annotations

import io
import os
import threading

from rich.console import Console

from mnemosyne.dash.app import fetch_registry, keys_from, read_keys, run_live, snapshot
from mnemosyne.dash.state import EventFilter


def test_snapshot_has_health_events_and_registry(make_api):
    views = [{"instance_id": "a1b2c3d4", "state": "live"}]
    running = make_api(instances=lambda: views)
    running.api.hub.publish("memory_stored", {"memory_id": "m"})
    document, everyone = snapshot([running.url], None)
    assert everyone
    (instance,) = document["instances"]
    assert instance["reachable"] and instance["health"]["instance_id"] == "a1b2c3d4"
    assert [event["type"] for event in instance["events"]] == ["memory_stored"]
    assert document["registry"] == views


def test_snapshot_of_a_down_instance(make_api):
    running = make_api()
    url = running.url
    running.api.stop()
    document, everyone = snapshot([url], None)
    assert not everyone and document["instances"][0]["reachable"] is False
    assert document["registry"] is None
    assert fetch_registry([url], None) is None


def test_keys_are_read_from_a_descriptor():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"fH")
    assert read_keys(read_fd, 1.0) == "fh"
    assert read_keys(read_fd, 0.01) == ""
    os.close(write_fd)
    assert read_keys(read_fd, 1.0) == "q"  # end of input quits
    os.close(read_fd)
    with keys_from(io.StringIO()) as fd:
        assert fd is None
    assert read_keys(None, 0.01) == ""


def test_live_loop_draws_and_quits_on_q(running_api, monkeypatch):
    read_fd, write_fd = os.pipe()
    console = Console(file=io.StringIO(), width=120, height=40, color_system=None,
                      force_terminal=True)
    monkeypatch.setattr("mnemosyne.dash.app.keys_from", lambda _stdin: _Fixed(read_fd))
    threading.Timer(1.0, lambda: os.write(write_fd, b"hfq")).start()
    assert run_live([running_api.url], None, EventFilter(), console=console) == 0
    os.close(read_fd)
    os.close(write_fd)
    assert "a1b2c3d4" in console.file.getvalue()


class _Fixed:
    def __init__(self, fd):
        self.fd = fd

    def __enter__(self):
        return self.fd

    def __exit__(self, *exc):
        return False
