"""`optimize` at 100,000 memories: a maintenance pass beside 8 writers, and context packs.

The same 100,000 generated memories as bench/recall.py (five namespaces, importance 1-10),
plus 5 % duplicates (5,000 copies of random memories' text in their namespace, with changed
case and punctuation), imported into a fresh SQLite database.
- The pass: 8 writer processes (bench/writes.py's) store memories for WRITE_WINDOW_S without
  any pass, then again while one `mnemosyne optimize` (a process, as users run it) runs from
  the same moment until it ends (the writers stop with it: the whole pass is measured; each
  writer's first second, cold caches, is left out of both runs); the
  pass's time and what it did, and the writers' latencies (p50, p99, max) both ways. Target:
  the writers' p99 stays within their own target (15 ms) during the pass; where the writers
  alone are over it (8 writer processes on a 2-core machine at 100,000 memories), the figure
  to read is the difference between the two.
- Context packs, each timed end to end as `mnemosyne optimize --context` does it in-process
  (read-only open, candidates, pack): one namespace with global, every namespace, with a query
  text, and three budgets. Target: p50 <= 50 ms.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import recall as recall_bench
from bench.common import emit, latency_summary
from mnemosyne.config import resolve_settings
from mnemosyne.optimize.context import context_pack
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.transfer import import_memories

ROUNDS = 20
ASKS = {"one_namespace": {"namespaces": ["project:alpha"], "query": ""},
        "every_namespace": {"namespaces": None, "query": ""},
        "with_a_query": {"namespaces": ["project:beta"], "query": "kalo"}}
BUDGETS = (2048, 8192, 32768)
DUPLICATES = 5_000
WRITERS = 8
WRITE_WINDOW_S = 10.0
WARM_UP_S = 1.0  # each writer's first second (cold caches) is not counted, either way
PASS_WINDOW_CAP_S = 300.0  # the writers beside a pass stop when it ends, at the latest then


def with_duplicates(rng: random.Random, lines: list[str]) -> list[str]:
    """Return *lines* plus DUPLICATES near copies of random ones (new ids, same namespace)."""
    copies = []
    for index in range(DUPLICATES):
        record = json.loads(rng.choice(lines))
        record["id"] = f"{rng.getrandbits(32):08x}-1111-4000-8000-{index:012x}"
        record["content"] = record["content"].upper() + " !"
        copies.append(json.dumps(record))
    return lines + copies


def writers(path: Path, during: object = None) -> tuple[dict[str, float], float | None, dict]:
    """Run WRITERS writers for WRITE_WINDOW_S, or beside *during* (a pass) until it ends."""
    start_at = time.time() + 1.0
    stop = path.with_name("writers.stop")
    stop.unlink(missing_ok=True)
    window = WRITE_WINDOW_S if during is None else PASS_WINDOW_CAP_S
    children = [subprocess.Popen([sys.executable, "-m", "bench.writes", "--child", str(path),
                                  str(start_at), str(window), str(index), str(stop),
                                  str(WARM_UP_S)],
                                 stdout=subprocess.PIPE, text=True) for index in range(WRITERS)]
    took, did = None, {}
    if during is not None:
        time.sleep(max(0.0, start_at - time.time()))
        began = time.perf_counter()
        try:
            did = during()
        finally:
            took = time.perf_counter() - began
            stop.touch()
    results = [json.loads(child.communicate()[0]) for child in children]
    latencies = [value for result in results for value in result["latencies"]]
    summary = {**latency_summary(latencies),
               "errors": sum(result["errors"] for result in results)}
    return summary, took, did


def maintenance_figures(path: Path) -> dict[str, object]:
    """Time one pass beside the writers, after the same writers without it."""
    alone, _, _ = writers(path)

    def one_pass() -> dict:
        done = subprocess.run([sys.executable, "-m", "mnemosyne", "--db", str(path),
                               "optimize", "--format", "json"], check=True,
                              capture_output=True, text=True)
        report = json.loads(done.stdout)
        return {"merged": report["merged"], "groups": len(report["duplicates"]),
                "decayed": report["decayed"], "archived": report["archived"],
                "fts_merge_rounds": (report["compacted"] or {}).get("fts_merge_rounds")}

    beside, took, did = writers(path, one_pass)
    return {"pass_s": round(took or 0.0, 2), "did": did, "writers_alone": alone,
            "writers_during_pass": beside,
            "writers_p99_added_ms": round(beside["p99_ms"] - alone["p99_ms"], 2)}


def main() -> None:
    """Build the database, time the packs, print the figures."""
    rng = random.Random(20261128)
    lines = with_duplicates(rng, recall_bench.make_lines(rng, recall_bench.make_vocabulary(rng)))
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        path = Path(directory) / "optimize.db"
        with SqliteBackend(Database.open(path)) as store:
            import_memories(store, lines)
        settings = resolve_settings({"database_url": str(path)},
                                    environ={"XDG_CONFIG_HOME": f"{directory}/config",
                                             "XDG_STATE_HOME": f"{directory}/state"})
        maintenance = maintenance_figures(path)
        results, sizes = {}, {}
        for name, ask in ASKS.items():
            timings = []
            for _ in range(ROUNDS):
                for budget in BUDGETS:
                    began = time.perf_counter()
                    pack = context_pack(settings, budget=budget, unit="bytes", **ask)
                    timings.append(time.perf_counter() - began)
                    sizes[f"{name}_{budget}"] = len(pack.text)
            results[name] = latency_summary(timings)
    emit("optimize", {"memories": recall_bench.MEMORIES + DUPLICATES,
                      "maintenance": maintenance, "context": results, "pack_bytes": sizes,
                      "targets": {"context_p50_ms": "<= 50",
                                  "writers_p99_ms_during_pass": "<= 15"}})


if __name__ == "__main__":
    main()
