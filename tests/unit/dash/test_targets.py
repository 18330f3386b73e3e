"""Which instances the dashboard watches."""

from __future__ import annotations

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.coord.context import make_coordinator
from mnemosyne.dash.targets import normalize_url, resolve_targets
from mnemosyne.errors import NotFoundError, UnavailableError, UsageError


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


def test_all_roots_reads_every_indexed_registry_and_errors_name_the_roots(tmp_path,
                                                                         isolated_env):
    here = resolve_settings({}, environ=isolated_env)
    there = resolve_settings({"root": str(tmp_path / "there")}, environ=isolated_env)
    with pytest.raises(NotFoundError, match=f"registry of coordination root {here.root}:"):
        resolve_targets([], True, here)
    coordinator = make_coordinator(there, "a1b2c3d4")
    coordinator.register(api_url="http://127.0.0.1:3005")
    try:
        with pytest.raises(NotFoundError, match="no live instance with an API"):
            resolve_targets([], True, here)
        assert resolve_targets([], False, here, every_root=True) == ["http://127.0.0.1:3005"]
    finally:
        coordinator.unregister()
    with pytest.raises(NotFoundError, match="registry of 2 indexed coordination roots:"):
        resolve_targets([], False, here, every_root=True)


def test_nothing_to_watch_is_a_usage_error(isolated_env):
    with pytest.raises(UsageError, match="--api URL"):
        resolve_targets([], False, resolve_settings({}, environ=isolated_env))


def test_login_url_asks_the_instance_for_a_one_time_link(isolated_env, make_api):
    from mnemosyne.coord.context import api_token  # noqa: PLC0415
    from mnemosyne.dash.targets import login_url  # noqa: PLC0415
    from tests.helpers import http_request  # noqa: PLC0415

    settings = resolve_settings({}, environ=isolated_env)
    with pytest.raises(NotFoundError, match="no live instance with an API"):
        login_url(settings)
    running = make_api(api_token=api_token(settings))
    port = running.api.address.port
    one = make_coordinator(settings, "a1b2c3d4")
    one.register(api_url=f"http://0.0.0.0:{port}")  # a wildcard address: opened on loopback
    two = make_coordinator(settings, "b1b2c3d4")
    try:
        link = login_url(settings)
        assert link.startswith(f"http://127.0.0.1:{port}/login?code=")
        assert api_token(settings) not in link
        assert http_request(link).status == 303
        assert http_request(link).status == 401  # once only
        two.register(api_url="http://127.0.0.1:1")
        with pytest.raises(UsageError, match="--instance"):
            login_url(settings)
        assert login_url(settings, "a1b2c3d4").startswith(f"http://127.0.0.1:{port}/login")
        with pytest.raises(UnavailableError, match="gave no login link"):
            login_url(settings, "b1b2c3d4")
        with pytest.raises(NotFoundError, match="a1b2c3d4, b1b2c3d4"):
            login_url(settings, "cccccccc")
    finally:
        one.unregister()
        two.unregister()
