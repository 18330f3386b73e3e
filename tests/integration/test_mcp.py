"""`mnemosyne mcp` as a real process spoken to in raw JSON-RPC lines (no SDK needed).

The official SDK clients talk to it in tests/clients/. Here: stdout carries only JSON-RPC
lines, also under errors and on a closed stdin; SIGTERM and a closed stdin end it with status
0 and its registry entry gone; 8 servers storing at once; and two agents in two worktrees of
one repository see each other, message each other and cannot both claim one branch.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_git, stop_process_group


class StdioServer:
    """A `mnemosyne mcp` child: JSON-RPC lines in and out, stderr kept; always reaped."""

    def __init__(self, db: Path, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mnemosyne", "--db", str(db), "mcp", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            cwd=cwd, start_new_session=True)
        self.lines: queue.Queue[bytes | None] = queue.Queue()
        self.raw: list[bytes] = []
        self.stderr = b""
        self.next_id = 0
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            self.raw.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def _read_stderr(self) -> None:
        self.stderr = self.process.stderr.read()

    def send_raw(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def receive(self, timeout: float = 15.0) -> dict[str, Any]:
        line = self.lines.get(timeout=timeout)
        assert line is not None, f"stdout closed; stderr: {self.stderr.decode()}"
        return json.loads(line)

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send_raw(json.dumps(message).encode() + b"\n")
        answer = self.receive()
        assert answer["id"] == self.next_id, answer
        return answer

    def initialize(self) -> dict[str, Any]:
        answer = self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                             "clientInfo": {"name": "raw", "version": "1"}})
        self.send_raw(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        return answer["result"]

    def tool(self, name: str, **arguments: Any) -> dict[str, Any]:
        return self.request("tools/call", {"name": name, "arguments": arguments})["result"]

    def close_stdin(self) -> int:
        self.process.stdin.close()
        code = self.process.wait(15)
        self._stderr_reader.join(5)
        return code

    def stop(self) -> None:
        stop_process_group(self.process)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


@pytest.fixture
def start_mcp(isolated_env, db_path, tmp_path):
    started: list[StdioServer] = []

    def start(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
        server = StdioServer(db_path, env or isolated_env, cwd or tmp_path, *args)
        started.append(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def assert_only_json_rpc(raw: list[bytes]) -> list[dict[str, Any]]:
    messages = []
    for line in raw:
        assert line.endswith(b"\n")
        message = json.loads(line)
        assert message["jsonrpc"] == "2.0" and "id" in message
        assert ("result" in message) != ("error" in message)
        messages.append(message)
    return messages


def test_stdout_carries_only_json_rpc_under_errors_and_on_closed_stdin(start_mcp, cli):
    server = start_mcp()
    server.initialize()
    for junk in (b"not json\n", b"{\"jsonrpc\": \"2.0\"}\n", b"[]\n", b"42\n", b"\xff\xfe\n",
                 b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":"
                 b"{\"name\":\"nope\"}}\n", b"[" * 50_000 + b"\n"):
        server.send_raw(junk)
        assert "error" in server.receive()
    assert server.tool("remember", content="")["isError"] is True
    assert server.tool("show", id="deadbeef")["isError"] is True
    assert server.tool("remember", content="kept")["isError"] is False
    server.send_raw(b'{"jsonrpc":"2.0","id":99,"method":"ping"}')  # no newline before EOF
    assert server.close_stdin() == 0
    messages = assert_only_json_rpc(server.raw)
    assert messages[-1] == {"jsonrpc": "2.0", "id": 99, "result": {}}
    stderr = server.stderr.decode()
    assert "Traceback" not in stderr and "MCP server ends: input closed" in stderr
    instances = json.loads(cli("instances", "--format", "json").ok().stdout)
    assert instances == []  # unregistered on exit


def test_registered_while_running_and_gone_after_sigterm(start_mcp, cli):
    server = start_mcp("--instance-id", "abcdef12")
    server.initialize()
    listed = server.tool("instances")["structuredContent"]
    assert listed["self"] == "abcdef12"
    entry = json.loads(cli("instances", "--format", "json").ok().stdout)
    assert [(item["instance_id"], item["kind"], item["state"]) for item in entry] == \
        [("abcdef12", "mcp", "live")]
    os.killpg(server.process.pid, signal.SIGTERM)
    assert server.process.wait(15) == 0
    assert json.loads(cli("instances", "--format", "json").ok().stdout) == []
    assert_only_json_rpc(server.raw)


def test_sigint_ends_it_with_status_0(start_mcp, cli):
    server = start_mcp()
    server.initialize()
    os.killpg(server.process.pid, signal.SIGINT)
    assert server.process.wait(15) == 0
    assert json.loads(cli("instances", "--format", "json").ok().stdout) == []
    assert_only_json_rpc(server.raw)


def test_a_taken_instance_id_is_a_one_line_error(start_mcp, cli):
    first = start_mcp("--instance-id", "abcdef12")
    first.initialize()
    second = start_mcp("--instance-id", "abcdef12")
    assert second.close_stdin() == 7
    assert second.raw == []
    assert second.stderr.decode().strip().startswith("mnemosyne: error: ")


def test_eight_servers_remember_at_once(start_mcp, store):
    servers = [start_mcp() for _ in range(8)]
    for server in servers:
        server.initialize()
    barrier = threading.Barrier(8)
    results: dict[int, list[dict[str, Any]]] = {}

    def work(index: int, server: StdioServer) -> None:
        barrier.wait()
        results[index] = [server.tool("remember", content=f"memory {index}-{n}",
                                      namespace="global") for n in range(25)]

    threads = [threading.Thread(target=work, args=pair) for pair in enumerate(servers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    errors = [r for found in results.values() for r in found if r["isError"]]
    assert len(results) == 8 and errors == []
    contents = [memory.content for memory in store.list(limit=0)]
    assert sorted(contents) == sorted(f"memory {i}-{n}" for i in range(8) for n in range(25))
    for server in servers:
        assert server.close_stdin() == 0
        assert_only_json_rpc(server.raw)


@pytest.fixture
def two_worktrees(tmp_path):
    repository = tmp_path / "shop"
    repository.mkdir()
    run_git("init", "-q", "-b", "main", cwd=repository)
    run_git("commit", "-q", "--allow-empty", "-m", "first", cwd=repository)
    run_git("worktree", "add", "-q", "-b", "feature/cart", str(tmp_path / "cart"),
            cwd=repository)
    return repository, tmp_path / "cart"


def test_two_agents_in_two_worktrees_coordinate(start_mcp, isolated_env, two_worktrees):
    env = {key: value for key, value in isolated_env.items() if key != "MNEMOSYNE_ROOT"}
    main, linked = two_worktrees
    alice = start_mcp(cwd=main, env=env)
    bob = start_mcp(cwd=linked / "", env=env)
    alice.initialize()
    bob.initialize()
    seen = alice.tool("instances")["structuredContent"]
    by_branch = {item["branch"]: item for item in seen["instances"]}
    assert set(by_branch) == {"main", "feature/cart"}
    assert by_branch["feature/cart"]["worktree_path"] == str(linked)
    alice_id, bob_id = seen["self"], by_branch["feature/cart"]["instance_id"]
    assert bob.tool("instances")["structuredContent"]["self"] == bob_id
    # Both agents default to the repository's namespace, whichever worktree they are in.
    stored = bob.tool("remember", content="cart totals use integer cents")["structuredContent"]
    assert stored["memory"]["namespace"] == "project:shop"
    hits = alice.tool("recall", query="cents")["structuredContent"]["memories"]
    assert [hit["id"] for hit in hits] == [stored["memory"]["id"]]
    assert alice.tool("send", to=bob_id, message="I take the checkout")["isError"] is False
    assert bob.tool("send", to="all", message="cart is mine")["isError"] is False
    deadline = time.monotonic() + 10
    received: list[dict[str, Any]] = []
    while len(received) < 1 and time.monotonic() < deadline:
        received += bob.tool("inbox")["structuredContent"]["messages"]
    assert [(m["from_agent"], m["payload"]["text"]) for m in received] == \
        [(alice_id, "I take the checkout")]
    to_alice = alice.tool("inbox")["structuredContent"]["messages"]
    assert [(m["from_agent"], m["to_agent"], m["payload"]["text"]) for m in to_alice] == \
        [(bob_id, None, "cart is mine")]
    assert alice.tool("claim_branch", branch="feature/checkout")["isError"] is False
    refused = bob.tool("claim_branch", branch="feature/checkout")
    assert refused["isError"] is True and alice_id in refused["content"][0]["text"]
    assert alice.close_stdin() == 0  # its claims go with it
    assert bob.tool("claim_branch", branch="feature/checkout")["isError"] is False
