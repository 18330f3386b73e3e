"""POST /mcp: the Model Context Protocol's Streamable HTTP transport on the instance's API.

Each POST carries one JSON-RPC message or a batch; the answer is `application/json` (the
transport allows that instead of an SSE stream, and every tool answers at once), or 202 with no
body when the POST held only notifications or responses. `initialize` opens a session: its id
comes back in `Mcp-Session-Id` (only when it succeeded) and later requests send it; an unknown
or ended id is a 404 (the client then initializes again); a request without one gets a short-
lived session of its own, so that a plain `curl` works. `DELETE /mcp` ends a session; `GET
/mcp` is 405: this server sends nothing unasked. A `MCP-Protocol-Version` header naming a
version this server does not speak is a 400. Access (Host, Origin, the token) is checked before
this runs (front.py), as the MCP specification asks of local servers.
Sessions are kept in memory, at most `MAX_SESSIONS` (the least recently used goes first).
Must not: know what the tools do (mnemosyne.mcp does), or open files.
"""

from __future__ import annotations

import collections
import secrets
import threading
from collections.abc import Callable
from typing import Any

from mnemosyne.api.gate import close_after_response
from mnemosyne.api.responses import json_response
from mnemosyne.mcp import protocol
from mnemosyne.mcp.server import McpServer, McpSession

MAX_SESSIONS = 256
SESSION_HEADER = "Mcp-Session-Id"
JSON_TYPE = "application/json"


class BodyError(Exception):
    """A request body that cannot be used: its HTTP status and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class McpHttpEndpoint:
    """The WSGI app of /mcp: sessions, content negotiation, then the MCP core."""

    def __init__(self, server: McpServer, new_session: Callable[[], McpSession],
                 max_body_bytes: int) -> None:
        self.server = server
        self.new_session = new_session
        self.max_body_bytes = max_body_bytes
        self.sessions: collections.OrderedDict[str, McpSession] = collections.OrderedDict()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Serve one request to /mcp."""
        method = environ.get("REQUEST_METHOD", "")
        if method == "POST":
            return self.post(environ, start_response)
        if method == "DELETE":
            return self.delete(environ, start_response)
        return json_response(start_response, 405, {"error": "use POST to send MCP messages "
                                                   "(this server sends nothing unasked)"},
                             [("Allow", "POST, DELETE")])

    def session(self, session_id: str | None) -> McpSession | None:
        """Return the session with *session_id* (marking it used), or None if unknown."""
        with self.lock:
            session = self.sessions.get(session_id or "")
            if session is not None:
                self.sessions.move_to_end(session_id)  # type: ignore[arg-type]
            return session

    def keep_session(self, session: McpSession) -> str:
        """Keep an initialized session; return its id (the least used goes past MAX_SESSIONS)."""
        session_id = secrets.token_urlsafe(24)
        with self.lock:
            self.sessions[session_id] = session
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.popitem(last=False)
        return session_id

    def post(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Answer one POSTed message or batch."""
        refusal = self.refusal(environ)
        if refusal is not None:
            close_after_response()
            return json_response(start_response, refusal[0], {"error": refusal[1]})
        try:
            body = self.read_body(environ)
        except BodyError as error:
            close_after_response()
            return json_response(start_response, error.status, {"error": error.message})
        try:
            message = protocol.parse_message(body)
        except protocol.ProtocolError as error:
            return self.answer(start_response, error.to_response(), [])
        initializing = isinstance(message, dict) and message.get("method") == "initialize"
        headers: list[tuple[str, str]] = []
        given = environ.get("HTTP_MCP_SESSION_ID")
        if initializing:
            session = self.new_session()
        elif given is not None:
            found = self.session(given)
            if found is None:
                return json_response(start_response, 404, {
                    "error": "unknown or ended MCP session: initialize again"})
            session = found
        else:
            session = self.new_session()
        version = environ.get("HTTP_MCP_PROTOCOL_VERSION")
        if version is not None and not initializing:
            session.protocol_version = version
        reply = self.server.handle(message, session)
        if initializing and isinstance(reply, dict) and "result" in reply:
            headers.append((SESSION_HEADER, self.keep_session(session)))
        if reply is None:
            start_response("202 Accepted", [("Content-Length", "0"), *headers])
            return [b""]
        return self.answer(start_response, reply, headers)

    def refusal(self, environ: dict[str, Any]) -> tuple[int, str] | None:
        """Return (status, why) for a request the transport refuses before reading it."""
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type != JSON_TYPE:
            return 415, "send MCP messages as application/json"
        accept = environ.get("HTTP_ACCEPT", "*/*").lower()
        if not any(kind in accept for kind in (JSON_TYPE, "text/event-stream", "*/*",
                                               "application/*")):
            return 406, "accept application/json (and text/event-stream)"
        version = environ.get("HTTP_MCP_PROTOCOL_VERSION")
        if version is not None and version not in protocol.SUPPORTED_VERSIONS:
            return 400, (f"unsupported MCP-Protocol-Version {version[:40]!r}: this server "
                         f"speaks {', '.join(protocol.SUPPORTED_VERSIONS)}")
        return None

    def read_body(self, environ: dict[str, Any]) -> bytes:
        """Return the body. Raises BodyError: too big (413), late (408), malformed (400)."""
        too_big = BodyError(413, f"request body is over {self.max_body_bytes} bytes")
        declared = environ.get("CONTENT_LENGTH", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise too_big
        try:
            body = environ["wsgi.input"].read(self.max_body_bytes + 1)
        except TimeoutError:
            raise BodyError(408, "the request body did not arrive in time") from None
        except (ValueError, OSError) as error:  # cheroot: a bad chunk size, a reset
            raise BodyError(400, f"request body is malformed: "
                                 f"{str(error)[:80] or type(error).__name__}") from None
        if len(body) > self.max_body_bytes:
            raise too_big
        if declared.isdigit() and len(body) < int(declared):
            raise BodyError(400, "request body is shorter than its Content-Length")
        return body

    def delete(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """End the session named in the Mcp-Session-Id header."""
        with self.lock:
            ended = self.sessions.pop(environ.get("HTTP_MCP_SESSION_ID", ""), None)
        if ended is None:
            return json_response(start_response, 404, {"error": "unknown or ended MCP session"})
        start_response("204 No Content", [])
        return [b""]

    @staticmethod
    def answer(start_response: Callable[..., Any], reply: Any,
               headers: list[tuple[str, str]]) -> list[bytes]:
        """Send a JSON-RPC reply as application/json."""
        data = protocol.encode_message(reply).encode("utf-8")
        start_response("200 OK", [("Content-Type", JSON_TYPE), ("Content-Length",
                                                                str(len(data))),
                                  ("Cache-Control", "no-store"), *headers])
        return [data]
