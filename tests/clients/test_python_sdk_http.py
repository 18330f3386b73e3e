"""The official MCP Python SDK client over Streamable HTTP, against a real instance's /mcp.

The client negotiates (probing `server/discover`, then initializing), lists the tools, calls
memory and coordination tools with good and bad arguments, reads the prompt, and ends its
session with DELETE; a client without the token cannot connect.
"""

from __future__ import annotations

import asyncio
import re

import jsonschema
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mnemosyne.mcp.tools import TOOLS

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def instance(start_daemon, git_repo):
    daemon = start_daemon("--instance-id", "c1c1c1c1", "--with-api", "--api-addr",
                          "127.0.0.1:0", "--worktree", "never", env={"MNEMOSYNE_ROOT": ""},
                          cwd=git_repo)
    daemon.url = re.search(r"(http://\S+)", daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    return daemon


def test_the_sdk_works_over_streamable_http(instance):
    async def scenario() -> None:
        headers = {"Authorization": f"Bearer {instance.token}"}
        async with create_mcp_http_client(headers=headers) as http, \
                Client(streamable_http_client(f"{instance.url}/mcp", http_client=http)) as client:
            assert client.protocol_version == "2025-06-18"
            assert client.server_info.name == "mnemosyne"
            listed = await client.list_tools()
            assert [tool.name for tool in listed.tools] == [tool.name for tool in TOOLS]
            stored = await client.call_tool("remember", {"content": "HTTP agents see this",
                                                         "importance": 9})
            assert stored.is_error is False
            schema = next(tool.output_schema for tool in TOOLS if tool.name == "remember")
            jsonschema.validate(stored.structured_content, schema)
            assert stored.structured_content["memory"]["namespace"] == "project:repo"
            hits = await client.call_tool("recall", {"query": "agents"})
            assert len(hits.structured_content["memories"]) == 1
            bad = await client.call_tool("recall", {"limit": 0})
            assert bad.is_error is True and "at least 1" in bad.content[0].text
            seen = await client.call_tool("instances", {})
            assert seen.structured_content["self"] == "c1c1c1c1"
            claim = await client.call_tool("claim_branch", {"branch": "feature/http"})
            assert claim.structured_content["claim"]["instance_id"] == "c1c1c1c1"
            prompt = await client.get_prompt("context", {})
            assert "HTTP agents see this" in prompt.messages[0].content.text

    asyncio.run(scenario())


def test_a_client_without_the_token_is_refused(instance):
    async def scenario() -> None:
        async with create_mcp_http_client() as http:
            with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the 401 its own way
                async with Client(streamable_http_client(f"{instance.url}/mcp",
                                                         http_client=http)) as client:
                    await client.list_tools()

    asyncio.run(scenario())
