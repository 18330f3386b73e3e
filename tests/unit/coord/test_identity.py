import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnemosyne.coord import identity
from mnemosyne.errors import UsageError


def test_new_ids_are_valid_and_distinct():
    ids = {identity.new_instance_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(identity.validate_instance_id(value) for value in ids)


@pytest.mark.parametrize("raw", ["A1B2C3D4", "a1b2c3d", "a1b2c3d4e", "a1b2c3dg", "", None])
def test_invalid_ids(raw):
    with pytest.raises(UsageError, match="invalid instance id"):
        identity.validate_instance_id(raw)


def test_start_time_identifies_a_process():
    own = identity.process_start_time(os.getpid())
    assert isinstance(own, int)
    assert identity.process_is_running(os.getpid(), own)
    assert not identity.process_is_running(os.getpid(), own + 1)


def test_start_time_parses_names_with_spaces_and_parentheses(tmp_path):
    # The kernel names a process (field 2) after the file it executes: "py (x) 1".
    strange = tmp_path / "py (x) 1"
    strange.symlink_to(sys.executable)
    child = subprocess.Popen([str(strange), "-c", "import time; time.sleep(30)"])
    try:
        with open(f"/proc/{child.pid}/stat") as handle:
            assert "(py (x) 1)" in handle.read()
        assert identity.process_start_time(child.pid) is not None
        assert identity.process_is_running(child.pid, identity.process_start_time(child.pid))
    finally:
        child.kill()
        child.wait()
    assert identity.process_start_time(child.pid) is None
    assert not identity.process_is_running(child.pid, None)


def test_pid_zero_and_negative_are_not_processes():
    assert not identity.process_is_running(0, None)
    assert not identity.process_is_running(-1, None)


def test_a_zombie_counts_as_dead():
    """Regression: a SIGKILLed instance not yet reaped by its parent looked alive forever."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = identity.process_start_time(child.pid)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline
    assert identity.process_start_time(child.pid) is None
    assert not identity.process_is_running(child.pid, started)
    assert not identity.process_is_running(child.pid, None)
    child.wait()
