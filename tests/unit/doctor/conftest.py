"""A coordination root with real registry entries and real processes behind them, for checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnemosyne.config import resolve_settings
from mnemosyne.coord.identity import process_start_time, this_host
from mnemosyne.coord.registry import ProcessRegistry, utc_timestamp
from mnemosyne.coord.root import CoordinationRoot, prepare_root
from mnemosyne.doctor.context import Context, Run

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
HOLD_LOCK = ("import sys, time\n"
             "from pathlib import Path\n"
             "from mnemosyne.coord.liveness import InstanceLock\n"
             "InstanceLock(Path(sys.argv[1]), sys.argv[2]).acquire()\n"
             "print('held', flush=True)\n"
             "time.sleep(600)\n")


def snapshot(top: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under *top* (itself included) with its mode, size and modification time."""
    paths = [top, *top.rglob("*")]
    return {str(path.relative_to(top)): (path.lstat().st_mode, path.lstat().st_size,
                                         path.lstat().st_mtime_ns) for path in paths}


class World:
    """One coordination root, its settings, and the processes its entries name."""

    def __init__(self, tmp_path: Path, root: CoordinationRoot) -> None:
        self.tmp_path = tmp_path
        self.root = root
        self.settings = resolve_settings(
            environ={"XDG_CONFIG_HOME": str(tmp_path / "config"),
                     "XDG_STATE_HOME": str(tmp_path / "state")}, lenient=True)
        self.children: list[subprocess.Popen] = []

    def run(self, fix: bool = False, cleanup_stale: bool = False, clock=time.time) -> Run:
        return Run(self.settings, KEY, fix=fix, cleanup_stale=cleanup_stale, clock=clock)

    def context(self, fix: bool = False, cleanup_stale: bool = False, clock=time.time,
                root: bool = True) -> Context:
        return Context(self.run(fix, cleanup_stale, clock), self.root if root else None)

    def registry(self, key: bytes = KEY) -> ProcessRegistry:
        return ProcessRegistry(self.root, key, self.settings.stale_threshold_s, time.time)

    def register(self, instance_id: str, pid: int, *, start_time: int | None = None,
                 heartbeat_age_s: float = 0.0, key: bytes = KEY, **fields) -> dict:
        now = time.time()
        entry = {"instance_id": instance_id, "pid": pid,
                 "pid_start_time": start_time if start_time is not None
                 else process_start_time(pid) or 1,
                 "hostname": this_host(), "registered_at": utc_timestamp(now - heartbeat_age_s),
                 "last_heartbeat": utc_timestamp(now - heartbeat_age_s), "version": "t",
                 "api_url": None, "worktree_path": None, "branch": None, "systemd_unit": None,
                 **fields}
        return self.registry(key).put(entry)

    def sleeper(self) -> subprocess.Popen:
        child = subprocess.Popen(["sleep", "600"])
        self.children.append(child)
        return child

    def dead_pid(self) -> int:
        child = subprocess.Popen(["sleep", "600"])
        child.kill()
        child.wait()
        return child.pid

    def live(self, instance_id: str, **fields) -> subprocess.Popen:
        """A running process with a fresh, verified entry (no liveness lock: a probe's view)."""
        child = self.sleeper()
        self.register(instance_id, child.pid, **fields)
        return child

    def dead(self, instance_id: str, **fields) -> None:
        """A verified entry whose process is gone."""
        self.register(instance_id, self.dead_pid(), start_time=12345, **fields)

    def hung(self, instance_id: str) -> subprocess.Popen:
        """A stopped process whose entry's heartbeat is far older than the stale threshold."""
        child = self.sleeper()
        os.kill(child.pid, signal.SIGSTOP)
        self.register(instance_id, child.pid,
                      heartbeat_age_s=self.settings.stale_threshold_s * 10)
        return child

    def unverified(self, instance_id: str) -> None:
        """A dead process's entry signed with another secret."""
        self.register(instance_id, self.dead_pid(), start_time=12345, key=OTHER_KEY)

    def hold_lock(self, instance_id: str) -> subprocess.Popen:
        """Another process holding *instance_id*'s liveness lock."""
        child = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(self.root.locks),
                                  instance_id], stdout=subprocess.PIPE, text=True)
        self.children.append(child)
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        return child

    def stop(self) -> None:
        for child in self.children:
            if child.poll() is None:
                os.kill(child.pid, signal.SIGCONT)
                child.kill()
            child.wait()
            if child.stdout is not None:
                child.stdout.close()


@pytest.fixture
def world(tmp_path):
    made = World(tmp_path, prepare_root(tmp_path / "coord", start=tmp_path))
    yield made
    made.stop()


@pytest.fixture
def git_world(tmp_path, git_repo):
    made = World(tmp_path, prepare_root(git_repo / ".mnemosyne", start=git_repo))
    yield made
    made.stop()
