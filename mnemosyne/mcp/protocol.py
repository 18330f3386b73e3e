"""JSON-RPC 2.0 as MCP uses it: parse and check messages, build results and errors, versions.

A message is a request (`method` and `id`), a notification (`method`, no `id`) or a response
(`result` or `error`, which a server that sends no requests ignores). A batch is a list of
them (MCP 2025-03-26; later revisions dropped batches, but answering one costs nothing). MCP
forbids a null `id`, so a request id is a string or an integer. Protocol versions: the
server speaks SUPPORTED_VERSIONS and answers `initialize` with the client's version when it
is one of them, else with the newest (the client then decides whether to go on).
Must not: know any method's meaning; server.py dispatches.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

JSONRPC = "2.0"
# Newest first. 2025-06-18 adds structured tool output (outputSchema, structuredContent).
SUPPORTED_VERSIONS = ("2025-06-18", "2025-03-26", "2024-11-05")
LATEST_VERSION = SUPPORTED_VERSIONS[0]
STRUCTURED_OUTPUT_SINCE = "2025-06-18"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_BATCH = 100

Message = dict[str, Any]
RequestId = str | int | None


class ProtocolError(Exception):
    """A message that cannot be handled, answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, request_id: RequestId = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id

    def to_response(self) -> Message:
        """Return the error response for this failure."""
        return make_error(self.request_id, self.code, self.message)


@dataclasses.dataclass(frozen=True)
class Request:
    """A checked request or notification (`request_id` None and `is_notification` True)."""

    method: str
    params: dict[str, Any]
    request_id: RequestId
    is_notification: bool


def parse_message(data: bytes | str) -> Message | list[Any]:
    """Return the JSON value of one transport message (an object, or a list for a batch).

    Raises ProtocolError (parse error) for text that is not JSON, is too large or too deeply
    nested, and (invalid request) for JSON that is neither an object nor a list.
    """
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(PARSE_ERROR, f"message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text)
    except UnicodeDecodeError:
        raise ProtocolError(PARSE_ERROR, "message is not UTF-8 text") from None
    except json.JSONDecodeError as error:
        raise ProtocolError(PARSE_ERROR, f"message is not JSON: {error.msg} at "
                                         f"line {error.lineno} column {error.colno}") from None
    except RecursionError:
        raise ProtocolError(PARSE_ERROR, "message is nested too deeply") from None
    if not isinstance(value, dict | list):
        raise ProtocolError(INVALID_REQUEST, "a message must be a JSON object or a batch (list)")
    return value


def valid_id(value: Any) -> bool:
    """Return True if *value* can be a request id in MCP (a string or an integer)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def is_response(message: Any) -> bool:
    """Return True if *message* is a response (to a request this server never sends)."""
    return isinstance(message, dict) and "method" not in message and (
        "result" in message or "error" in message)


def check_request(message: Any) -> Request:
    """Return *message* as a Request. Raises ProtocolError (invalid request or params)."""
    if not isinstance(message, dict):
        raise ProtocolError(INVALID_REQUEST, "a message must be a JSON object")
    has_id = "id" in message
    request_id = message.get("id") if has_id and valid_id(message.get("id")) else None
    if message.get("jsonrpc") != JSONRPC:
        raise ProtocolError(INVALID_REQUEST, 'jsonrpc must be "2.0"', request_id)
    if has_id and not valid_id(message["id"]):
        raise ProtocolError(INVALID_REQUEST, "id must be a string or an integer")
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise ProtocolError(INVALID_REQUEST, "method must be a non-empty string", request_id)
    params = message.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ProtocolError(INVALID_PARAMS, "params must be an object", request_id)
    return Request(method, params, request_id, is_notification=not has_id)


def make_result(request_id: RequestId, result: dict[str, Any]) -> Message:
    """Return the success response to *request_id*."""
    return {"jsonrpc": JSONRPC, "id": request_id, "result": result}


def make_error(request_id: RequestId, code: int, message: str,
               data: Any = None) -> Message:
    """Return the error response to *request_id* (None when the id could not be read)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": JSONRPC, "id": request_id, "error": error}


def negotiate_version(requested: Any) -> str:
    """Return the protocol version to answer `initialize` with, for the client's *requested*."""
    return requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION


def has_structured_output(version: str | None) -> bool:
    """Return True if *version* (None: not negotiated, so the newest) has structured output."""
    return version is None or version >= STRUCTURED_OUTPUT_SINCE


def encode_message(message: Message | list[Message]) -> str:
    """Return *message* as one line of JSON (no newline inside: strings escape theirs).

    Text that cannot be UTF-8 (a lone surrogate) is sent as ASCII escapes instead.
    """
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(message, separators=(",", ":"))
    return text
