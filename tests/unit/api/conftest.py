"""A real API on a loopback port, in this process, over a real database."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from mnemosyne.api.service import Api, start_api
from mnemosyne.config import resolve_settings
from mnemosyne.store import open_memory_store
from mnemosyne.store.memories import MemoryStore


@dataclasses.dataclass
class RunningApi:
    api: Api
    store: MemoryStore

    @property
    def url(self) -> str:
        return self.api.url


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator:
    """Start APIs on 127.0.0.1:0 with settings overrides; all are stopped at teardown."""
    started: list[RunningApi] = []

    def make(instances=lambda: [], checks=(), **overrides) -> RunningApi:
        environ = {"XDG_CONFIG_HOME": str(tmp_path / "config"),
                   "XDG_DATA_HOME": str(tmp_path / "data")}
        flags = {"db_path": str(tmp_path / "m.db"), "api_addr": "127.0.0.1:0", **overrides}
        settings = resolve_settings(flags, environ=environ)
        store = open_memory_store(settings)
        api = start_api(settings, "a1b2c3d4", store, instances, checks)
        assert api is not None
        running = RunningApi(api, store)
        started.append(running)
        return running

    yield make
    for running in started:
        running.api.stop()
        running.store.close()


@pytest.fixture
def running_api(make_api) -> RunningApi:
    return make_api()
