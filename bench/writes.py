"""Write throughput and latency: 1, 8 and 16 processes, one memory per transaction.

Each writer process opens the shared database, waits for a common start instant, then stores
memories for a fixed time, timing every `remember` call. Targets (8 writers): >= 3,000 writes/s
aggregate, 0 errors, p99 <= 15 ms, max <= 100 ms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, latency_summary

DURATION_S = 4.0
STOP_CHECK = 20
WRITER_COUNTS = (1, 8, 16)


def writer(db_path: str, start_at: float, duration: float, index: int,
           stop_file: str | None = None, warm_up_s: float = 0.0) -> None:
    """Run in a child process: write until the window closes, print latencies as JSON.

    With *stop_file*, the window also closes as soon as that file exists (checked every
    STOP_CHECK writes): for a run that lasts as long as something measured beside it. The
    writes of the first *warm_up_s* seconds are not counted.
    """
    from mnemosyne.store.sqlite.backend import SqliteBackend  # noqa: PLC0415
    from mnemosyne.store.sqlite.database import Database  # noqa: PLC0415

    store = SqliteBackend(Database.open(Path(db_path)))
    time.sleep(max(0.0, start_at - time.time()))
    latencies, errors = [], 0
    counted_from = time.monotonic() + warm_up_s
    end = time.monotonic() + duration
    count = 0
    while time.monotonic() < end:
        if stop_file is not None and count % STOP_CHECK == 0 and os.path.exists(stop_file):
            break
        began = time.perf_counter()
        try:
            store.remember(f"writer {index} note {count} on shared storage and locking",
                           namespace=f"project:w{index}", tags="bench")
        except Exception:  # noqa: BLE001 - counted
            errors += 1
        if time.monotonic() >= counted_from:
            latencies.append(time.perf_counter() - began)
        count += 1
    json.dump({"latencies": latencies, "errors": errors}, sys.stdout)


def run_writers(processes: int, directory: Path) -> dict:
    """Run *processes* writers against one fresh database; return their combined figures."""
    directory.mkdir(parents=True, exist_ok=True)
    db_path = directory / f"writes-{processes}.db"
    from mnemosyne.store.sqlite.database import Database  # noqa: PLC0415

    Database.open(db_path).close()
    start_at = time.time() + 1.0 + processes * 0.05
    children = [subprocess.Popen([sys.executable, "-m", "bench.writes", "--child", str(db_path),
                                  str(start_at), str(DURATION_S), str(index)],
                                 stdout=subprocess.PIPE, text=True)
                for index in range(processes)]
    results = [json.loads(child.communicate()[0]) for child in children]
    latencies = [value for result in results for value in result["latencies"]]
    return {"writers": processes,
            "writes_per_s": round(len(latencies) / DURATION_S),
            "errors": sum(result["errors"] for result in results),
            "latency": latency_summary(latencies)}


def main() -> None:
    """Run every writer count and print the figures."""
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        runs = [run_writers(count, Path(directory)) for count in WRITER_COUNTS]
    emit("writes", {"duration_s": DURATION_S, "runs": runs,
                    "targets_8_writers": {"writes_per_s": ">= 3000", "errors": 0,
                                          "p99_ms": "<= 15", "max_ms": "<= 100"}})


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        writer(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]),
               sys.argv[6] if len(sys.argv) > 6 else None,
               float(sys.argv[7]) if len(sys.argv) > 7 else 0.0)
    else:
        main()
