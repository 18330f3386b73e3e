"""The official MCP Python SDK client (a test dependency) against `mnemosyne mcp` over stdio.

Nobody here wrote the client: it negotiates (probing `server/discover` first, then the
initialize handshake), lists the tools, calls every tool with good and bad arguments, checks
structured output against each tool's outputSchema, and reads the context prompt.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPDeprecationWarning

from mnemosyne.mcp.tools import TOOLS
from tests.helpers import run_git

pytestmark = pytest.mark.timeout(120)


def parameters(env: dict[str, str], db: Path, cwd: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable,
                                 args=["-m", "mnemosyne", "--db", str(db), "mcp", *args],
                                 env=env, cwd=cwd)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    top = tmp_path / "webshop"
    top.mkdir()
    run_git("init", "-q", "-b", "main", cwd=top)
    run_git("commit", "-q", "--allow-empty", "-m", "first", cwd=top)
    return top


@pytest.fixture
def server(isolated_env, db_path, repository):
    env = {key: value for key, value in isolated_env.items() if key != "MNEMOSYNE_ROOT"}
    return parameters(env, db_path, repository)


def run(coroutine) -> Any:
    return asyncio.run(coroutine)


async def check_output(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(name, arguments)
    assert result.is_error is False, result.content
    schema = next(tool.output_schema for tool in TOOLS if tool.name == name)
    jsonschema.validate(result.structured_content, schema)
    assert result.content[0].type == "text" and result.content[0].text
    return result.structured_content


async def check_error(client: Client, name: str, arguments: dict[str, Any],
                      fragment: str) -> None:
    result = await client.call_tool(name, arguments)
    assert result.is_error is True
    assert len(result.content) == 1 and fragment in result.content[0].text, result.content


def test_initialize_and_list_tools(server):
    async def scenario() -> None:
        async with Client(server) as client:
            assert client.protocol_version == "2025-06-18"
            assert client.server_info.name == "mnemosyne"
            assert "context" in client.instructions
            assert client.server_capabilities.tools is not None
            listed = await client.list_tools()
            assert [tool.name for tool in listed.tools] == [tool.name for tool in TOOLS]
            for tool in listed.tools:
                assert tool.input_schema["additionalProperties"] is False
                assert tool.output_schema is not None and tool.description

    run(scenario())


def test_the_plain_handshake_and_ping(server):
    async def scenario() -> None:
        async with Client(server, mode="legacy") as client:
            assert client.protocol_version == "2025-06-18"
            with warnings.catch_warnings():  # the SDK deprecates ping for its 2026 revision
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.send_ping()

    run(scenario())


def test_every_memory_tool_with_good_and_bad_arguments(server):
    async def scenario() -> None:
        async with Client(server) as client:
            stored = await check_output(client, "remember", {
                "content": "Prices are integer cents", "tags": ["money"], "importance": 8,
                "type": "decision", "summary": "cents"})
            memory = stored["memory"]
            assert memory["namespace"] == "project:webshop"
            other = (await check_output(client, "remember", {
                "content": "Always run the linter", "namespace": "global"}))["memory"]
            await check_error(client, "remember", {"content": "x", "importance": 11},
                              "at most 10")
            await check_error(client, "remember", {"text": "x"}, "missing required")
            hits = await check_output(client, "recall", {"query": "cents", "min_importance": 5,
                                                         "type": ["decision"],
                                                         "tags": ["money"], "limit": 5})
            assert [hit["id"] for hit in hits["memories"]] == [memory["id"]]
            await check_error(client, "recall", {"query": "ab*"}, "too short")
            listed = await check_output(client, "list", {"limit": 10})
            assert {item["id"] for item in listed["memories"]} == {memory["id"], other["id"]}
            await check_error(client, "list", {"limit": "ten"}, "limit must be integer")
            link = await check_output(client, "link", {"source": other["id"],
                                                       "target": memory["id"],
                                                       "type": "related"})
            assert link["link"]["link_type"] == "related"
            await check_error(client, "link", {"source": memory["id"], "target": "ffffffff",
                                               "type": "related"}, "no memory")
            shown = await check_output(client, "show", {"id": memory["id"][:8]})
            assert len(shown["links"]) == 1
            await check_error(client, "show", {"id": "zz"}, "id")
            updated = await check_output(client, "update", {"id": memory["id"],
                                                            "importance": 10,
                                                            "archived": True})
            assert updated["memory"]["importance"] == 10 and updated["memory"]["archived"]
            await check_error(client, "update", {"id": memory["id"]}, "nothing to update")
            pack = await check_output(client, "context", {})
            assert [item["id"] for item in pack["memories"]] == [other["id"]]
            await check_error(client, "context", {"namespace": "bad"}, "invalid namespace")
            assert await check_output(client, "forget", {"id": other["id"]}) == \
                {"forgotten": other["id"]}
            await check_error(client, "forget", {"id": other["id"]}, "no memory")
            with pytest.raises(MCPError, match="unknown tool"):
                await client.call_tool("nope", {})

    run(scenario())


def test_coordination_tools_and_the_prompt(server, isolated_env, db_path, repository):
    async def scenario() -> None:
        peer = parameters(server.env, db_path, repository, "--instance-id", "0000beef")
        async with Client(server) as client, Client(peer) as other:
            seen = await check_output(client, "instances", {})
            assert {item["instance_id"] for item in seen["instances"]} == \
                {seen["self"], "0000beef"}
            assert {item["branch"] for item in seen["instances"]} == {"main"}
            sent = await check_output(client, "send", {"to": "0000beef", "message": "hello",
                                                       "data": {"step": 1}})
            assert sent["message"]["payload"] == {"text": "hello", "data": {"step": 1}}
            await check_error(client, "send", {"to": "12345678", "message": "x"},
                              "no running instance")
            inbox = await check_output(other, "inbox", {})
            assert [m["payload"]["text"] for m in inbox["messages"]] == ["hello"]
            await check_error(other, "inbox", {"since": 1}, "unknown argument")
            claim = await check_output(other, "claim_branch", {"branch": "feature/pay"})
            assert claim["claim"]["instance_id"] == "0000beef"
            await check_error(client, "claim_branch", {"branch": "feature/pay"},
                              "assigned to instance 0000beef")
            await check_error(client, "claim_branch", {"branch": "x", "intent": "all"},
                              "intent must be one of")
            assert await check_output(other, "release_branch", {"branch": "feature/pay"}) == \
                {"released": 1}
            await check_error(other, "release_branch", {"branch": "a..b"}, "invalid branch")
            await check_output(client, "remember", {"content": "The shop ships on Fridays",
                                                    "importance": 9})
            prompts = await client.list_prompts()
            assert [prompt.name for prompt in prompts.prompts] == ["context"]
            got = await client.get_prompt("context", {})
            assert got.messages[0].role == "user"
            assert "The shop ships on Fridays" in got.messages[0].content.text
            with pytest.raises(MCPError):
                await client.get_prompt("nope", {})

    run(scenario())
