"""Bind the API's listening socket: the configured port, else the next ten, else none.

Binding is the test: there is no probe-then-bind window in which another instance could take
the port, so twelve instances started at once end up on eleven different ports and one without
an API. The socket is handed to the HTTP server already bound and listening (CherryPy's own
start-up would wait on a busy port and then end the process with os._exit(70)).
Must not: start serving; server.py does.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import logging
import socket

from mnemosyne.config import parse_host_port
from mnemosyne.errors import UnavailableError

logger = logging.getLogger(__name__)

FALLBACK_PORTS = 10
LISTEN_BACKLOG = 128


@dataclasses.dataclass(frozen=True)
class ApiAddress:
    """Where the API listens, or tries to first."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ApiAddress:
        """Parse `HOST:PORT` (IPv6 as `[::1]:PORT`). Raises ValueError if malformed."""
        host, port = parse_host_port(text)
        return cls(host, port)

    @property
    def is_loopback(self) -> bool:
        """Return True for addresses only this machine can reach."""
        if self.host == "localhost":
            return True
        return ipaddress.ip_address(self.host).is_loopback

    @property
    def url(self) -> str:
        """Return the base URL clients use (`http://HOST:PORT`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def candidate_ports(first: int) -> list[int]:
    """Return the ports to try in order: *first*, then the next ten (port 0: any one port)."""
    if first == 0:
        return [0]
    return [port for port in range(first, first + FALLBACK_PORTS + 1) if port <= 65535]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # Lets a restarted instance reuse its port while old connections sit in TIME_WAIT;
        # on Linux it never lets two sockets listen on one port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it: without it, a response written as headers then
        # body waits ~40 ms for the client's delayed ACK (cheroot sets it on sockets it binds).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_first_free(address: ApiAddress, instance_id: str) -> socket.socket | None:
    """Return a listening socket on the first free port, or None if all of them are taken.

    Logs the fallback and the all-busy case in the reference system's words.
    Raises UnavailableError if the address itself cannot be bound (not ours, bad host).
    """
    ports = candidate_ports(address.port)
    for index, port in enumerate(ports):
        try:
            return _bind("127.0.0.1" if address.host == "localhost" else address.host, port)
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                raise UnavailableError(f"cannot listen on {address.host}:{port}: "
                                       f"{error.strerror or error}", errno=error.errno) \
                    from None
            if index == 0 and len(ports) > 1:
                logger.debug("Port %d in use, trying alternative ports...", port)
    logger.warning("All ports (%d\N{EN DASH}%d) are in use. API server unavailable for "
                   "instance %s. Core functionality not affected.", ports[0], ports[-1],
                   instance_id)
    return None
