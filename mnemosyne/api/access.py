"""Who may use the API: the Host allowlist, the Origin check, the token and login sessions.

Modelled on Jupyter Server and Syncthing. Before any route runs, a request whose `Host` is not
one of 127.0.0.1, localhost, [::1], the bound address or a configured name (each with or
without a port) is refused with 403, so that a page whose name rebinds to 127.0.0.1 (DNS
rebinding) learns nothing, not even /health. A request without `Host` (HTTP/1.0) passes. A
POST or DELETE whose `Origin` is not http://<allowed host>[:port] is refused too (CSRF).
The token is sent as `Authorization: Bearer TOKEN`; the `access_token` query parameter is
accepted on /events only (EventSource cannot set headers). A browser logs in once through a
one-time link, /login?code=CODE (a code that a client holding the token asked for, valid once
and for LOGIN_CODE_TTL_S; /login?token=TOKEN works too), and then carries a random session id
in an HttpOnly, SameSite=Strict cookie; sessions live in memory, at most MAX_SESSIONS of them
(the oldest goes first).
Must not: know where the token comes from (the daemon resolves it), or serve routes.
"""

from __future__ import annotations

import collections
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
UNSAFE_METHODS = frozenset({"POST", "DELETE", "PUT", "PATCH"})
MAX_SESSIONS = 256
MAX_LOGIN_CODES = 64
LOGIN_CODE_TTL_S = 120.0
REFUSAL_LOG_EVERY_S = 60.0
COOKIE_PREFIX = "mnemosyne_session"


def host_name(value: str) -> str | None:
    """Return the lower-case host part of a `Host` value (`name[:port]`), or None if malformed.

    An IPv6 literal keeps its brackets. A port, if present, must be digits.
    """
    text = value.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        name, rest = text[:end + 1], text[end + 1:]
    else:
        name, sep, port = text.partition(":")
        rest = sep + port
    if rest and not (rest[0] == ":" and rest[1:].isdigit() and len(rest) <= 6):
        return None
    return name or None


def bracketed(host: str) -> str:
    """Return *host* as it appears in a `Host` header (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class HostCheck:
    """The Host and Origin allowlist of one API, with rate-limited logging of refusals."""

    def __init__(self, bound_host: str, extra: Iterable[str] = (),
                 clock: Callable[[], float] = time.monotonic) -> None:
        names = {*LOOPBACK_NAMES, bracketed(bound_host.lower())}
        for entry in extra:
            name = host_name(bracketed(entry.strip()) if entry.count(":") > 1 else entry)
            if name:
                names.add(name)
        self.names = frozenset(names)
        self.clock = clock
        self._logged_at = -float("inf")
        self._unlogged = 0
        self._lock = threading.Lock()

    def host_allowed(self, host: str | None) -> bool:
        """Return True for an allowed `Host` value, or none at all."""
        return host is None or host_name(host) in self.names

    def origin_allowed(self, origin: str) -> bool:
        """Return True if *origin* is http://<allowed host>[:port]."""
        try:
            parts = urlsplit(origin.strip())
        except ValueError:
            return False
        return parts.scheme == "http" and not parts.path and not parts.query \
            and "@" not in parts.netloc and host_name(parts.netloc) in self.names

    def refusal(self, environ: dict[str, Any]) -> str | None:
        """Return why the request must be refused (403), or None if it may go on."""
        host = environ.get("HTTP_HOST")
        if not self.host_allowed(host):
            return f"host {str(host)[:100]!r} is not allowed (see api_allowed_hosts)"
        origin = environ.get("HTTP_ORIGIN")
        if origin is not None and environ.get("REQUEST_METHOD") in UNSAFE_METHODS \
                and not self.origin_allowed(origin):
            return f"origin {origin[:100]!r} is not allowed"
        return None

    def log_refusal(self, reason: str) -> None:
        """Log one line per REFUSAL_LOG_EVERY_S at most, counting the ones left out."""
        now = self.clock()
        with self._lock:
            if now - self._logged_at < REFUSAL_LOG_EVERY_S:
                self._unlogged += 1
                return
            left_out, self._unlogged, self._logged_at = self._unlogged, 0, now
        more = f" ({left_out} more refused since the last report)" if left_out else ""
        logger.warning("API request refused: %s%s", reason, more)


class Sessions:
    """Login sessions of the web dashboard: random ids, in memory, bounded in number."""

    def __init__(self, limit: int = MAX_SESSIONS) -> None:
        self.limit = limit
        self._ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def open(self) -> str:
        """Return a new session id (the oldest session ends if there are too many)."""
        session = secrets.token_urlsafe(32)
        with self._lock:
            self._ids[session] = None
            while len(self._ids) > self.limit:
                self._ids.popitem(last=False)
        return session

    def valid(self, session: str) -> bool:
        """Return True if *session* was opened here and has not been pushed out."""
        with self._lock:
            return any(hmac.compare_digest(session, known) for known in self._ids)


class LoginCodes:
    """One-time login codes: each opens one session, within LOGIN_CODE_TTL_S of its issue."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 ttl_s: float = LOGIN_CODE_TTL_S, limit: int = MAX_LOGIN_CODES) -> None:
        self.clock = clock
        self.ttl_s = ttl_s
        self.limit = limit
        self._codes: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._lock = threading.Lock()

    def issue(self) -> str:
        """Return a new code (the oldest outstanding one lapses if there are too many)."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = self.clock() + self.ttl_s
            while len(self._codes) > self.limit:
                self._codes.popitem(last=False)
        return code

    def redeem(self, code: str) -> bool:
        """Return True, once, for a code issued here that has not expired."""
        now = self.clock()
        with self._lock:
            for known in list(self._codes):
                if hmac.compare_digest(code, known):
                    return self._codes.pop(known) > now
        return False


def cookie_value(environ: dict[str, Any], name: str) -> str | None:
    """Return the value of cookie *name* in the request, if any."""
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


def bearer_token(environ: dict[str, Any]) -> str | None:
    """Return the token of an `Authorization: Bearer TOKEN` header, if any."""
    scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def query_value(environ: dict[str, Any], name: str) -> str | None:
    """Return the last value of query parameter *name*, if any."""
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return values[-1] if values else None


class TokenCheck:
    """The API token and the sessions opened with it."""

    def __init__(self, token: str | None, port: int, sessions: Sessions | None = None,
                 codes: LoginCodes | None = None) -> None:
        self.token = token.encode() if token else None
        self.sessions = sessions or Sessions()
        self.codes = codes or LoginCodes()
        self.cookie_name = f"{COOKIE_PREFIX}_{port}"

    def matches(self, candidate: str | None) -> bool:
        """Return True if *candidate* is the token (constant-time)."""
        return self.token is not None and candidate is not None \
            and hmac.compare_digest(candidate.encode(), self.token)

    def authorized(self, environ: dict[str, Any], query_allowed: bool = False) -> bool:
        """Return True if no token is required, or the request carries it or a session."""
        if self.token is None:
            return True
        if self.matches(bearer_token(environ)):
            return True
        if query_allowed and self.matches(query_value(environ, "access_token")):
            return True
        session = cookie_value(environ, self.cookie_name)
        return session is not None and self.sessions.valid(session)

    def login_cookie(self) -> str:
        """Return the Set-Cookie value of a new session."""
        return f"{self.cookie_name}={self.sessions.open()}; HttpOnly; SameSite=Strict; Path=/"
