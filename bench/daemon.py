"""Instance figures: start -> READY=1, simultaneous starts, idle RSS and CPU, instances at once.

Each instance is a real `mnemosyne serve` whose NOTIFY_SOCKET is a datagram socket of this
benchmark, so READY=1 is timed exactly as systemd sees it. Targets: start -> READY p50 <= 300 ms
without the API and <= 500 ms with it (READY comes after the API listens), 8 simultaneous
starts (with the API) all READY within 2 s, idle RSS <= 45 MB and idle CPU <= 0.05 % of a core
over 60 s with the API on, and at least 32 instances at once with every heartbeat on time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import emit, latency_summary

STARTS = 20
IDLE_S = 60.0


class Fleet:
    """Instances started by the benchmark, all answering to one notify socket."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket_path = directory / "notify.sock"
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.server.bind(str(self.socket_path))
        self.children: list[subprocess.Popen] = []

    def start(self, instance_id: str, with_api: bool = False) -> subprocess.Popen:
        env = {**os.environ, "NOTIFY_SOCKET": str(self.socket_path),
               "MNEMOSYNE_DB_PATH": str(self.directory / "m.db"),
               "MNEMOSYNE_ROOT": str(self.directory / "coord"),
               "MNEMOSYNE_SHARED_SECRET": "bench",
               # Not the working directory itself: the API token's `mnemosyne/` folder there
               # would shadow the package for `python -m mnemosyne`.
               "XDG_CONFIG_HOME": str(self.directory / "config")}
        api = ["--with-api", "--api-addr", "127.0.0.1:0"] if with_api else []
        child = subprocess.Popen([sys.executable, "-m", "mnemosyne", "serve", "--instance-id",
                                  instance_id, "--worktree", "never", *api], env=env,
                                 cwd=self.directory, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        self.children.append(child)
        return child

    def wait_ready(self, count: int, timeout: float = 60.0) -> list[float]:
        """Return the arrival times of *count* READY=1 datagrams (reading all others)."""
        self.server.settimeout(timeout)
        times = []
        while len(times) < count:
            if self.server.recv(4096).startswith(b"READY=1"):
                times.append(time.perf_counter())
        return times

    def drain(self) -> None:
        """Read whatever datagrams are waiting (STATUS updates), as systemd would."""
        self.server.setblocking(False)
        try:
            while True:
                self.server.recv(4096)
        except BlockingIOError:
            pass
        finally:
            self.server.setblocking(True)

    def stop_all(self) -> None:
        self.drain()
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()

    def close(self) -> None:
        self.stop_all()
        self.server.close()


def cpu_ns(pid: int) -> int:
    """Exact on-CPU time of every thread of *pid* (schedstat; /proc/PID/stat counts whole
    10 ms ticks by sampling, which is too coarse for an idle process)."""
    return sum(int((task / "schedstat").read_text().split()[0])
               for task in Path(f"/proc/{pid}/task").iterdir())


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_starts(fleet: Fleet, with_api: bool) -> dict:
    timings = []
    for index in range(STARTS):
        began = time.perf_counter()
        fleet.start(f"5a{index:06x}", with_api)
        timings.append(fleet.wait_ready(1)[0] - began)
        fleet.stop_all()
    return latency_summary(timings)


def measure_simultaneous(fleet: Fleet, count: int = 8) -> dict:
    began = time.perf_counter()
    for index in range(count):
        fleet.start(f"8b{index:06x}", with_api=True)
    last = max(fleet.wait_ready(count)) - began
    fleet.stop_all()
    return {"instances": count, "with_api": True, "all_ready_s": round(last, 3)}


def measure_idle(fleet: Fleet, with_api: bool) -> dict:
    child = fleet.start("1d1e0000", with_api)
    fleet.wait_ready(1)
    time.sleep(5)
    used_before, began = cpu_ns(child.pid), time.perf_counter()
    time.sleep(IDLE_S)
    used, elapsed = cpu_ns(child.pid) - used_before, time.perf_counter() - began
    figures = {"seconds": round(elapsed, 1), "rss_mb": round(rss_mb(child.pid), 1),
               "cpu_ms": round(used / 1e6, 1),
               "cpu_percent_of_a_core": round(100 * used / 1e9 / elapsed, 4)}
    fleet.stop_all()
    return figures


def measure_many(fleet: Fleet, count: int, settle_s: float = 10.0) -> dict:
    """Start *count* instances; after *settle_s*, the worst heartbeat age in the registry."""
    for index in range(count):
        fleet.start(f"ca{index:06x}")
    fleet.wait_ready(count, timeout=300)
    deadline = time.monotonic() + settle_s
    while time.monotonic() < deadline:
        fleet.drain()
        time.sleep(0.5)
    env = {**os.environ, "MNEMOSYNE_ROOT": str(fleet.directory / "coord"),
           "MNEMOSYNE_SHARED_SECRET": "bench", "XDG_CONFIG_HOME": str(fleet.directory / "config")}
    views = json.loads(subprocess.run([sys.executable, "-m", "mnemosyne", "instances",
                                       "--format", "json"], env=env, capture_output=True,
                                      text=True, check=True).stdout)
    ages = [view["heartbeat_age_s"] for view in views]
    fleet.stop_all()
    return {"instances": count, "live": sum(view["state"] == "live" for view in views),
            "worst_heartbeat_age_s": max(ages), "heartbeat_interval_s": 2.0,
            "on_time": len(views) == count and max(ages) <= 4.0}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mnemosyne-bench-") as directory:
        fleet = Fleet(Path(directory))
        try:
            starts = measure_starts(fleet, with_api=False)
            starts_api = measure_starts(fleet, with_api=True)
            simultaneous = measure_simultaneous(fleet)
            idle = measure_idle(fleet, with_api=False)
            idle_api = measure_idle(fleet, with_api=True)
            many = [measure_many(fleet, count) for count in (32, 64)]
        finally:
            fleet.close()
    emit("daemon", {"start_to_ready_without_api": starts, "start_to_ready_with_api": starts_api,
                    "simultaneous_starts": simultaneous, "idle_without_api": idle,
                    "idle_with_api": idle_api, "instances_at_once": many,
                    "targets": {"start_to_ready_p50_ms": "<= 300 without API, <= 500 with",
                                "eight_simultaneous_all_ready_s": "<= 2",
                                "idle_rss_mb": "<= 45 (API on)",
                                "idle_cpu_percent": "<= 0.05 (API on)",
                                "instances_at_once_on_time": ">= 32"}})


if __name__ == "__main__":
    main()
