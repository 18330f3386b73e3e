"""Which instances the dashboard watches."""

from __future__ import annotations

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.coord.context import make_coordinator
from mnemosyne.dash.targets import normalize_url, resolve_targets
from mnemosyne.errors import NotFoundError, UsageError


def test_urls_are_normalized():
    assert normalize_url("127.0.0.1:3000") == "http://127.0.0.1:3000"
    assert normalize_url("http://127.0.0.1:3001/") == "http://127.0.0.1:3001"
    assert normalize_url("http://[::1]:3000") == "http://[::1]:3000"
    for bad in ("https://x:1", "http://x", "http://x:1/path", "x:notaport", "ftp://a:1"):
        with pytest.raises(UsageError, match="not an instance URL"):
            normalize_url(bad)


def test_all_reads_the_registry(tmp_path, isolated_env):
    settings = resolve_settings({}, environ=isolated_env)
    with pytest.raises(NotFoundError, match="no live instance with an API"):
        resolve_targets([], True, settings)
    coordinator = make_coordinator(settings, "a1b2c3d4")
    coordinator.register(api_url="http://127.0.0.1:3005")
    try:
        assert resolve_targets(["127.0.0.1:3000", "http://127.0.0.1:3005"], True, settings) \
            == ["http://127.0.0.1:3000", "http://127.0.0.1:3005"]
    finally:
        coordinator.unregister()


def test_nothing_to_watch_is_a_usage_error(isolated_env):
    with pytest.raises(UsageError, match="--api URL"):
        resolve_targets([], False, resolve_settings({}, environ=isolated_env))
