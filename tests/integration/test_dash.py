"""mnemosyne-dash against real instances: in tmux (live screen, keys, reconnect) and --once."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")
DASH = [sys.executable, "-c", "from mnemosyne.cli.dash import main; raise SystemExit(main())"]


class Tmux:
    """A private tmux server (its own socket) running one dashboard session."""

    def __init__(self, socket_path: Path, env: dict[str, str]) -> None:
        self.socket_path = socket_path
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-S", str(self.socket_path), *args], env=self.env,
                              capture_output=True, text=True, check=check, timeout=30)

    def start(self, command: list[str]) -> None:
        self.run("new-session", "-d", "-s", "dash", "-x", "160", "-y", "48",
                 " ".join(f"'{part}'" for part in command))

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "dash").stdout

    def wait_for(self, fragment: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if re.search(fragment, text):
                return text
            assert time.monotonic() < deadline, f"no {fragment!r} on screen:\n{text}"
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.run("has-session", "-t", "dash", check=False).returncode == 0


@pytest.fixture
def tmux(tmp_path, isolated_env):
    if not shutil.which("tmux"):
        pytest.skip("needs tmux (installed by .ci/run)")
    session = Tmux(tmp_path / "tmux.sock", {**isolated_env, "TERM": "xterm-256color"})
    yield session
    session.run("kill-server", check=False)


def test_live_screen_shows_events_survives_a_restart_and_quits(tmux, start_daemon, cli):
    daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0", "--instance-id",
                          "a1b2c3d4")
    url, port = LISTENING.search(daemon.wait_for_line("listening on")).groups()
    daemon.wait_for_line("ready:")
    tmux.start([*DASH, "--api", url])
    tmux.wait_for(r"a1b2c3d4.*LIVE")
    cli("remember", "-c", "shown in tmux", "-n", "project:term").ok()
    tmux.wait_for(r"memory_stored\s+project:term \w+ shown in tmux")
    assert "heartbeats hidden" in tmux.screen()
    tmux.run("send-keys", "-t", "dash", "h")
    tmux.wait_for(r"Live events \(all types\)")
    tmux.wait_for(r"heartbeat\s+uptime")
    daemon.send(signal.SIGTERM)
    assert daemon.wait() == 0
    tmux.wait_for(r"DOWN \(")
    again = start_daemon("--with-api", "--api-addr", f"127.0.0.1:{port}", "--instance-id",
                         "a1b2c3d4")
    again.wait_for_line("listening on")
    tmux.wait_for(r"a1b2c3d4.*LIVE", timeout=30)
    tmux.wait_for(r"lagged\s+missed an unknown number of event\(s\) \(restart\)")
    tmux.run("send-keys", "-t", "dash", "q")
    deadline = time.monotonic() + 10
    while tmux.alive():
        assert time.monotonic() < deadline, tmux.screen()
        time.sleep(0.1)


def test_once_json_with_all_instances(start_daemon, isolated_env, cli):
    urls = []
    for instance_id in ("a1b2c3d4", "b2c3d4e5"):
        daemon = start_daemon("--with-api", "--api-addr", "127.0.0.1:0", "--instance-id",
                              instance_id)
        urls.append(LISTENING.search(daemon.wait_for_line("listening on")).group(1))
        daemon.wait_for_line("ready:")
    cli("remember", "-c", "in the snapshot").ok()
    time.sleep(0.5)
    done = subprocess.run([*DASH, "--all", "--once", "--format", "json"], env=isolated_env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert sorted(instance["url"] for instance in document["instances"]) == sorted(urls)
    assert {instance["health"]["instance_id"] for instance in document["instances"]} == \
        {"a1b2c3d4", "b2c3d4e5"}
    for instance in document["instances"]:
        assert any(event["type"] == "memory_stored" for event in instance["events"])
    assert len(document["registry"]) == 2
