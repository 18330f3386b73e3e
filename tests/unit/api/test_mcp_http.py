import io
import json

import pytest

from mnemosyne.api import mcp_http
from mnemosyne.api.mcp_http import McpHttpEndpoint
from mnemosyne.mcp.server import McpServer, McpSession


class Answer:
    def __init__(self):
        self.status = None
        self.headers = {}

    def __call__(self, status, headers):
        self.status = int(status.split()[0])
        self.headers = dict(headers)


@pytest.fixture
def endpoint(store):
    return McpHttpEndpoint(McpServer(store), lambda: McpSession(default_namespace="global"),
                           max_body_bytes=4096)


def request(endpoint, body=b"", method="POST", **headers):
    environ = {"REQUEST_METHOD": method, "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
               **{f"HTTP_{key.upper()}": value for key, value in headers.items()}}
    answer = Answer()
    data = b"".join(endpoint(environ, answer))
    return answer, (json.loads(data) if data else None)


def rpc(method, params=None, request_id=1):
    message = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if request_id is not None:
        message["id"] = request_id
    return json.dumps(message).encode()


def initialize(endpoint):
    answer, body = request(endpoint, rpc("initialize", {
        "protocolVersion": "2025-03-26", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}))
    assert answer.status == 200 and body["result"]["protocolVersion"] == "2025-03-26"
    return answer.headers[mcp_http.SESSION_HEADER]


def test_initialize_opens_a_session_that_later_requests_use(endpoint):
    session = initialize(endpoint)
    answer, body = request(endpoint, rpc("tools/call", {"name": "remember", "arguments": {
        "content": "kept"}}), MCP_SESSION_ID=session)
    assert answer.status == 200 and body["result"]["isError"] is False
    assert endpoint.session(session).protocol_version == "2025-03-26"


def test_notifications_only_are_accepted_without_a_body(endpoint):
    answer, body = request(endpoint, rpc("notifications/initialized", request_id=None))
    assert (answer.status, body) == (202, None)


def test_sessions_end_on_delete_and_unknown_ones_are_404(endpoint):
    session = initialize(endpoint)
    assert request(endpoint, method="DELETE", MCP_SESSION_ID=session)[0].status == 204
    assert request(endpoint, method="DELETE", MCP_SESSION_ID=session)[0].status == 404
    assert request(endpoint, rpc("tools/list"), MCP_SESSION_ID=session)[0].status == 404


def test_the_oldest_session_goes_past_the_limit(endpoint, monkeypatch):
    monkeypatch.setattr(mcp_http, "MAX_SESSIONS", 2)
    first, second, third = (initialize(endpoint) for _ in range(3))
    assert endpoint.session(first) is None
    assert endpoint.session(second) is not None and endpoint.session(third) is not None


@pytest.mark.parametrize(("changes", "status"), [
    ({"CONTENT_TYPE": "text/plain"}, 415),
    ({"HTTP_ACCEPT": "text/html"}, 406),
    ({"HTTP_MCP_PROTOCOL_VERSION": "2000-01-01"}, 400),
])
def test_what_the_transport_refuses_before_reading(endpoint, changes, status):
    body = rpc("tools/list")
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), **changes}
    answer = Answer()
    endpoint(environ, answer)
    assert answer.status == status


def test_bodies_over_the_limit_and_bad_json(endpoint):
    assert request(endpoint, b"[" * 5000)[0].status == 413
    answer, body = request(endpoint, b"{oops")
    assert answer.status == 200 and body["error"]["code"] == -32700


def test_get_is_not_offered(endpoint):
    answer, _ = request(endpoint, method="GET")
    assert answer.status == 405 and answer.headers["Allow"] == "POST, DELETE"


class BrokenInput:
    def __init__(self, error):
        self.error = error

    def read(self, size):
        raise self.error


@pytest.mark.parametrize(("error", "status"), [
    (ValueError("Bad chunked transfer size: b'zz'"), 400),
    (TimeoutError(), 408),
    (ConnectionResetError(), 400),
])
def test_a_body_that_cannot_be_read_is_a_4xx_not_a_500(endpoint, error, status):
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": "10", "wsgi.input": BrokenInput(error)}
    answer = Answer()
    endpoint(environ, answer)
    assert answer.status == status


def test_a_short_body_and_a_failed_initialize_open_no_session(endpoint):
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/json",
               "CONTENT_LENGTH": "100", "wsgi.input": io.BytesIO(b"{}")}
    answer = Answer()
    endpoint(environ, answer)
    assert answer.status == 400
    answer, body = request(endpoint, rpc("initialize", {"protocolVersion": 5}))
    assert "error" in body and mcp_http.SESSION_HEADER not in answer.headers
    assert len(endpoint.sessions) == 0
