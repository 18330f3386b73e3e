"""Helpers shared by tests (importable, unlike conftest)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
from pathlib import Path


@dataclasses.dataclass
class CliResult:
    """What one CLI run produced."""

    returncode: int
    stdout: str
    stderr: str

    def ok(self) -> CliResult:
        assert self.returncode == 0, f"exit {self.returncode}\nstdout:\n{self.stdout}\n" \
                                     f"stderr:\n{self.stderr}"
        return self


def assert_one_line_error(result: CliResult, code: int, *fragments: str) -> None:
    """Assert a clean failure: exit *code*, one `mnemosyne: error:` line, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mnemosyne: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


class DaemonProcess:
    """A `mnemosyne serve` child: read its stderr lines, signal it, always reap it."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:

        self.process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, start_new_session=True, cwd=cwd)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        with self.process.stderr:
            for line in self.process.stderr:
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, fragment: str, timeout: float = 15.0) -> str:
        """Return the first stderr line containing *fragment*; fail with all output if none."""

        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if fragment in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None
                                      and not self._reader.is_alive()):
                    raise AssertionError(f"no line with {fragment!r}; stderr so far:\n"
                                         + "\n".join(self.lines))
                self._changed.wait(min(remaining, 0.1))

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        """TERM the whole process group, then KILL it if it lingers; always reap."""

        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self._reader.join(5)


def run_git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity; return its stdout."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout
