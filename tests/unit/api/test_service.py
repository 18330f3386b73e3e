"""Putting the API together: exposure rule, all-busy, URL."""

from __future__ import annotations

import pytest

from mnemosyne.api.ports import ApiAddress
from mnemosyne.api.service import check_exposure, start_api
from mnemosyne.config import resolve_settings
from mnemosyne.errors import UsageError
from tests.helpers import free_port_range, occupy


def test_exposed_address_needs_a_token():
    check_exposure(ApiAddress("127.0.0.1", 3000), None)
    check_exposure(ApiAddress("0.0.0.0", 3000), "token")
    with pytest.raises(UsageError, match="MNEMOSYNE_API_TOKEN"):
        check_exposure(ApiAddress("0.0.0.0", 3000), None)


def test_all_busy_means_no_api(tmp_path, store):
    first = free_port_range(11)
    held = occupy(first, 11)
    settings = resolve_settings({"db_path": str(store.database.path),
                                 "api_addr": f"127.0.0.1:{first}"},
                                environ={"XDG_CONFIG_HOME": str(tmp_path)})
    try:
        assert start_api(settings, "a1b2c3d4", store, lambda: [], token=None) is None
    finally:
        for holder in held:
            holder.close()


def test_running_api_url(running_api):
    assert running_api.url == f"http://127.0.0.1:{running_api.api.address.port}"
    assert running_api.api.server.port == running_api.api.address.port
