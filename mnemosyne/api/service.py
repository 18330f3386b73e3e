"""Put one instance's API together: address and access rules, port, event hub, routes, server.

`start_api` returns a running `Api`, or None when every port is taken (the instance goes on
without one, as the reference system does). A non-loopback address without a token is a
configuration error: the daemon refuses to start rather than expose memories to the network.
The token is handed in by the caller (the daemon always passes one: the configured token or
the user's token file); None leaves the API open to whoever passes the Host check.
Must not: know about the registry or systemd (the daemon records the URL and reports it).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from mnemosyne.api.access import HostCheck, TokenCheck
from mnemosyne.api.events import EventHub
from mnemosyne.api.front import FrontApp, WsgiApp
from mnemosyne.api.gate import GateLimits
from mnemosyne.api.health import Check, DatabaseProbe, HealthEndpoint
from mnemosyne.api.ports import ApiAddress, bind_first_free
from mnemosyne.api.routes import ApiContext, build_application
from mnemosyne.api.server import ApiServer
from mnemosyne.api.sse import EventStream
from mnemosyne.config import Settings
from mnemosyne.errors import UsageError
from mnemosyne.store.backend import MemoryBackend

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Api:
    """A running API: where it listens and the hub to publish events to."""

    address: ApiAddress
    hub: EventHub
    server: ApiServer

    @property
    def url(self) -> str:
        """Return the base URL (the one written to the registry)."""
        return self.address.url

    def stop(self) -> None:
        """End the event streams and stop serving."""
        self.server.stop()


def check_exposure(address: ApiAddress, token: str | None) -> None:
    """Refuse a non-loopback address without a token. Raises UsageError."""
    if not address.is_loopback and not token:
        raise UsageError(f"the API address {address.host} is reachable from other machines: "
                         "set MNEMOSYNE_API_TOKEN (clients send it as a bearer token), or use "
                         "a loopback address such as 127.0.0.1")


def start_api(settings: Settings, instance_id: str, store: MemoryBackend,
              instances: Callable[[], list[dict[str, Any]]],
              checks: tuple[Check, ...] = (), *, token: str | None,
              routes: Mapping[str, WsgiApp] | None = None) -> Api | None:
    """Bind, build and start the API; return it, or None if every port is in use.

    *routes* are more paths served after the access checks, as /health is (e.g. /mcp).

    Raises UsageError for an exposed address without a token, UnavailableError if the address
    cannot be bound at all.
    """
    address = ApiAddress.parse(settings.api_addr)
    check_exposure(address, token)
    sock = bind_first_free(address, instance_id)
    if sock is None:
        return None
    try:
        bound = dataclasses.replace(address, port=sock.getsockname()[1])
        hub = EventHub(instance_id, settings.api_capacity, settings.api_max_subscribers)
        context = ApiContext(store, hub, instances, settings.api_max_body_bytes)
        health = HealthEndpoint(hub, bound.port, DatabaseProbe(store.health), checks)
        app = FrontApp({"/health": health,
                        "/events": EventStream(hub, settings.api_keepalive_s),
                        **(routes or {})},
                       build_application(context), TokenCheck(token, bound.port),
                       HostCheck(bound.host, settings.api_allowed_hosts))
        limits = GateLimits(settings.api_header_timeout_s, settings.api_body_timeout_s,
                            settings.api_max_connections)
        server = ApiServer(sock, app, hub, limits)
        server.start()
    except BaseException:
        sock.close()
        raise
    logger.info("API server [%s] listening on %s", instance_id, bound.url)
    return Api(bound, hub, server)
