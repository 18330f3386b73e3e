"""The database part of a report-only `mnemosyne doctor` on a healthy store of 100,000 memories.

The store is filled the way bench/recall.py fills it (Zipf-distributed words, bulk import), then
closed, so that the inspection sees the file as doctor does between instances' writes. Each run
times `inspect_database` whole: opening, quick_check (with FTS5's own index check), the
read-only comparison of the full-text index with the memories, schema version, WAL size, free
space and file modes. Target: the whole report-only doctor takes <= 2 s, of which this is one
check among several.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from bench.common import emit, latency_summary, percentile
from bench.recall import MEMORIES, make_lines, make_vocabulary
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.inspection import inspect_database
from mnemosyne.store.sqlite.transfer import import_memories

RUNS = 5


def main() -> None:
    """Fill a database, inspect it a few times, and print the figures."""
    rng = random.Random(20261204)
    lines = make_lines(rng, make_vocabulary(rng))
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        path = Path(directory) / "doctor.db"
        store = SqliteBackend(Database.open(path))
        report = import_memories(store, lines)
        store.close()
        assert report.imported == MEMORIES, report
        size = path.stat().st_size
        timings, statuses = [], {}
        for _ in range(RUNS):
            began = time.perf_counter()
            facts = inspect_database(path)
            timings.append(time.perf_counter() - began)
            statuses = {fact.name: fact.status for fact in facts}
    emit("doctor_database", {
        "memories": MEMORIES,
        "database_bytes": size,
        "inspect_database": latency_summary(timings),
        "inspect_database_p50_s": round(percentile(sorted(timings), 0.5), 3),
        "statuses": statuses,
        "targets": {"inspect_database_p50_s": "<= 2 s for the whole report-only doctor"},
    })


if __name__ == "__main__":
    main()
