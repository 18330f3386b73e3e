"""Starting an instance's API: URL in the registry, events wired to the loop, clean stop."""

from __future__ import annotations

import signal

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.coord.root import prepare_root
from mnemosyne.daemon.dispatch import Dispatch
from mnemosyne.daemon.instance_api import InstanceApi, refuse_exposed_api
from mnemosyne.daemon.loop import InstanceLoop
from mnemosyne.daemon.signals import SignalQueue
from mnemosyne.errors import UsageError
from tests.helpers import http_request

KEY = b"k"


def settings_for(tmp_path, db_path, **flags):
    return resolve_settings({"db_path": str(db_path), "api_addr": "127.0.0.1:0", **flags},
                            environ={"XDG_CONFIG_HOME": str(tmp_path)})


def test_exposed_address_without_token_is_refused(tmp_path, db_path):
    refuse_exposed_api(settings_for(tmp_path, db_path))
    with pytest.raises(UsageError, match="reachable from other machines"):
        refuse_exposed_api(settings_for(tmp_path, db_path, api_addr="0.0.0.0:3000"))


def test_start_records_the_url_and_wires_the_loop(tmp_path, db_path, store):
    settings = settings_for(tmp_path, db_path)
    root = prepare_root(tmp_path / "coord", start=tmp_path)
    coordinator = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    coordinator.register()
    signals = SignalQueue()
    signals.install([signal.SIGUSR1])
    received = []
    loop = InstanceLoop(settings, signals, coordinator,
                        MessageQueue(root, "a1b2c3d4", KEY, max_bytes=1024, ttl_s=60), None,
                        lambda s: s, received.append)
    running = InstanceApi.start(settings, store, coordinator, loop, "no worktree")
    try:
        assert coordinator.entry["api_url"] == running.api.url
        assert running.address_text == running.api.url.removeprefix("http://")
        assert [event.type for event in running.api.hub.recent()] == ["instance_started"]
        assert len(loop.watches) == 1 and loop.on_heartbeat is not None
        assert http_request(running.api.url + "/health").json()["instance_id"] == "a1b2c3d4"
        assert http_request(running.api.url + "/instances").status == 401
        token = settings.api_token_path.read_text()  # the user's token file, made 0600
        assert settings.api_token_path.stat().st_mode & 0o777 == 0o600
        instances = http_request(running.api.url + "/instances",
                                 headers={"Authorization": f"Bearer {token}"}).json()
        assert [view["instance_id"] for view in instances] == ["a1b2c3d4"]
        store.remember("seen by the WAL watch")
        watch, on_change = loop.watches[0]
        assert watch.drain()
        on_change()
        assert running.api.hub.recent()[-1].type == "memory_stored"
        peer = CrossProcessCoordinator(root, "bbbbbbbb", KEY)
        loop.on_message(peer.send_message("a1b2c3d4", "JoinRequest", {}))
        assert received and running.api.hub.recent()[-1].type == "message_received"
    finally:
        running.stop()
        signals.restore()
        coordinator.unregister()
    assert running.api.hub.recent()[-1].type == "instance_stopping"


def test_open_returns_the_hooks_for_a_loop_declared_afterwards(tmp_path, db_path, store):
    settings = settings_for(tmp_path, db_path)
    root = prepare_root(tmp_path / "coord", start=tmp_path)
    coordinator = CrossProcessCoordinator(root, "a1b2c3d4", KEY)
    coordinator.register()
    dispatch = Dispatch()
    running = InstanceApi.open(settings, store, coordinator, lambda: "stalled", "here",
                               dispatch=dispatch)
    try:
        hooks = running.hooks
        assert len(hooks.watches) == 1 and hooks.on_heartbeat is not None
        assert hooks.on_rescan is None
        assert dispatch.types() == [] and len(dispatch.every) == 2
        assert http_request(running.api.url + "/health").status == 503
    finally:
        running.stop()
        coordinator.unregister()
