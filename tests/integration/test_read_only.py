"""A database whose directory is read-only: clear errors, exit 3, stored data untouched."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error


@pytest.fixture
def read_only_prefix(db_path: Path):
    """A command prefix under which the database directory is read-only, even for root."""
    directory = db_path.parent
    if os.geteuid() != 0:
        directory.chmod(0o555)
        yield ()
        directory.chmod(0o700)
        return
    if not shutil.which("unshare"):
        pytest.skip("root without unshare cannot make a read-only directory")
    script = (f"mount --bind {directory} {directory} && "
              f"mount -o remount,bind,ro {directory} && exec \"$@\"")
    yield ("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh")


@pytest.mark.parametrize("args", [("list",), ("recall", "precious"), ("remember", "-c", "new"),
                                  ("export",), ("forget", "0000aaaa")])
def test_read_only_database_directory(cli, read_only_prefix, args):
    cli("remember", "-c", "precious memory").ok()
    before = cli("export").ok().stdout
    assert_one_line_error(cli(*args, prefix=read_only_prefix), 3, "directory is read-only")
    assert cli("export").ok().stdout == before
