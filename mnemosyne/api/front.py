"""The WSGI application the server runs: token check, then the hot paths, then CherryPy.

/health and /events are answered here without CherryPy's per-request dispatch (which costs
more than the health check itself); every other path goes to the CherryPy application. When a
token is configured, every request must carry it as `Authorization: Bearer TOKEN` (or, for
EventSource, which cannot set headers, as the `access_token` query parameter).
Must not: implement routes (health.py, sse.py, routes.py do).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from mnemosyne.api.responses import json_response

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def presented_token(environ: dict[str, Any]) -> str | None:
    """Return the bearer token of a request (header first, then `access_token`)."""
    header = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    values = parse_qs(environ.get("QUERY_STRING", "")).get("access_token")
    return values[-1] if values else None


class FrontApp:
    """Dispatch by path: the fast routes, else CherryPy; refuse requests without the token."""

    def __init__(self, fast_routes: dict[str, WsgiApp], fallback: WsgiApp,
                 token: str | None = None) -> None:
        self.fast_routes = fast_routes
        self.fallback = fallback
        self.token = token.encode() if token else None

    def authorized(self, environ: dict[str, Any]) -> bool:
        """Return True if no token is configured or the request carries it."""
        if self.token is None:
            return True
        token = presented_token(environ)
        return token is not None and hmac.compare_digest(token.encode(), self.token)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve one request."""
        if not self.authorized(environ):
            return json_response(start_response, 401, {"error": "missing or wrong API token"},
                                 [("WWW-Authenticate", 'Bearer realm="mnemosyne"')])
        route = self.fast_routes.get(environ.get("PATH_INFO", ""))
        return (route or self.fallback)(environ, start_response)
