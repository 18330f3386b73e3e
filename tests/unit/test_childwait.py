"""Waiting for a child with a timeout: woken by its end, not by polling."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from mnemosyne import childwait


def start(seconds: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", str(seconds)])


def no_sleeping(seconds: float) -> None:
    raise AssertionError(f"polled: slept {seconds} s")


def test_a_child_that_ends_in_time_is_reaped_without_polling(monkeypatch):
    process = start(0.2)
    monkeypatch.setattr(time, "sleep", no_sleeping)  # Popen.wait(timeout) sleeps between checks
    assert childwait.wait_for_exit(process, 30) is True
    assert process.returncode == 0


def test_a_child_that_outlives_the_timeout_is_left_running():
    process = start(30)
    try:
        assert childwait.wait_for_exit(process, 0.2) is False
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()


def test_no_timeout_waits_for_the_end():
    process = subprocess.Popen(["sh", "-c", "exit 3"])
    assert childwait.wait_for_exit(process, None) is True
    assert process.returncode == 3


def test_a_child_that_already_ended_returns_at_once():
    process = subprocess.Popen(["true"])
    os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)  # a zombie, not reaped
    assert childwait.wait_for_exit(process, 0.01) is True
    assert process.returncode == 0


@pytest.mark.parametrize("seconds, ends", [(0.1, True), (30, False)])
def test_without_pidfds_popens_own_wait_is_used(monkeypatch, seconds, ends):
    monkeypatch.setattr(os, "pidfd_open", lambda pid: (_ for _ in ()).throw(OSError(38, "no")))
    assert childwait.open_pidfd(os.getpid()) is None
    process = start(seconds)
    try:
        assert childwait.wait_for_exit(process, 5 if ends else 0.2) is ends
    finally:
        process.kill()
        process.wait()


def test_a_child_reaped_before_is_not_looked_up_by_its_pid(monkeypatch):
    process = subprocess.Popen(["true"])
    process.wait()  # its pid may belong to another process by now

    def reused(pid):
        raise AssertionError(f"pidfd opened for pid {pid}, no longer this child's")

    monkeypatch.setattr(childwait, "open_pidfd", reused)
    assert childwait.wait_for_exit(process, 30) is True
