"""The MCP server's core: one entry point that every transport calls, and a session's state.

`McpServer(store).handle(message, session)` takes one parsed JSON-RPC message (an object) or a
batch (a list) and returns the response (an object, or a list for a batch), or None when
nothing is to be sent back (notifications and responses). It never raises for a client's
mistake: every problem becomes a JSON-RPC error object or, inside a tool, a tool error.
Methods: initialize (protocol version negotiation), notifications/initialized, ping,
tools/list, tools/call, prompts/list, prompts/get. Requests before `initialize` are answered
as the newest version would (a stateless HTTP transport may skip the handshake).
`McpSession` holds what one connection negotiated (version, client info) and what its tools
use: the default namespace (`project_namespace` of the agent's or instance's git location)
and the coordinator of the agent's registered instance (None: the
coordination tools answer that coordination is not available). It is safe to call `handle`
from several threads at once for different sessions; one session's calls should not overlap.
Must not: read or write a transport (stdio.py, the API) or register instances.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

from mnemosyne import __version__
from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import GitLocation
from mnemosyne.errors import MnemosyneError
from mnemosyne.mcp import protocol
from mnemosyne.mcp.protocol import ProtocolError, Request
from mnemosyne.mcp.tools import (
    TOOLS,
    TOOLS_BY_NAME,
    Inbox,
    ToolContext,
    build_context,
    render_context,
)
from mnemosyne.store.backend import MemoryBackend
from mnemosyne.store.model import NAMESPACE_RE

logger = logging.getLogger(__name__)

SERVER_NAME = "mnemosyne"
INSTRUCTIONS = (
    "Mnemosyne is this project's shared memory and coordination service. At the start of a "
    "task call `context` (or read the `context` prompt) to load what earlier sessions learned; "
    "`recall` before deciding something that may have been decided; `remember` decisions, "
    "constraints, fixes and patterns worth keeping (namespace defaults to this project's). "
    "`instances`, `send`, `inbox`, `claim_branch` and `release_branch` coordinate with the "
    "other agents working in this repository.")
PROMPTS = ({"name": "context", "title": "Project context",
            "description": "What to load at the start of a session: this project's most "
                           "important and newest memories and the most important global ones.",
            "arguments": [{"name": "namespace", "required": False,
                           "description": "namespace to load (default: this project's)"}]},)


@dataclasses.dataclass
class McpSession:
    """One client connection's state (a stdio process, or one HTTP session)."""

    default_namespace: str = "global"
    coordinator: CrossProcessCoordinator | None = None
    protocol_version: str | None = None
    client_info: dict[str, Any] | None = None
    initialized: bool = False
    inbox: Inbox = dataclasses.field(default_factory=Inbox)
    receives: bool = True  # False: another thread receives into `inbox` (the daemon's loop)

    def collect_messages(self) -> int:
        """Receive this instance's new messages into `inbox` (kept for the `inbox` tool).

        A transport calls it when the session starts (which also starts the broadcast
        cursor, so broadcasts sent from then on are kept) and then every few seconds, so that
        messages wait here rather than expire in the queue. Keeps at most tools.MAX_INBOX, dropping
        the oldest. Return how many arrived.
        """
        if self.coordinator is None or self.coordinator.entry is None:
            return 0
        arrived = self.coordinator.receive_messages()
        self.inbox.add(arrived)
        return len(arrived)

    @property
    def instance_id(self) -> str | None:
        """The id of the instance this session acts as, if any."""
        return None if self.coordinator is None else self.coordinator.instance_id


def project_namespace(location: GitLocation | None) -> str:
    """Return `project:<main worktree's directory name>` (made valid), or `global`."""
    if location is None:
        return "global"
    name = re.sub(r"[^A-Za-z0-9._-]", "-", location.main_worktree.name).lstrip("._-")[:64]
    namespace = f"project:{name}"
    return namespace if name and NAMESPACE_RE.fullmatch(namespace) else "global"


