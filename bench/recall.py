"""Recall latency at 100,000 memories, and bulk import speed.

Memories are generated with a Zipf word distribution over a 30,000-word vocabulary (as natural
text has), imported through `import_memories` (the `mnemosyne import` path), then queried with
rare terms, common terms (the 50 most frequent words: stopword-like), two words, word-stem
prefixes and broad 3-5 letter prefixes. Each recall is timed as users get it: the search plus
the recording of access counts. The mix runs again inside one project's namespace (a fifth of
the memories), as an agent recalls by default. Targets: import >= 10,000 rows/s; recall p50
<= 2 ms and p99 <= 25 ms across the mix, in every namespace and in one.
"""

from __future__ import annotations

import itertools
import json
import random
import tempfile
import time
from pathlib import Path

from bench.common import emit, latency_summary
from mnemosyne.store import model
from mnemosyne.store.query import make_recall_query
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.recall import recall
from mnemosyne.store.sqlite.transfer import import_memories

MEMORIES = 100_000
VOCABULARY = 30_000
QUERIES_PER_KIND = 300
MIX = ("rare_term", "common_term", "prefix")  # the mix; the other kinds are reported too
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "dra", "ston",
             "bel", "cor", "fen", "gal", "hox", "jun", "lex", "mar", "nox", "pel", "rin"]
NAMESPACES = ["global", "project:alpha", "project:beta", "project:gamma", "session:alpha:1"]


def make_vocabulary(rng: random.Random) -> list[str]:
    """Return distinct pseudo-words; index 0 is the most frequent."""
    words: dict[str, None] = {}
    while len(words) < VOCABULARY:
        words["".join(rng.choices(SYLLABLES, k=rng.randint(2, 4)))] = None
    return list(words)


def make_lines(rng: random.Random, vocabulary: list[str]) -> list[str]:
    """Return MEMORIES export lines with Zipf-distributed words."""
    weights = list(itertools.accumulate(1.0 / rank for rank in range(1, VOCABULARY + 1)))
    lengths = [rng.randint(12, 60) for _ in range(MEMORIES)]
    words = rng.choices(vocabulary, cum_weights=weights, k=sum(lengths))
    lines, offset = [], 0
    for index, length in enumerate(lengths):
        stamp = f"2026-{1 + index % 12:02d}-{1 + index % 28:02d}T12:00:00.{index % 999999:06d}Z"
        lines.append(json.dumps({
            "id": f"{rng.getrandbits(32):08x}-0000-4000-8000-{index:012x}",
            "namespace": NAMESPACES[index % len(NAMESPACES)],
            "content": " ".join(words[offset:offset + length]),
            "memory_type": model.MEMORY_TYPES[index % len(model.MEMORY_TYPES)],
            "importance": 1 + index % 10, "created_at": stamp, "updated_at": stamp}))
        offset += length
    return lines


def time_recalls(store: SqliteBackend, queries: list[str],
                 namespace: str | None = None) -> list[float]:
    """Return the wall time of one recall per query (in *namespace*, or in all of them)."""
    timings = []
    for text in queries:
        query = make_recall_query(text, namespace=namespace, limit=10)
        began = time.perf_counter()
        recall(store, query)
        timings.append(time.perf_counter() - began)
    return timings


def main() -> None:
    """Generate, import, query, and print the figures."""
    rng = random.Random(20261128)
    vocabulary = make_vocabulary(rng)
    lines = make_lines(rng, vocabulary)
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        database = Database.open(Path(directory) / "recall.db")
        store = SqliteBackend(database)
        began = time.perf_counter()
        report = import_memories(store, lines)
        import_seconds = time.perf_counter() - began
        assert report.imported == MEMORIES, report
        kinds = {
            "rare_term": [rng.choice(vocabulary[5000:]) for _ in range(QUERIES_PER_KIND)],
            "common_term": [rng.choice(vocabulary[:50]) for _ in range(QUERIES_PER_KIND)],
            "two_terms": [f"{rng.choice(vocabulary[:2000])} {rng.choice(vocabulary[:2000])}"
                          for _ in range(QUERIES_PER_KIND)],
            # A word's stem, as people type it ("migrat*"): all but its last 1-3 letters.
            "prefix": [(word := rng.choice(vocabulary))[: max(4, len(word) - rng.randint(1, 3))]
                       + "*" for _ in range(QUERIES_PER_KIND)],
            # Only 3-5 letters of these syllable-built words: each matches ~1,000 words.
            "prefix_broad": [rng.choice(vocabulary)[: rng.randint(3, 5)] + "*"
                             for _ in range(QUERIES_PER_KIND)],
        }
        time_recalls(store, [query for queries in kinds.values() for query in queries[:20]])
        results = {kind: time_recalls(store, queries) for kind, queries in kinds.items()}
        # What an agent asks most: its own project's namespace (a fifth of the memories).
        in_project = {kind: time_recalls(store, kinds[kind], namespace=NAMESPACES[1])
                      for kind in MIX}
        database.close()
    everything = [value for kind in MIX for value in results[kind]]
    emit("recall", {
        "memories": MEMORIES,
        "bulk_import": {"rows": MEMORIES, "seconds": round(import_seconds, 2),
                        "rows_per_s": round(MEMORIES / import_seconds)},
        "recall": {kind: latency_summary(values) for kind, values in results.items()},
        "recall_mix": {"kinds": list(MIX), **latency_summary(everything)},
        "recall_in_one_namespace": {kind: latency_summary(values)
                                    for kind, values in in_project.items()},
        "recall_in_one_namespace_mix": {
            "namespace": NAMESPACES[1], "kinds": list(MIX),
            **latency_summary([value for values in in_project.values() for value in values])},
        "targets": {"bulk_import_rows_per_s": ">= 10000", "recall_mix_p50_ms": "<= 2",
                    "recall_mix_p99_ms": "<= 25", "recall_in_one_namespace_mix_p99_ms": "<= 25"},
    })


if __name__ == "__main__":
    main()
