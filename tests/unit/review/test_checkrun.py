import os
import time

import pytest

from mnemosyne.review import checkrun


def running(pid: int) -> bool:
    """Return True if *pid* is a process that is not a zombie (killed, not yet reaped)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] in "ZX":
                    return False
        except FileNotFoundError:
            return False
        time.sleep(0.05)
    return True


def test_a_passing_and_a_failing_check(tmp_path):
    passed = checkrun.run_check("echo hello; pwd", tmp_path, 10)
    assert passed.passed and passed.exit_status == 0
    assert passed.output == f"hello\n{tmp_path}\n"
    failed = checkrun.run_check("echo oops >&2; exit 3", tmp_path, 10)
    assert not failed.passed and failed.exit_status == 3 and failed.output == "oops\n"


def test_only_the_last_two_kilobytes_are_kept(tmp_path):
    result = checkrun.run_check("python3 -c \"print('é' * 5000, end='')\"; echo; echo end",
                                tmp_path, 10)
    assert result.output.endswith("end\n")
    assert len(result.output.encode()) <= checkrun.TAIL_BYTES
    assert "\ufffd" not in result.output


def test_a_timeout_kills_the_whole_process_group(tmp_path):
    marker = tmp_path / "child.pid"
    started = time.monotonic()
    result = checkrun.run_check(f"sleep 30 & echo $! > {marker}; wait", tmp_path, 0.5)
    assert result.timed_out and result.exit_status is None and not result.passed
    assert time.monotonic() - started < 5
    assert not running(int(marker.read_text()))


def test_a_background_child_does_not_hold_the_check_open(tmp_path):
    started = time.monotonic()
    result = checkrun.run_check("sleep 30 & echo started", tmp_path, 20)
    assert result.passed and result.output == "started\n"
    assert time.monotonic() - started < 5


def test_the_stop_descriptor_stops_the_check(tmp_path):
    read_end, write_end = os.pipe()
    ticks = []
    try:
        os.write(write_end, b"x")
        started = time.monotonic()
        with pytest.raises(checkrun.CheckStopped):
            checkrun.run_check("sleep 30", tmp_path, 20, read_end, lambda: ticks.append(1))
        assert time.monotonic() - started < 2
    finally:
        os.close(read_end)
        os.close(write_end)


def test_tick_is_called_while_it_runs(tmp_path):
    ticks = []
    checkrun.run_check("sleep 0.6", tmp_path, 10, tick=lambda: ticks.append(1))
    assert len(ticks) >= 2
