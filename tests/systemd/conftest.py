"""A real systemd user manager and journald, confined by tests/systemd/sandbox.sh.

One manager per test module. Teardown always runs: SIGTERM the manager (it stops its units),
then journald, wait for the namespace to empty, remove the child cgroups depth-first, and
assert that /proc/1/cgroup is byte for byte what it was and that nothing we started is left.
Without root, unshare or systemd the tests skip; with CI=true a skip fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port_range

SANDBOX = Path(__file__).with_name("sandbox.sh")
REPOSITORY = Path(__file__).resolve().parents[2]
PROGRAM = Path(sys.executable).with_name("mnemosyne")
SECRET = "sandbox-secret"


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        time.sleep(0.05)
    return False


class UserManager:
    """Runs systemctl and journalctl inside the sandbox's namespaces."""

    def __init__(self, state: Path, inner_pid: int) -> None:
        self.state = state
        self.inner_pid = inner_pid
        self.runtime = state / "runtime"
        self.config = state / "config"
        self.data = state / "data"
        self.root = state / "coord"
        self.program = PROGRAM

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["nsenter", "-t", str(self.inner_pid), "-p", "-m", "env",
                   f"XDG_RUNTIME_DIR={self.runtime}", f"XDG_CONFIG_HOME={self.config}", *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"{args} failed ({result.returncode}): {result.stderr}")
        return result

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", "--user", *args, check=check)

    def show(self, unit: str, prop: str) -> str:
        return self.systemctl("show", "-p", prop, "--value", unit).stdout.strip()

    def journal(self, *matches: str) -> list[dict]:
        output = self.run("journalctl", "--no-pager", "-o", "json", *matches, check=False)
        return [json.loads(line) for line in output.stdout.splitlines() if line.startswith("{")]

    def install_units(self, args: str = "") -> None:
        """Install systemd/* as `mnemosyne systemd install` will: ExecStart is this program."""
        units = self.config / "systemd" / "user"
        units.mkdir(parents=True, exist_ok=True)
        for unit in (REPOSITORY / "systemd").iterdir():
            (units / unit.name).write_text(
                unit.read_text().replace("/usr/bin/mnemosyne", str(PROGRAM)))
        env = self.config / "mnemosyne"
        env.mkdir(parents=True, exist_ok=True)
        # The sandbox shares the host's network: give the APIs eleven ports nobody uses.
        self.api_first_port = free_port_range(11)
        (env / "common.env").write_text(
            f"MNEMOSYNE_DB_PATH={self.data / 'm.db'}\nMNEMOSYNE_ROOT={self.root}\n"
            f"MNEMOSYNE_SHARED_SECRET={SECRET}\nMNEMOSYNE_ARGS={args}\n"
            f"MNEMOSYNE_API_ADDR=127.0.0.1:{self.api_first_port}\n"
            # Instances index their roots in the state directory: the sandbox's, not ~'s.
            f"XDG_STATE_HOME={self.state / 'xdg-state'}\n")
        self.systemctl("daemon-reload")

    def instances(self) -> dict[str, dict]:
        """The registry as `mnemosyne instances --all` sees it from outside the sandbox."""
        env = {**os.environ, "MNEMOSYNE_ROOT": str(self.root),
               "MNEMOSYNE_SHARED_SECRET": SECRET, "XDG_CONFIG_HOME": str(self.config)}
        result = subprocess.run([str(PROGRAM), "instances", "--all", "--format", "json"],
                                capture_output=True, text=True, env=env, check=True)
        return {view["instance_id"]: view for view in json.loads(result.stdout)}

    def wait_for(self, condition, timeout: float = 20.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)
        return result


def sandbox_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create cgroups and namespaces"
    for tool in ("unshare", "nsenter", "systemctl", "journalctl"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if not Path("/lib/systemd/systemd").exists():
        return "systemd is not installed"
    return None


@pytest.fixture(scope="module")
def user_manager(tmp_path_factory):
    reason = sandbox_unavailable()
    if reason:
        pytest.skip(reason)
    pid1_cgroup = Path("/proc/1/cgroup").read_bytes()
    state = tmp_path_factory.mktemp("sandbox")
    log = (state / "sandbox.log").open("w")
    launcher = subprocess.Popen(["bash", str(SANDBOX), str(state)], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while not (state / "runtime" / "systemd" / "private").exists():
            if launcher.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("user manager did not start: "
                                     + (state / "sandbox.log").read_text())
            time.sleep(0.05)
        inner = children(launcher.pid)[0]
        yield UserManager(state, inner)
    finally:
        _teardown(launcher, state)
        log.close()
        assert Path("/proc/1/cgroup").read_bytes() == pid1_cgroup, "PID 1 changed cgroup!"


@pytest.fixture
def installed_units(user_manager):
    """The packaged units installed; afterwards every instance stopped, failures reset."""
    user_manager.install_units()
    yield
    user_manager.systemctl("stop", "mnemosyne@*.service", check=False)
    user_manager.systemctl("reset-failed", check=False)


def _teardown(launcher: subprocess.Popen, state: Path) -> None:
    inner = children(launcher.pid)
    daemons = [pid for parent in inner for pid in children(parent)]
    managers = [pid for pid in daemons if "systemd --user" in command_line(pid)]
    journals = [pid for pid in daemons if "systemd-journald" in command_line(pid)]
    for group in (managers, journals):
        for pid in group:
            os.kill(pid, signal.SIGTERM)
        for pid in group:
            wait_gone(pid, 15)
    try:
        launcher.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
    cgroups = (state / "cgroups").read_text().split() if (state / "cgroups").exists() else []
    for cgroup in cgroups:
        for directory in sorted(Path(cgroup).glob("**/"), key=lambda p: len(p.parts),
                                reverse=True):
            directory.rmdir()
    leftovers = [pid for pid in daemons if Path(f"/proc/{pid}").exists()]
    assert not leftovers, f"sandbox processes left: {leftovers}"
