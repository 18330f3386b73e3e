"""The official MCP TypeScript SDK client (on the machine's Node.js) against `mnemosyne mcp`.

A second, independent client: one full round trip over stdio and one over Streamable HTTP
(initialize, tools/list, tools/call remember and recall, and a refused call). The SDK is
installed into tests/mcp_node/ by `make mcp-node` (which .ci/run runs); without it the test
is skipped (a failure in CI).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnemosyne.mcp.tools import TOOLS
from tests.helpers import run_git

NODE_DIRECTORY = Path(__file__).resolve().parents[1] / "mcp_node"
SDK = NODE_DIRECTORY / "node_modules" / "@modelcontextprotocol" / "sdk"


def test_a_full_round_trip_over_stdio(isolated_env, db_path, tmp_path):
    node = shutil.which("node")
    if node is None or not SDK.is_dir():
        pytest.skip("the MCP TypeScript SDK is not installed: run `make mcp-node`")
    repository = tmp_path / "tsproject"
    repository.mkdir()
    run_git("init", "-q", cwd=repository)
    env = {key: value for key, value in isolated_env.items() if key != "MNEMOSYNE_ROOT"}
    completed = subprocess.run(
        [node, str(NODE_DIRECTORY / "roundtrip.mjs"), sys.executable, "-m", "mnemosyne",
         "--db", str(db_path), "mcp"],
        cwd=repository, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["serverVersion"]["name"] == "mnemosyne"
    assert report["tools"] == [tool.name for tool in TOOLS]
    memory = report["stored"]["memory"]
    assert report["storedError"] is False and memory["namespace"] == "project:tsproject"
    assert [hit["id"] for hit in report["recalled"]["memories"]] == [memory["id"]]
    assert report["refused"] == {"isError": True, "text": "limit must be at least 1, not 0"}
    assert "initialized with protocol 2025-06-18" in completed.stderr


def test_a_full_round_trip_over_streamable_http(start_daemon, git_repo):
    node = shutil.which("node")
    if node is None or not SDK.is_dir():
        pytest.skip("the MCP TypeScript SDK is not installed: run `make mcp-node`")
    daemon = start_daemon("--instance-id", "d1d1d1d1", "--with-api", "--api-addr",
                          "127.0.0.1:0", "--worktree", "never", env={"MNEMOSYNE_ROOT": ""},
                          cwd=git_repo)
    url = re.search(r"(http://\S+)", daemon.wait_for_line("listening on")).group(1)
    daemon.wait_for_line("ready:")
    completed = subprocess.run(
        [node, str(NODE_DIRECTORY / "roundtrip-http.mjs"), f"{url}/mcp"],
        env={**daemon.env, "MNEMOSYNE_API_TOKEN": daemon.token}, capture_output=True,
        text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["serverVersion"]["name"] == "mnemosyne" and report["sessionId"]
    assert report["tools"] == [tool.name for tool in TOOLS]
    memory = report["stored"]["memory"]
    assert memory["namespace"] == "project:repo"
    assert [hit["id"] for hit in report["recalled"]["memories"]] == [memory["id"]]
    assert report["refused"] == {"isError": True, "text": "limit must be at least 1, not 0"}
