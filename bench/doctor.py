"""Doctor figures: cleanup beside live instances, a report on a big database, heartbeats meanwhile.

- `mnemosyne doctor --cleanup-stale` (the timer's command, as a process: interpreter start
  included) with 100 dead registry entries (each with its lock file and cursor), 20 stale
  clean worktrees and 1,000 messages past doctor's message TTL, beside 8 live instances.
  (worktrees are not --cleanup-stale's, so no git removal is in it).
- `mnemosyne doctor --fix --cleanup-stale` on the same mess, planted again: its time (git
  worktree removal included, reported apart), and the worst heartbeat age of the 8 live
  instances seen while it runs (the registry polled every 20 ms). Target < 4 s.
- report-only `mnemosyne doctor` (every check) on a healthy database of 100,000 memories.
  Target <= 2 s.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import emit

LIVE = 8
DEAD = 100
WORKTREES = 20
MESSAGES = 1000
SECRET = "bench"
# The live instances keep messages an hour (so that they leave the planted ones alone: they
# would delete them on sight, as expired); doctor, with the default TTL, finds them expired.
LIVE_TTL_S = 3600
MESSAGE_AGE_S = 600
# The live instances are woken by every planted message (inotify): let them finish first, as
# they would have long before a real mess is an hour old.
SETTLE_S = 3.0


def git(*args: str, cwd: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@example.invalid"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def environment(directory: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MNEMOSYNE_", "XDG_"))}
    return {**env, "MNEMOSYNE_SHARED_SECRET": SECRET,
            "MNEMOSYNE_DB_PATH": str(directory / "m.db"),
            "XDG_CONFIG_HOME": str(directory / "config"),
            "XDG_STATE_HOME": str(directory / "state")}


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def plant_mess(root: Path, repo: Path) -> None:
    """Dead entries with their locks and cursors, clean worktrees, expired messages."""
    from mnemosyne.coord import signing  # noqa: PLC0415
    from mnemosyne.coord.identity import this_host  # noqa: PLC0415
    from mnemosyne.coord.registry import ProcessRegistry, utc_timestamp  # noqa: PLC0415
    from mnemosyne.coord.root import prepare_root  # noqa: PLC0415

    registry = ProcessRegistry(prepare_root(root, start=repo), SECRET.encode(), 30.0, time.time)
    entries = {}
    now = utc_timestamp(time.time())
    pid = dead_pid()
    for index in range(DEAD):
        instance_id = f"de{index:06x}"
        entries[instance_id] = signing.signed({
            "instance_id": instance_id, "pid": pid, "pid_start_time": 1,
            "hostname": this_host(), "registered_at": now, "last_heartbeat": now,
            "version": "bench", "api_url": None, "worktree_path": None, "branch": None,
            "systemd_unit": None}, SECRET.encode())
        (root / "locks" / f"{instance_id}.lock").touch(mode=0o600)
        (root / "cursors" / f"{instance_id}.json").write_text("{}")
    registry.document.update(lambda data: data["instances"].update(entries))
    for index in range(WORKTREES):
        instance_id = f"de{index:06x}"
        if not (root / "worktrees" / instance_id).exists():
            git("worktree", "add", "-q", "-b", f"mnemosyne/{instance_id}-{time.time_ns()}",
                str(root / "worktrees" / instance_id), cwd=repo)
    old_ns = time.time_ns() - MESSAGE_AGE_S * 10**9
    for index in range(MESSAGES):
        name = f"{old_ns + index:019d}-aaaaaaaa-de{index % DEAD:06x}-{index:08x}.json"
        (root / "coordination_queue" / name).write_text("{}")


def timed_doctor(env: dict[str, str], repo: Path, *flags: str) -> tuple[float, dict]:
    began = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "mnemosyne", "doctor", "--json", *flags],
                            cwd=repo, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - began
    if result.returncode not in (0, 1, 4):
        raise RuntimeError(f"doctor failed: {result.stderr}")
    return elapsed, json.loads(result.stdout)


def worst_heartbeat_age(root: Path, live: set[str], stop: threading.Event, out: list) -> None:
    """Poll the registry until *stop*; record the oldest heartbeat of the live ones seen."""
    from mnemosyne.coord.registry import parse_timestamp  # noqa: PLC0415

    worst = 0.0
    while not stop.is_set():
        try:
            entries = json.loads((root / "process_registry.json").read_bytes())["instances"]
        except (OSError, ValueError):
            time.sleep(0.005)  # caught mid-write by a plain read: try again
            continue
        now = time.time()
        for instance_id in live:
            entry = entries.get(instance_id)
            if entry is not None:
                worst = max(worst, now - parse_timestamp(entry["last_heartbeat"]))
        time.sleep(0.02)
    out.append(worst)


def measure_cleanup(directory: Path) -> dict:
    repo = directory / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "README").write_text("bench\n")
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "first", cwd=repo)
    env = environment(directory)
    live = []
    for index in range(LIVE):
        live.append(subprocess.Popen(
            [sys.executable, "-m", "mnemosyne", "serve", "--instance-id", f"1e{index:06x}",
             "--worktree", "never"], cwd=repo, stdout=subprocess.DEVNULL,
            env={**env, "MNEMOSYNE_MESSAGE_TTL_S": str(LIVE_TTL_S)},
            stderr=subprocess.PIPE, text=True))
    try:
        for child in live:
            while "ready:" not in child.stderr.readline():
                pass
        root = repo / ".mnemosyne"
        plant_mess(root, repo)
        time.sleep(SETTLE_S)
        cleanup_s, cleaned = timed_doctor(env, repo, "--cleanup-stale")
        plant_mess(root, repo)
        time.sleep(SETTLE_S)
        stop, ages = threading.Event(), []
        watcher = threading.Thread(target=worst_heartbeat_age,
                                   args=(root, {f"1e{i:06x}" for i in range(LIVE)}, stop, ages))
        watcher.start()
        time.sleep(2.5)  # a whole heartbeat interval before doctor starts, as a baseline
        fix_s, fixed = timed_doctor(env, repo, "--fix", "--cleanup-stale")
        time.sleep(0.5)
        stop.set()
        watcher.join()
        still_live = json.loads((root / "process_registry.json").read_text())["instances"]
    finally:
        for child in live:
            child.terminate()
        for child in live:
            child.wait(30)
            child.stderr.close()
    return {
        "live_instances": LIVE, "dead_entries": DEAD, "stale_worktrees": WORKTREES,
        "expired_messages": MESSAGES,
        "cleanup_stale_s": round(cleanup_s, 3),
        "cleanup_stale_fixed": [item["message"][:60] for item in cleaned["checks"]
                                if item["fixed"]],
        "fix_and_cleanup_stale_s": round(fix_s, 3),
        "fix_worktrees_removed": sum("removed clean worktree" in item["message"]
                                     for item in fixed["checks"]),
        "worst_live_heartbeat_age_during_fix_s": round(ages[0], 3),
        "live_instances_untouched": all(f"1e{i:06x}" in still_live for i in range(LIVE)),
    }


def measure_report_on_big_database(directory: Path) -> dict:
    from bench.recall import MEMORIES, make_lines, make_vocabulary  # noqa: PLC0415
    from mnemosyne.store.sqlite.backend import SqliteBackend  # noqa: PLC0415
    from mnemosyne.store.sqlite.database import Database  # noqa: PLC0415
    from mnemosyne.store.sqlite.transfer import import_memories  # noqa: PLC0415

    rng = random.Random(20261204)
    database = Database.open(directory / "m.db")
    import_memories(SqliteBackend(database), make_lines(rng, make_vocabulary(rng)))
    database.close()
    env = environment(directory)
    plain = directory / "plain"
    plain.mkdir()
    timings = [timed_doctor(env, plain)[0] for _ in range(3)]
    _, document = timed_doctor(env, plain, "database")
    return {"memories": MEMORIES, "report_only_doctor_s": round(sorted(timings)[1], 3),
            "runs": [round(value, 3) for value in timings],
            "database_findings": [item["message"] for item in document["checks"]]}


def main() -> None:
    """Run both measurements in fresh directories and print the figures."""
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        (Path(directory) / "cleanup").mkdir()
        cleanup = measure_cleanup(Path(directory) / "cleanup")
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        report = measure_report_on_big_database(Path(directory))
    emit("doctor", {
        "cleanup_beside_live_instances": cleanup,
        "report_on_big_database": report,
        "targets": {"cleanup_stale_s": "<= 1", "report_only_doctor_s": "<= 2",
                    "worst_live_heartbeat_age_during_fix_s": "< 4"},
    })


if __name__ == "__main__":
    main()
