"""Hostile command-line input: refused with one line and exit 2, nothing changed.

Real CLI subprocesses: invalid UTF-8 on standard input, an import line nested deeply enough
to exhaust Python's recursion limit, an empty instance id; and the mode of the database
directories mnemosyne creates.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys

from tests.helpers import assert_one_line_error


def test_invalid_utf8_on_stdin_is_refused(cli, isolated_env, db_path, tmp_path):
    done = subprocess.run([sys.executable, "-m", "mnemosyne", "--db", str(db_path),
                           "remember", "-c", "-"], input=b"\xff\xfe not text\n",
                          capture_output=True, env=isolated_env, cwd=tmp_path, timeout=60,
                          check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.decode().strip().splitlines()
    assert lines == ["mnemosyne: error: standard input is not valid UTF-8 text"]
    assert json.loads(cli("list", "--format", "json").ok().stdout) == []


def test_deeply_nested_import_line_is_refused_by_line(cli, tmp_path):
    good = cli("remember", "-c", "kept", "--format", "json").ok()
    memory = json.loads(good.stdout)
    exported = cli("export").ok().stdout
    path = tmp_path / "hostile.jsonl"
    path.write_text(exported + "[" * 100_000 + "]" * 100_000 + "\n")
    assert_one_line_error(cli("import", str(path)), 2, "line 2", "nested too deeply")
    assert [item["id"] for item in json.loads(cli("list", "--format", "json").ok().stdout)] \
        == [memory["id"]]


def test_empty_instance_id_is_refused(cli):
    assert_one_line_error(cli("serve", "--instance-id", ""), 2, "instance id")


def test_database_directories_mnemosyne_creates_are_private(cli, tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    db = existing / "a" / "b" / "m.db"
    cli("remember", "-c", "private", db=db).ok()
    for directory in (existing / "a", existing / "a" / "b"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # existing ones are left alone
