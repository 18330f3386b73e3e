"""Hostile input to `mnemosyne mcp`: each attack is answered with a JSON-RPC error or a tool
error on one line, and the server still answers and stores correctly afterwards.

Real `mnemosyne mcp` processes fed raw bytes on stdin (a client that is buggy or malicious).
"""

from __future__ import annotations

import json

import pytest

from tests.integration.test_mcp import (  # start_mcp: the fixture
    StdioServer,
    assert_only_json_rpc,
    start_mcp,  # noqa: F401
)


@pytest.fixture
def server(start_mcp):  # noqa: F811
    started = start_mcp()
    started.initialize()
    return started


def assert_still_serving(server: StdioServer, store) -> None:
    assert server.request("ping")["result"] == {}
    stored = server.tool("remember", content="still here")
    assert stored["isError"] is False
    assert store.get(stored["structuredContent"]["memory"]["id"]).content == "still here"
    assert server.close_stdin() == 0
    assert_only_json_rpc(server.raw)
    assert b"Traceback" not in server.stderr


def test_a_line_of_ten_megabytes_without_newline(server, store):
    server.send_raw(b"x" * 10_000_000 + b"\n")
    server.send_raw(b'{"jsonrpc":"2.0","id":"after","method":"ping"}\n')
    answers = [server.receive()]
    while answers[-1].get("id") != "after":
        answers.append(server.receive())
    assert 1 <= len(answers) - 1 <= 3
    assert all(answer["error"]["code"] == -32700 for answer in answers[:-1])
    assert_still_serving(server, store)


def test_arguments_nested_past_the_recursion_limit(server, store):
    nested = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"remember",' \
             b'"arguments":{"content":' + b"[" * 200_000 + b"]" * 200_000 + b"}}}\n"
    server.send_raw(nested)
    assert server.receive()["error"] == {"code": -32700,
                                         "message": "message is nested too deeply"}
    assert store.count() == 0
    assert_still_serving(server, store)


def test_lone_surrogates_and_nul_in_content(server, store):
    for content in ("\ud800 half a pair", "nul \x00 inside"):
        line = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                           "params": {"name": "remember", "arguments": {"content": content}}})
        server.send_raw(line.encode() + b"\n")
        answer = server.receive()
        assert answer["result"]["isError"] is True
    assert store.count() == 0
    assert_still_serving(server, store)


def test_content_over_the_size_limit(server, store):
    answer = server.tool("remember", content="x" * 70_000)
    assert answer["isError"] is True and "over the limit" in answer["content"][0]["text"]
    assert store.count() == 0
    assert_still_serving(server, store)


def test_a_batch_of_ten_thousand_requests(server, store):
    batch = [{"jsonrpc": "2.0", "id": index, "method": "tools/call",
              "params": {"name": "remember", "arguments": {"content": f"flood {index}"}}}
             for index in range(10_000)]
    server.send_raw(json.dumps(batch).encode() + b"\n")
    answer = server.receive()
    assert answer["error"]["code"] == -32600 and "batch" in answer["error"]["message"]
    assert store.count() == 0
    assert_still_serving(server, store)


def test_binary_garbage_and_odd_ids(server, store):
    for junk in (b"\x00\x01\x02\xff\n", b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n',
                 b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}\n',
                 b'{"jsonrpc":"2.0","id":[],"method":"ping"}\n'):
        server.send_raw(junk)
        answer = server.receive()
        assert answer["id"] is None and answer["error"]["code"] in (-32700, -32600)
    assert_still_serving(server, store)


def test_a_huge_method_or_tool_name_is_not_echoed_whole(server, store):
    name = "m" * 1_000_000
    answer = server.request(name)
    assert answer["error"]["code"] == -32601 and len(answer["error"]["message"]) < 200
    answer = server.request("tools/call", {"name": name})
    assert answer["error"]["code"] == -32602 and len(answer["error"]["message"]) < 400
    assert_still_serving(server, store)
