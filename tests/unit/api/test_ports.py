"""Port allocation: the configured port, the next ten, or none; binding is the test."""

from __future__ import annotations

import logging
import socket

import pytest

from mnemosyne.api.ports import ApiAddress, bind_first_free, candidate_ports
from mnemosyne.errors import UnavailableError
from tests.helpers import free_port_range, occupy


def test_address_parsing_and_urls():
    assert ApiAddress.parse("127.0.0.1:3000") == ApiAddress("127.0.0.1", 3000)
    assert ApiAddress.parse("[::1]:3000").url == "http://[::1]:3000"
    assert ApiAddress.parse("localhost:5").is_loopback
    assert not ApiAddress.parse("0.0.0.0:3000").is_loopback
    with pytest.raises(ValueError, match="not HOST:PORT"):
        ApiAddress.parse("3000")


def test_candidates_are_the_port_and_the_next_ten():
    assert candidate_ports(3000) == list(range(3000, 3011))
    assert candidate_ports(0) == [0]
    assert candidate_ports(65534) == [65534, 65535]


def test_first_free_port_wins_and_the_fallback_is_logged(caplog):
    first = free_port_range(11)
    held = occupy(first, 2)
    with caplog.at_level(logging.DEBUG):
        sock = bind_first_free(ApiAddress("127.0.0.1", first), "a1b2c3d4")
    try:
        assert sock.getsockname()[1] == first + 2
        assert f"Port {first} in use, trying alternative ports..." in caplog.text
    finally:
        sock.close()
        for holder in held:
            holder.close()


def test_all_ports_busy_gives_none_and_the_reference_warning(caplog):
    first = free_port_range(11)
    held = occupy(first, 11)
    try:
        assert bind_first_free(ApiAddress("127.0.0.1", first), "i9j0k1l2") is None
    finally:
        for holder in held:
            holder.close()
    assert (f"All ports ({first}\N{EN DASH}{first + 10}) are in use. API server unavailable "
            "for instance i9j0k1l2. Core functionality not affected.") in caplog.text


def test_port_zero_takes_any_free_port():
    sock = bind_first_free(ApiAddress("127.0.0.1", 0), "a1b2c3d4")
    assert sock.getsockname()[1] > 0
    sock.close()


def test_an_address_that_is_not_ours_is_an_error():
    with pytest.raises(UnavailableError, match=r"cannot listen on 192\.0\.2\.1"):
        bind_first_free(ApiAddress("192.0.2.1", 3000), "a1b2c3d4")


def test_listening_socket_disables_nagle():
    sock = bind_first_free(ApiAddress("127.0.0.1", 0), "a1b2c3d4")
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    sock.close()
