"""Live events: every write committed by another process is published at once, also the first.

Regression for memories stored by another process on a fresh database that were published
only at the next write (3 of 24 runs): the WAL's inotify event comes from the writer's first
`pwrite`, before its commit is visible, and a reader that looked in that window saw nothing
and got no further event.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from tests.helpers import DaemonProcess, SseClient, http_request

LISTENING = re.compile(r"listening on (http://\S+)")
ROUNDS = 20
DEADLINE_S = 2.0


def test_first_write_by_another_process_to_a_fresh_database_is_published_at_once(
        isolated_env, tmp_path):
    for round_number in range(ROUNDS):
        db = tmp_path / f"round{round_number}" / "mnemosyne.db"
        env = {**isolated_env, "MNEMOSYNE_ROOT": str(tmp_path / f"coord{round_number}")}
        daemon = DaemonProcess([sys.executable, "-m", "mnemosyne", "--db", str(db), "serve",
                                "--with-api", "--api-addr", "127.0.0.1:0"], env, tmp_path)
        try:
            url = LISTENING.search(daemon.wait_for_line("listening on")).group(1)
            daemon.wait_for_line("ready:")
            stream = SseClient(f"{url}/events", timeout=10.0)  # subscribed once it answers
            try:
                content = f"round {round_number}"
                stored = subprocess.run(
                    [sys.executable, "-m", "mnemosyne", "--db", str(db), "remember", "-c",
                     content], env=env, capture_output=True, text=True, timeout=30,
                    check=False)
                assert stored.returncode == 0, stored.stderr
                stored_at = time.monotonic()
                seen = []
                while time.monotonic() - stored_at < DEADLINE_S:
                    seen.append(stream.next_event())  # a heartbeat comes every 2 s at least
                    if seen[-1].event == "memory_stored":
                        break
                assert seen[-1].event == "memory_stored", (round_number, seen)
                assert time.monotonic() - stored_at < DEADLINE_S, (round_number, seen)
                assert seen[-1].json()["data"]["preview"] == content, round_number
            finally:
                stream.close()
            assert http_request(f"{url}/health").status == 200
        finally:
            daemon.stop()
