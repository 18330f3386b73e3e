"""The PostgreSQL store: 8 writers against pgbench on the same server, and recall at 100,000.

A throw-away PostgreSQL 15 server (tests/postgres_server.py: initdb + pg_ctl in a temporary
directory, Unix socket only, fsync on) serves both sides. Writes: 8 processes store memories
for DURATION_S, one memory per transaction, every `remember` timed; then pgbench's built-in
`simple-update` with 8 clients on the same server as the engine's own yardstick. Recall: the
same 100,000 generated memories and query mix as bench/recall.py, imported through the
backend, each recall timed as users get it (search plus access counts).
SQLite's 8 writers (bench/writes.py) run in the same process first, for a side-by-side figure.
Targets: writes/s >= 0.5x pgbench's tps; recall p50 <= 5 ms, p99 <= 30 ms across the mix.
Skipped (with a reason in the JSON) when PostgreSQL 15 or psycopg is not installed.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from bench.common import emit, latency_summary

DURATION_S = 4.0
WRITERS = 8
SETTINGS = types.SimpleNamespace(write_deadline_s=30.0, max_content_bytes=65536)


def writer(url: str, start_at: float, duration: float, index: int) -> None:
    """Run in a child process: write until the window closes, print latencies as JSON."""
    from mnemosyne.store.postgres import open_postgres_backend  # noqa: PLC0415

    backend = open_postgres_backend(url, SETTINGS)
    time.sleep(max(0.0, start_at - time.time()))
    latencies, errors = [], 0
    end = time.monotonic() + duration
    count = 0
    while time.monotonic() < end:
        began = time.perf_counter()
        try:
            backend.remember(f"writer {index} note {count} on shared storage and locking",
                             namespace=f"project:w{index}", tags="bench")
        except Exception:  # noqa: BLE001 - counted
            errors += 1
        latencies.append(time.perf_counter() - began)
        count += 1
    backend.close()
    json.dump({"latencies": latencies, "errors": errors}, sys.stdout)


def run_writers(url: str) -> dict:
    """Run WRITERS writer processes against *url*; return their combined figures."""
    start_at = time.time() + 1.0 + WRITERS * 0.1
    children = [subprocess.Popen([sys.executable, "-m", "bench.postgres", "--child", url,
                                  str(start_at), str(DURATION_S), str(index)],
                                 stdout=subprocess.PIPE, text=True)
                for index in range(WRITERS)]
    results = [json.loads(child.communicate()[0]) for child in children]
    latencies = [value for result in results for value in result["latencies"]]
    return {"writers": WRITERS, "writes_per_s": round(len(latencies) / DURATION_S),
            "errors": sum(result["errors"] for result in results),
            "latency": latency_summary(latencies)}


def run_pgbench(server) -> dict:
    """Run pgbench simple-update with WRITERS clients; return its transactions per second."""
    server.create_database("pgbench")
    server.pgbench("--initialize", "--quiet", "--scale", "8", database="pgbench")
    output = server.pgbench("--builtin", "simple-update", "--client", str(WRITERS), "--jobs",
                            "2", "--time", str(int(DURATION_S)), "--no-vacuum",
                            database="pgbench")
    tps = re.search(r"tps = ([0-9.]+)", output)
    latency = re.search(r"latency average = ([0-9.]+) ms", output)
    return {"clients": WRITERS, "tps": round(float(tps.group(1))) if tps else None,
            "latency_average_ms": float(latency.group(1)) if latency else None}


def run_recall(url: str) -> dict:
    """Import the 100,000 memories of bench/recall.py and time its query mix."""
    from bench import recall as sqlite_bench  # noqa: PLC0415
    from mnemosyne.store.postgres import open_postgres_backend  # noqa: PLC0415
    from mnemosyne.store.query import make_recall_query  # noqa: PLC0415

    rng = random.Random(20261128)
    vocabulary = sqlite_bench.make_vocabulary(rng)
    lines = sqlite_bench.make_lines(rng, vocabulary)
    backend = open_postgres_backend(url, SETTINGS)
    try:
        began = time.perf_counter()
        report = backend.import_lines(lines)
        import_seconds = time.perf_counter() - began
        assert report.imported == sqlite_bench.MEMORIES, report
        backend.connections.write(lambda c, _a: c.execute("ANALYZE memories"), notify=False)
        count = sqlite_bench.QUERIES_PER_KIND
        kinds = {
            "rare_term": [rng.choice(vocabulary[5000:]) for _ in range(count)],
            "common_term": [rng.choice(vocabulary[:50]) for _ in range(count)],
            "two_terms": [f"{rng.choice(vocabulary[:2000])} {rng.choice(vocabulary[:2000])}"
                          for _ in range(count)],
            "prefix": [(word := rng.choice(vocabulary))[: max(4, len(word) - rng.randint(1, 3))]
                       + "*" for _ in range(count)],
            "prefix_broad": [rng.choice(vocabulary)[: rng.randint(3, 5)] + "*"
                             for _ in range(count)],
        }

        def time_recalls(queries: list[str]) -> list[float]:
            timings = []
            for text in queries:
                query = make_recall_query(text, limit=10)
                began = time.perf_counter()
                backend.recall(query)
                timings.append(time.perf_counter() - began)
            return timings

        time_recalls([query for queries in kinds.values() for query in queries[:20]])
        results = {kind: time_recalls(queries) for kind, queries in kinds.items()}
    finally:
        backend.close()
    everything = [value for kind in sqlite_bench.MIX for value in results[kind]]
    return {"memories": sqlite_bench.MEMORIES,
            "bulk_import": {"rows": sqlite_bench.MEMORIES, "seconds": round(import_seconds, 2),
                            "rows_per_s": round(sqlite_bench.MEMORIES / import_seconds)},
            "recall": {kind: latency_summary(values) for kind, values in results.items()},
            "recall_mix": {"kinds": list(sqlite_bench.MIX), **latency_summary(everything)}}


def main() -> None:
    """Start a server, run every part, and print the figures."""
    try:
        import psycopg  # noqa: F401, PLC0415

        from tests import postgres_server  # noqa: PLC0415
    except ImportError as error:
        emit("postgres", {"skipped": f"{error.name} is not installed"})
        return
    if not postgres_server.available():
        emit("postgres", {"skipped": f"PostgreSQL 15 is not installed ({postgres_server.BIN})"})
        return
    from bench import writes as sqlite_writes  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        sqlite = sqlite_writes.run_writers(WRITERS, Path(directory))
    with postgres_server.running_server(fsync=True) as server:
        writes = run_writers(server.create_database("writes"))
        pgbench = run_pgbench(server)
        recall = run_recall(server.create_database("recall"))
    ratio = round(writes["writes_per_s"] / pgbench["tps"], 2) if pgbench["tps"] else None
    emit("postgres", {
        "server": {"version": 15, "fsync": True, "socket": "unix"},
        "duration_s": DURATION_S,
        "writes": writes,
        "sqlite_writes_same_run": sqlite,
        "pgbench_simple_update": pgbench,
        "writes_to_pgbench_ratio": ratio,
        **recall,
        "targets": {"writes_to_pgbench_ratio": ">= 0.5", "recall_mix_p50_ms": "<= 5",
                    "recall_mix_p99_ms": "<= 30"},
    })


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        writer(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
