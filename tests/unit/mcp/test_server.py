import pytest

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import GitLocation, prepare_root
from mnemosyne.mcp import protocol
from mnemosyne.mcp.server import McpServer, McpSession, project_namespace
from mnemosyne.mcp.tools import TOOLS


@pytest.fixture
def server(store):
    return McpServer(store)


def request(method, params=None, request_id=1):
    message = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def initialize(server, session, version="2025-06-18"):
    return server.handle(request("initialize", {"protocolVersion": version, "capabilities": {},
                                                "clientInfo": {"name": "t", "version": "1"}}),
                         session)


@pytest.mark.parametrize(("offered", "answered"), [
    ("2025-06-18", "2025-06-18"), ("2025-03-26", "2025-03-26"), ("2024-11-05", "2024-11-05"),
    ("2025-11-25", "2025-06-18"), ("1999-01-01", "2025-06-18"),
])
def test_initialize_negotiates_the_version(server, offered, answered):
    session = McpSession()
    result = initialize(server, session, offered)["result"]
    assert result["protocolVersion"] == answered == session.protocol_version
    assert result["serverInfo"]["name"] == "mnemosyne"
    assert set(result["capabilities"]) == {"tools", "prompts"}
    assert session.client_info == {"name": "t", "version": "1"}
    assert server.handle({"jsonrpc": "2.0", "method": "notifications/initialized"},
                         session) is None
    assert session.initialized


def test_initialize_needs_a_version(server):
    answer = server.handle(request("initialize", {}), McpSession())
    assert answer["error"]["code"] == protocol.INVALID_PARAMS


def test_ping_unknown_methods_and_notifications(server):
    session = McpSession()
    assert server.handle(request("ping", request_id="p"), session) == \
        {"jsonrpc": "2.0", "id": "p", "result": {}}
    assert server.handle(request("server/discover"), session)["error"]["code"] == \
        protocol.METHOD_NOT_FOUND
    assert server.handle({"jsonrpc": "2.0", "method": "notifications/cancelled",
                          "params": {"requestId": 1}}, session) is None
    assert server.handle({"jsonrpc": "2.0", "method": "no/such"}, session) is None
    assert server.handle({"jsonrpc": "2.0", "id": 9, "result": {}}, session) is None
    assert server.handle({"id": 3, "method": "ping"}, session)["error"]["code"] == \
        protocol.INVALID_REQUEST


def test_batches(server):
    session = McpSession()
    answers = server.handle([request("ping", request_id=1),
                             {"jsonrpc": "2.0", "method": "notifications/initialized"},
                             request("nope", request_id=2), 5], session)
    assert [answer.get("id") for answer in answers] == [1, 2, None]
    assert "result" in answers[0] and answers[1]["error"]["code"] == protocol.METHOD_NOT_FOUND
    assert answers[2]["error"]["code"] == protocol.INVALID_REQUEST
    assert server.handle([], session)["error"]["code"] == protocol.INVALID_REQUEST
    assert server.handle([{"jsonrpc": "2.0", "method": "notifications/initialized"}],
                         session) is None
    assert server.handle([request("ping")] * 101, session)["error"]["code"] == \
        protocol.INVALID_REQUEST


def test_tools_list_has_output_schemas_only_from_2025_06_18(server):
    new, old = McpSession(), McpSession()
    initialize(server, new)
    initialize(server, old, "2025-03-26")
    tools = server.handle(request("tools/list"), new)["result"]["tools"]
    assert [tool["name"] for tool in tools] == [tool.name for tool in TOOLS]
    assert all("outputSchema" in tool and tool["inputSchema"]["type"] == "object"
               for tool in tools)
    assert all("outputSchema" not in tool
               for tool in server.handle(request("tools/list"), old)["result"]["tools"])
    remembered = server.handle(request("tools/call", {"name": "remember",
                                                      "arguments": {"content": "x"}}), old)
    assert "structuredContent" not in remembered["result"]
    assert remembered["result"]["isError"] is False


def test_tools_call_errors(server):
    session = McpSession(default_namespace="project:app")
    bad_arguments = server.handle(request("tools/call", {"name": "remember",
                                                         "arguments": {"content": 5}}), session)
    assert bad_arguments["result"]["isError"] is True
    unknown = server.handle(request("tools/call", {"name": "nope"}), session)
    assert unknown["error"]["code"] == protocol.INVALID_PARAMS and "nope" in \
        unknown["error"]["message"]
    nameless = server.handle(request("tools/call", {}), session)
    assert nameless["error"]["code"] == protocol.INVALID_PARAMS
    not_an_object = server.handle(request("tools/call", {"name": "recall",
                                                         "arguments": [1]}), session)
    assert not_an_object["result"]["isError"] is True
    stored = server.handle(request("tools/call", {"name": "remember",
                                                  "arguments": {"content": "kept"}}), session)
    assert stored["result"]["structuredContent"]["memory"]["namespace"] == "project:app"


def test_prompts(server, store):
    session = McpSession(default_namespace="project:app")
    store.remember("a decision worth loading", namespace="project:app", importance=9)
    prompts = server.handle(request("prompts/list"), session)["result"]["prompts"]
    assert [prompt["name"] for prompt in prompts] == ["context"]
    got = server.handle(request("prompts/get", {"name": "context"}), session)["result"]
    assert got["messages"][0]["role"] == "user"
    assert "a decision worth loading" in got["messages"][0]["content"]["text"]
    other = server.handle(request("prompts/get", {"name": "context",
                                                  "arguments": {"namespace": "global"}}),
                          session)["result"]
    assert "a decision" not in other["messages"][0]["content"]["text"]
    for params in ({"name": "nope"}, {"name": "context", "arguments": {"x": "1"}},
                   {"name": "context", "arguments": {"namespace": "bad ns"}}):
        assert server.handle(request("prompts/get", params), session)["error"]["code"] == \
            protocol.INVALID_PARAMS


def test_collect_messages_keeps_them_for_the_inbox_tool(server, tmp_path):
    root = prepare_root(tmp_path / "coord", start=tmp_path)
    mine = CrossProcessCoordinator(root, "aaaaaaaa", b"k" * 32)
    other = CrossProcessCoordinator(root, "bbbbbbbb", b"k" * 32)
    mine.register()
    other.register()
    try:
        session = McpSession(coordinator=mine)
        assert session.instance_id == "aaaaaaaa"
        assert session.collect_messages() == 0
        other.send_message(None, "note", {"text": "broadcast"})
        other.send_message("aaaaaaaa", "note", {"text": "direct"})
        assert session.collect_messages() == 2
        answer = server.handle(request("tools/call", {"name": "inbox"}), session)
        texts = [m["payload"]["text"] for m in answer["result"]["structuredContent"]["messages"]]
        assert texts == ["broadcast", "direct"] and len(session.inbox) == 0
    finally:
        mine.unregister()
        other.unregister()
    assert McpSession().collect_messages() == 0


def location(top):
    return GitLocation(top, top / ".git", in_linked_worktree=False, top=top)


def test_project_namespace_is_the_main_worktree_directory(tmp_path):
    assert project_namespace(None) == "global"
    assert project_namespace(location(tmp_path / "my-app")) == "project:my-app"
    assert project_namespace(location(tmp_path / "My App (v2)")) == "project:My-App--v2-"
    assert project_namespace(location(tmp_path / "...")) == "global"
    assert project_namespace(location(tmp_path / ("x" * 100))) == "project:" + "x" * 64