class McpServer:
    """Answers MCP messages with the memory store and the session's coordinator."""

    def __init__(self, store: MemoryBackend, server_name: str = SERVER_NAME) -> None:
        self.store = store
        self.server_name = server_name

    def handle(self, message: dict[str, Any] | list[Any],
               session: McpSession) -> dict[str, Any] | list[dict[str, Any]] | None:
        """Return the response to *message* (a list for a batch), or None if none is due."""
        if isinstance(message, list):
            if not message:
                return protocol.make_error(None, protocol.INVALID_REQUEST, "empty batch")
            if len(message) > protocol.MAX_BATCH:
                return protocol.make_error(None, protocol.INVALID_REQUEST,
                                           f"batch of more than {protocol.MAX_BATCH} messages")
            answers = [self.handle_one(item, session) for item in message]
            found = [answer for answer in answers if answer is not None]
            return found or None
        return self.handle_one(message, session)

    def handle_one(self, message: Any, session: McpSession) -> dict[str, Any] | None:
        """Return the response to one message, or None for a notification or a response."""
        if protocol.is_response(message):
            return None
        try:
            request = protocol.check_request(message)
        except ProtocolError as error:
            return error.to_response()
        try:
            result = self.dispatch(request, session)
        except ProtocolError as error:
            if request.is_notification:
                return None
            return protocol.make_error(request.request_id, error.code, error.message)
        except MnemosyneError as error:
            if request.is_notification:
                return None
            return protocol.make_error(request.request_id, protocol.INTERNAL_ERROR,
                                       error.message)
        except Exception as error:  # the session goes on; the log has the traceback
            logger.exception("method %s failed", request.method)
            if request.is_notification:
                return None
            return protocol.make_error(request.request_id, protocol.INTERNAL_ERROR,
                                       f"internal error: {type(error).__name__}")
        if request.is_notification or result is None:
            return None
        return protocol.make_result(request.request_id, result)

    def dispatch(self, request: Request, session: McpSession) -> dict[str, Any] | None:
        """Run *request*'s method; return its result (None for notifications).

        Raises ProtocolError for an unknown method or bad parameters.
        """
        method, params = request.method, request.params
        if request.is_notification:
            if method == "notifications/initialized":
                session.initialized = True
            return None  # notifications/cancelled and others: nothing to do
        handlers = {"initialize": self.initialize, "ping": lambda _p, _s: {},
                    "tools/list": self.list_tools, "tools/call": self.call_tool,
                    "prompts/list": self.list_prompts, "prompts/get": self.get_prompt}
        handler = handlers.get(method)
        if handler is None:
            raise ProtocolError(protocol.METHOD_NOT_FOUND, f"method not found: {method[:100]!r}")
        return handler(params, session)

    def initialize(self, params: dict[str, Any], session: McpSession) -> dict[str, Any]:
        """Negotiate the protocol version and say what this server offers."""
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise ProtocolError(protocol.INVALID_PARAMS, "protocolVersion must be a string")
        session.protocol_version = protocol.negotiate_version(requested)
        client = params.get("clientInfo")
        session.client_info = client if isinstance(client, dict) else None
        logger.info("client %s %s initialized with protocol %s",
                    (session.client_info or {}).get("name", "?"),
                    (session.client_info or {}).get("version", "?"), session.protocol_version)
        return {"protocolVersion": session.protocol_version,
                "capabilities": {"tools": {"listChanged": False},
                                 "prompts": {"listChanged": False}},
                "serverInfo": {"name": self.server_name, "title": "Mnemosyne",
                               "version": __version__},
                "instructions": INSTRUCTIONS}

    def tool_context(self, session: McpSession) -> ToolContext:
        """Return what a tool call of *session* may use."""
        return ToolContext(self.store, session.default_namespace, session.coordinator,
                           session.inbox, session.receives)

    def list_tools(self, params: dict[str, Any], session: McpSession) -> dict[str, Any]:
        """Return every tool (there is one page: the cursor is ignored)."""
        structured = protocol.has_structured_output(session.protocol_version)
        return {"tools": [tool.definition(structured) for tool in TOOLS]}

    def call_tool(self, params: dict[str, Any], session: McpSession) -> dict[str, Any]:
        """Run one tool. Raises ProtocolError for an unknown tool or malformed params."""
        name = params.get("name")
        if not isinstance(name, str):
            raise ProtocolError(protocol.INVALID_PARAMS, "tools/call needs a tool name")
        tool = TOOLS_BY_NAME.get(name)
        if tool is None:
            raise ProtocolError(protocol.INVALID_PARAMS, f"unknown tool: {name[:100]!r} (known: "
                                                         f"{', '.join(TOOLS_BY_NAME)})")
        result = tool.call(self.tool_context(session), params.get("arguments"))
        if not protocol.has_structured_output(session.protocol_version):
            result.pop("structuredContent", None)
        return result

    def list_prompts(self, params: dict[str, Any], session: McpSession) -> dict[str, Any]:
        """Return the prompts (one: context)."""
        return {"prompts": list(PROMPTS)}

    def get_prompt(self, params: dict[str, Any], session: McpSession) -> dict[str, Any]:
        """Return the `context` prompt's text. Raises ProtocolError for bad params."""
        if params.get("name") != "context":
            raise ProtocolError(protocol.INVALID_PARAMS,
                                f"unknown prompt: {str(params.get('name'))[:100]!r}")
        arguments = params.get("arguments") or {}
        if not isinstance(arguments, dict) or set(arguments) - {"namespace"} or not all(
                isinstance(value, str) for value in arguments.values()):
            raise ProtocolError(protocol.INVALID_PARAMS,
                                "the context prompt takes one text argument: namespace")
        try:
            pack = build_context(self.tool_context(session), arguments.get("namespace") or None)
        except MnemosyneError as error:
            raise ProtocolError(protocol.INVALID_PARAMS, error.message) from None
        return {"description": PROMPTS[0]["description"],
                "messages": [{"role": "user",
                              "content": {"type": "text", "text": render_context(pack)}}]}
