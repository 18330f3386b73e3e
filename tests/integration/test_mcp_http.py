"""POST /mcp on a real instance's API: sessions, negotiation, access, concurrency."""

from __future__ import annotations

import concurrent.futures
import json
import re

import pytest

from tests.helpers import http_request, run_git

IN_REPO = {"MNEMOSYNE_ROOT": ""}
HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def rpc(method, params=None, request_id=1):
    message = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if request_id is not None:
        message["id"] = request_id
    return json.dumps(message).encode()


@pytest.fixture
def instance(start_daemon, git_repo):
    daemon = start_daemon("--instance-id", "a1a1a1a1", "--with-api", "--api-addr",
                          "127.0.0.1:0", "--worktree", "never", env=IN_REPO, cwd=git_repo)
    line = daemon.wait_for_line("listening on")
    daemon.wait_for_line("ready:")
    daemon.url = re.search(r"(http://\S+)", line).group(1)
    return daemon


def post(instance, body, headers=None, **options):
    return http_request(f"{instance.url}/mcp", "POST", body, {**HEADERS, **(headers or {})},
                        **options)


def initialize(instance, version="2025-06-18"):
    answer = post(instance, rpc("initialize", {
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}))
    assert answer.status == 200, answer.body
    return answer.headers["mcp-session-id"], answer.json()["result"]


def call(instance, session, name, arguments, request_id=2):
    answer = post(instance, rpc("tools/call", {"name": name, "arguments": arguments},
                                request_id), {"Mcp-Session-Id": session,
                                              "MCP-Protocol-Version": "2025-06-18"})
    assert answer.status == 200, answer.body
    return answer.json()["result"]


def test_a_session_initializes_lists_and_calls_tools(instance, cli):
    session, result = initialize(instance)
    assert result["protocolVersion"] == "2025-06-18"
    assert result["serverInfo"]["name"] == "mnemosyne"
    assert post(instance, rpc("notifications/initialized", request_id=None),
                {"Mcp-Session-Id": session}).status == 202
    tools = post(instance, rpc("tools/list"), {"Mcp-Session-Id": session}).json()
    assert "remember" in [tool["name"] for tool in tools["result"]["tools"]]
    stored = call(instance, session, "remember", {"content": "Deploys go out on Tuesdays"})
    assert stored["isError"] is False
    assert stored["structuredContent"]["memory"]["namespace"] == "project:repo"
    found = call(instance, session, "recall", {"query": "tuesdays"})
    assert len(found["structuredContent"]["memories"]) == 1
    refused = call(instance, session, "remember", {"content": ""})
    assert refused["isError"] is True and len(refused["content"]) == 1
    seen = call(instance, session, "instances", {})
    assert seen["structuredContent"]["self"] == "a1a1a1a1"
    ended = http_request(f"{instance.url}/mcp", "DELETE", headers={"Mcp-Session-Id": session})
    assert ended.status == 204
    gone = post(instance, rpc("tools/list"), {"Mcp-Session-Id": session})
    assert gone.status == 404


def test_the_instance_inbox_holds_what_its_loop_received(instance, cli, git_repo):
    session, _ = initialize(instance)
    cli("send", "--to", "a1a1a1a1", "--type", "Note", "--payload", '{"text": "rebase first"}',
        env=IN_REPO, cwd=git_repo).ok()
    instance.wait_for_line("message Note")
    inbox = call(instance, session, "inbox", {})["structuredContent"]["messages"]
    assert [message["payload"] for message in inbox] == [{"text": "rebase first"}]
    assert call(instance, session, "inbox", {})["structuredContent"]["messages"] == []


def test_versions_are_negotiated_and_unknown_ones_refused(instance):
    _, older = initialize(instance, "2025-03-26")
    assert older["protocolVersion"] == "2025-03-26"
    _, future = initialize(instance, "2099-01-01")
    assert future["protocolVersion"] == "2025-06-18"
    refused = post(instance, rpc("tools/list"), {"MCP-Protocol-Version": "1999-01-01"})
    assert refused.status == 400 and "1999-01-01" in refused.json()["error"]


def test_transport_errors_are_http_errors_and_protocol_errors_json_rpc(instance):
    assert post(instance, b"{not json").json()["error"]["code"] == -32700
    assert post(instance, rpc("tools/list"), {"Content-Type": "text/plain"}).status == 415
    assert post(instance, rpc("tools/list"), {"Accept": "text/html"}).status == 406
    assert post(instance, rpc("tools/list"), {"Mcp-Session-Id": "nope"}).status == 404
    assert http_request(f"{instance.url}/mcp").status == 405
    assert post(instance, b"x" * 300_000).status == 413
    unknown = post(instance, rpc("no/such/method")).json()
    assert unknown["error"]["code"] == -32601
    stateless = post(instance, rpc("tools/call", {"name": "list", "arguments": {}})).json()
    assert stateless["result"]["isError"] is False  # no session: still answered


@pytest.mark.parametrize(("headers", "auth", "status"), [
    ({"Host": "evil.example:3000"}, True, 403),
    ({"Origin": "http://evil.example"}, True, 403),
    ({}, False, 401),
    ({"Authorization": "Bearer wrong"}, False, 401),
])
def test_foreign_hosts_origins_and_missing_credentials_are_refused_before_any_tool(
        instance, cli, headers, auth, status):
    body = rpc("tools/call", {"name": "remember", "arguments": {"content": "planted"}})
    assert post(instance, body, headers, auth=auth).status == status
    assert "planted" not in cli("list", env=IN_REPO).ok().stdout


def test_eight_clients_remember_at_once_through_one_instance(instance, cli):
    def client(number):
        session, _ = initialize(instance)
        results = [call(instance, session, "remember",
                        {"content": f"client {number} memory {index}", "namespace": "global"},
                        request_id=index + 10)
                   for index in range(10)]
        return [result["isError"] for result in results]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        errors = [flag for flags in pool.map(client, range(8)) for flag in flags]
    assert errors == [False] * 80
    listed = json.loads(cli("list", "--namespace", "global", "--format", "json",
                            env=IN_REPO).ok().stdout)
    contents = [memory["content"] for memory in listed]
    assert sorted(contents) == sorted(f"client {n} memory {i}" for n in range(8)
                                      for i in range(10))


def test_a_worktree_instance_defaults_to_its_repository_namespace(start_daemon, git_repo):
    run_git("checkout", "-q", "-b", "side", cwd=git_repo)
    daemon = start_daemon("--instance-id", "b2b2b2b2", "--with-api", "--api-addr",
                          "127.0.0.1:0", "--worktree", "always", env=IN_REPO, cwd=git_repo)
    daemon.url = re.search(r"(http://\S+)", daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    session, _ = initialize(daemon)
    stored = call(daemon, session, "remember", {"content": "from the worktree"})
    assert stored["structuredContent"]["memory"]["namespace"] == "project:repo"
