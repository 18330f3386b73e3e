"""A separate process that opens the shared database and writes, for concurrency tests.

Usage: store_worker.py DB START_AT COUNT WORKER_INDEX
Waits until the wall clock reaches START_AT (so all workers open the file at the same
instant), writes COUNT memories one per transaction, then prints a JSON report.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mnemosyne.errors import MnemosyneError
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database


def main() -> None:
    db_path, start_at, count, worker = Path(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4])
    time.sleep(max(0.0, start_at - time.time()))
    errors: list[str] = []
    written: list[str] = []
    try:
        database = Database.open(db_path)
    except MnemosyneError as error:
        print(json.dumps({"errors": [f"open: {error}"], "written": []}))
        return
    store = SqliteBackend(database)
    for index in range(count):
        try:
            memory = store.remember(f"worker {worker} memory {index} about concurrency",
                                    namespace=f"project:w{worker}", tags=f"w{worker}")
            written.append(memory.id)
        except Exception as error:  # noqa: BLE001 - the test counts every failure
            errors.append(f"{type(error).__name__}: {error}")
    database.close()
    print(json.dumps({"errors": errors, "written": written}))


if __name__ == "__main__":
    main()
