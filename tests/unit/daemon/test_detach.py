import os
import sys

import pytest

from mnemosyne.daemon.detach import PidFile, log_destination
from mnemosyne.errors import ConflictError


def test_pidfile_is_written_locked_and_removed(tmp_path):
    path = tmp_path / "run" / "x.pid"
    pidfile = PidFile(path)
    assert pidfile.holder() is None
    with pidfile:
        assert path.read_text() == f"{os.getpid()}\n"
        assert PidFile(path).holder() == os.getpid()
        with pytest.raises(ConflictError, match="held by a running daemon"), PidFile(path):
            pass
    assert not path.exists()


def test_a_stale_pidfile_is_not_a_holder(tmp_path):
    path = tmp_path / "x.pid"
    path.write_text("123\n")
    assert PidFile(path).holder() is None
    with PidFile(path):
        assert path.read_text() == f"{os.getpid()}\n"


def test_log_goes_beside_the_pidfile_unless_stderr_is_a_file(tmp_path, monkeypatch):
    read_end, write_end = os.pipe()
    with os.fdopen(write_end, "w") as pipe:
        monkeypatch.setattr(sys, "stderr", pipe)
        stream = log_destination(tmp_path / "x.pid")
        try:
            stream.write("logged\n")
            stream.flush()
            assert (tmp_path / "x.log").read_text() == "logged\n"
            assert (tmp_path / "x.log").stat().st_mode & 0o777 == 0o600
        finally:
            stream.close()
    assert os.read(read_end, 200) == f"mnemosyne: logging to {tmp_path / 'x.log'}\n".encode()
    os.close(read_end)
    with open(tmp_path / "err.txt", "w") as regular:
        monkeypatch.setattr(sys, "stderr", regular)
        assert log_destination(tmp_path / "y.pid") is regular
    assert not (tmp_path / "y.log").exists()
