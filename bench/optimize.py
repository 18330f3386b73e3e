"""`optimize --context` at 100,000 memories: how long a context pack takes (p50, p99).

The same 100,000 generated memories as bench/recall.py (five namespaces, importance 1-10),
imported into a fresh SQLite database; then packs as agents ask for them at start, each
timed end to end as `mnemosyne optimize --context` does it in-process (read-only open,
candidates, pack): one namespace with global, every namespace, with a query text, and three
budgets. Target: p50 <= 50 ms. (The maintenance pass is not built yet: no figure for it.)
"""

from __future__ import annotations

import random
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


def main() -> None:
    """Build the database, time the packs, print the figures."""
    rng = random.Random(20261128)
    lines = recall_bench.make_lines(rng, recall_bench.make_vocabulary(rng))
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        path = Path(directory) / "optimize.db"
        with SqliteBackend(Database.open(path)) as store:
            import_memories(store, lines)
        settings = resolve_settings({"database_url": str(path)},
                                    environ={"XDG_CONFIG_HOME": f"{directory}/config",
                                             "XDG_STATE_HOME": f"{directory}/state"})
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
    emit("optimize", {"memories": recall_bench.MEMORIES, "context": results,
                      "pack_bytes": sizes,
                      "targets": {"context_p50_ms": "<= 50"}})


if __name__ == "__main__":
    main()
