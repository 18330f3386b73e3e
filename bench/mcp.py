"""MCP: stdio start-up to `initialize` answered, and recall round trips at 100,000 memories.

Start-up: `python -m mnemosyne mcp` spawned afresh each time, timed from the spawn to the
`initialize` answer read on its stdout (target <= 300 ms). Recall: one stdio server on a
database of 100,000 memories (the same generated text as bench/recall.py, imported the same
way), timed per `tools/call recall` from writing the request line to reading the answer line,
over a mix of rare terms, common terms and prefixes in every namespace (`namespace: "*"`, as
the CLI searches); beside it, the CLI's `mnemosyne recall` with the same queries, timed as a
whole process (spawn to exit), which is what an agent shelling out pays; and over HTTP, a
`serve --with-api` instance on the same database answering `tools/call recall` at POST /mcp
(target p99 <= 15 ms), alternating with a bare `/health` round trip on the same connection;
then the same queries inside one project's namespace (a fifth of the memories), as an agent
recalls by default.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import emit, latency_summary
from bench.recall import make_lines, make_vocabulary
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.transfer import import_memories

STARTS = 15
QUERIES = 300
CLI_QUERIES = 30
INITIALIZE = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "bench", "version": "1"}}}


def environment(directory: Path) -> dict[str, str]:
    """Return an environment whose state, config and coordination live in *directory*."""
    keep = {key: value for key, value in os.environ.items()
            if not key.startswith(("MNEMOSYNE_", "XDG_", "NOTIFY_SOCKET", "JOURNAL_STREAM"))}
    return {**keep, "MNEMOSYNE_ROOT": str(directory / "coord"),
            "XDG_CONFIG_HOME": str(directory / "config"),
            "XDG_STATE_HOME": str(directory / "state"), "MNEMOSYNE_LOG_LEVEL": "warning"}


def spawn(db: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    """Start `mnemosyne mcp` on *db*."""
    return subprocess.Popen([sys.executable, "-m", "mnemosyne", "--db", str(db), "mcp"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=cwd)


def exchange(process: subprocess.Popen[bytes], message: dict[str, Any]) -> dict[str, Any]:
    """Send one request line and return the answer line."""
    process.stdin.write(json.dumps(message).encode() + b"\n")
    process.stdin.flush()
    return json.loads(process.stdout.readline())


def time_starts(db: Path, env: dict[str, str], cwd: Path) -> list[float]:
    """Return the spawn-to-initialize-answered time of STARTS fresh servers."""
    timings = []
    for _ in range(STARTS):
        began = time.perf_counter()
        process = spawn(db, env, cwd)
        answer = exchange(process, INITIALIZE)
        timings.append(time.perf_counter() - began)
        assert answer["result"]["protocolVersion"] == "2025-06-18", answer
        process.stdin.close()
        assert process.wait(15) == 0
        process.stdout.close()
    return timings


def time_stdio_recalls(db: Path, env: dict[str, str], cwd: Path,
                       queries: list[str]) -> list[float]:
    """Return the round trip of one `tools/call recall` per query on one server."""
    process = spawn(db, env, cwd)
    try:
        exchange(process, INITIALIZE)
        timings = []
        for index, text in enumerate(queries, start=1):
            request = {"jsonrpc": "2.0", "id": index, "method": "tools/call",
                       "params": {"name": "recall",
                                  "arguments": {"query": text, "namespace": "*", "limit": 10}}}
            began = time.perf_counter()
            answer = exchange(process, request)
            timings.append(time.perf_counter() - began)
            assert answer["result"]["isError"] is False, answer
        return timings
    finally:
        process.stdin.close()
        process.wait(15)
        process.stdout.close()


def time_cli_recalls(db: Path, env: dict[str, str], cwd: Path,
                     queries: list[str]) -> list[float]:
    """Return the whole-process time of one `mnemosyne recall` per query."""
    timings = []
    for text in queries:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "mnemosyne", "--db", str(db), "recall", text,
                        "--format", "json"], env=env, cwd=cwd, check=True,
                       stdout=subprocess.DEVNULL)
        timings.append(time.perf_counter() - began)
    return timings


def start_instance(db: Path, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str],
                                                                       str, str]:
    """Start `serve --with-api` on *db*; return it, its host:port and its API token."""
    process = subprocess.Popen([sys.executable, "-m", "mnemosyne", "--db", str(db), "serve",
                                "--with-api", "--api-addr", "127.0.0.1:0", "--worktree",
                                "never", "--log-level", "info"], env=env, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    address = ""
    for line in process.stderr:
        if "listening on http://" in line:
            address = line.rsplit("http://", 1)[1].strip()
        if "ready:" in line:
            break
    token = (Path(env["XDG_CONFIG_HOME"]) / "mnemosyne" / "api-token").read_text().strip()
    return process, address, token


def time_http(address: str, token: str, queries: list[str],
              namespace: str = "*") -> tuple[list[float], list[float]]:
    """Return the round trips of `tools/call recall` over POST /mcp and of GET /health.

    One kept-alive connection, as an MCP client holds; the two alternate, so they see the same
    machine state.
    """
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "Accept": "application/json, text/event-stream"}

    def post(message: dict[str, Any], extra: dict[str, str]) -> http.client.HTTPResponse:
        connection.request("POST", "/mcp", json.dumps(message), {**headers, **extra})
        response = connection.getresponse()
        response.read()
        return response

    session = post(INITIALIZE, {}).getheader("Mcp-Session-Id") or ""
    extra = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
    recalls, health = [], []
    for index, text in enumerate(queries, start=1):
        request = {"jsonrpc": "2.0", "id": index, "method": "tools/call",
                   "params": {"name": "recall",
                              "arguments": {"query": text, "namespace": namespace,
                                            "limit": 10}}}
        began = time.perf_counter()
        assert post(request, extra).status == 200
        recalls.append(time.perf_counter() - began)
        began = time.perf_counter()
        connection.request("GET", "/health")
        connection.getresponse().read()
        health.append(time.perf_counter() - began)
    connection.close()
    return recalls, health


def main() -> None:
    """Measure and print the figures."""
    rng = random.Random(20261204)
    vocabulary = make_vocabulary(rng)
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-mcp-") as name:
        directory = Path(name)
        env = environment(directory)
        db = directory / "mcp.db"
        starts = time_starts(directory / "empty.db", env, directory)
        database = Database.open(db)
        report = import_memories(SqliteBackend(database), make_lines(rng, vocabulary))
        database.close()
        queries = [rng.choice(vocabulary[5000:]) if kind == 0 else
                   rng.choice(vocabulary[:50]) if kind == 1 else
                   rng.choice(vocabulary)[:5] + "*"
                   for kind in (index % 3 for index in range(QUERIES))]
        time_stdio_recalls(db, env, directory, queries[:20])  # warm the page cache
        stdio = time_stdio_recalls(db, env, directory, queries)
        cli = time_cli_recalls(db, env, directory, queries[:CLI_QUERIES])
        instance, address, token = start_instance(db, env, directory)
        try:
            time_http(address, token, queries[:20])  # warm up
            http_recall, health = time_http(address, token, queries)
            in_project, _ = time_http(address, token, queries, namespace="project:alpha")
        finally:
            instance.terminate()
            instance.wait(30)
            instance.stderr.close()
    emit("mcp", {
        "memories": report.imported,
        "stdio_start_to_initialize": latency_summary(starts),
        "stdio_tools_call_recall": {"queries": "rare term, common term, 5-letter prefix; "
                                               "every namespace", **latency_summary(stdio)},
        "http_tools_call_recall": {"transport": "POST /mcp, one kept-alive connection",
                                   **latency_summary(http_recall)},
        "http_tools_call_recall_in_one_namespace": {"namespace": "project:alpha",
                                                    **latency_summary(in_project)},
        "http_health_round_trip": latency_summary(health),
        "cli_recall_whole_process": latency_summary(cli),
        "targets": {"stdio_start_to_initialize_p50_ms": "<= 300",
                    "http_tools_call_recall_p99_ms": "<= 15"},
    })


if __name__ == "__main__":
    main()
