"""The WSGI application the server runs: access checks, then the hot paths, then CherryPy.

Every request first passes access.py's Host and Origin checks (403 otherwise, on every path,
/health included). /health is open to everyone, but shows its problem list (which can name
files) only to a caller with the token; every other path needs the token as
`Authorization: Bearer TOKEN`, or the dashboard's session cookie, or, on /events only (for
EventSource), the `access_token` query parameter. POST /login-codes (with the token) returns
a one-time login link; GET /login?code=CODE (or ?token=TOKEN) opens a session: a 303 to the
dashboard with an HttpOnly, SameSite=Strict cookie. Without a session the dashboard page
answers 401 telling the user to run `mnemosyne dashboard-url`, which asks for such a link.
/health and /events are answered here without CherryPy's per-request dispatch (which costs
more than the health check itself); every other path goes to the CherryPy application.
Must not: implement routes (health.py, sse.py, routes.py do) or know where the token lives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mnemosyne.api.access import HostCheck, TokenCheck, query_value
from mnemosyne.api.gate import close_after_response
from mnemosyne.api.responses import SECURITY_HEADERS, json_response

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]

AUTHENTICATED_KEY = "mnemosyne.authenticated"
OPEN_PATHS = ("/health",)
LOGIN_HINT = ("log in to the dashboard with the link `mnemosyne dashboard-url` prints "
              "(or send Authorization: Bearer TOKEN)")


def unread_body(environ: dict[str, Any]) -> None:
    """Close the connection after a refusal if the request has a body (it is never read)."""
    if environ.get("CONTENT_LENGTH", "") not in ("", "0") or \
            "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        close_after_response()


class FrontApp:
    """Check access, then dispatch by path: the fast routes, else CherryPy."""

    def __init__(self, fast_routes: dict[str, WsgiApp], fallback: WsgiApp,
                 token: TokenCheck, hosts: HostCheck) -> None:
        self.fast_routes = fast_routes
        self.fallback = fallback
        self.token = token
        self.hosts = hosts

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve one request."""
        refusal = self.hosts.refusal(environ)
        if refusal is not None:
            self.hosts.log_refusal(refusal)
            unread_body(environ)
            return json_response(start_response, 403, {"error": refusal})
        path = environ.get("PATH_INFO", "")
        authorized = self.token.authorized(environ, query_allowed=path == "/events")
        if path == "/login":
            return self.login(environ, start_response)
        if path == "/login-codes" and authorized and self.token.token is not None:
            return self.login_code(environ, start_response)
        if not authorized and path not in OPEN_PATHS:
            unread_body(environ)
            message = LOGIN_HINT if path == "/" else "missing or wrong API token"
            return json_response(start_response, 401, {"error": message},
                                 [("WWW-Authenticate", 'Bearer realm="mnemosyne"')])
        environ[AUTHENTICATED_KEY] = authorized
        route = self.fast_routes.get(path)
        return (route or self.fallback)(environ, start_response)

    def login(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """GET /login?token=TOKEN: set the session cookie and go to the dashboard."""
        if environ.get("REQUEST_METHOD") != "GET":
            return json_response(start_response, 405, {"error": "use GET for /login"},
                                 [("Allow", "GET")])
        headers = [*SECURITY_HEADERS, ("Cache-Control", "no-store")]
        code = query_value(environ, "code")
        if not (self.token.matches(query_value(environ, "token"))
                or (code is not None and self.token.codes.redeem(code))):
            return json_response(start_response, 401, {"error": "this login link is used, "
                                 "expired or wrong: run `mnemosyne dashboard-url` for a fresh "
                                 "one"}, headers)
        start_response("303 See Other", [("Location", "/"), ("Content-Length", "0"),
                                         ("Set-Cookie", self.token.login_cookie()), *headers])
        return [b""]

    def login_code(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """POST /login-codes: answer a one-time login link (path and query) for a browser."""
        if environ.get("REQUEST_METHOD") != "POST":
            return json_response(start_response, 405, {"error": "use POST for /login-codes"},
                                 [("Allow", "POST")])
        link = f"/login?code={self.token.codes.issue()}"
        return json_response(start_response, 201, {"path": link,
                                                   "expires_in_s": self.token.codes.ttl_s},
                             [("Cache-Control", "no-store")])
