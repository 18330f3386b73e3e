"""Hostile input on the command line and standard input: one clear line, nothing changed."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

from tests.helpers import CliResult, assert_one_line_error


def stored_count(cli) -> int:
    return len(json.loads(cli("list", "--limit", "0", "--format", "json").ok().stdout))


def test_invalid_utf8_on_stdin_is_a_usage_error(cli, isolated_env, db_path, tmp_path):
    cli("remember", "-c", "kept").ok()
    for encoding in (None, "utf-8:surrogateescape"):  # however Python would decode stdin
        env = {**isolated_env, **({"PYTHONIOENCODING": encoding} if encoding else {})}
        completed = subprocess.run(
            [sys.executable, "-m", "mnemosyne", "--db", str(db_path), "remember", "-c", "-"],
            input=b"\xff\xfe not text", capture_output=True, env=env, cwd=tmp_path,
            timeout=60, check=False)
        result = CliResult(completed.returncode, completed.stdout.decode(),
                           completed.stderr.decode())
        assert_one_line_error(result, 2, "standard input is not valid UTF-8")
    assert stored_count(cli) == 1


def test_deeply_nested_import_line_is_refused_by_number(cli, tmp_path):
    cli("remember", "-c", "kept").ok()
    exported = cli("export").ok().stdout.splitlines()[0]
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.jsonl"
    path.write_text(exported + "\n" + deep + "\n", encoding="utf-8")
    result = cli("import", str(path))
    assert_one_line_error(result, 2, "line 2", "nested too deeply")
    nested_value = tmp_path / "nested-value.jsonl"
    nested_value.write_text('{"content": ' + deep + "}\n", encoding="utf-8")
    assert_one_line_error(cli("import", str(nested_value)), 2, "line 1")
    assert stored_count(cli) == 1


def test_empty_instance_id_is_refused_not_replaced(cli):
    result = cli("serve", "--instance-id", "", timeout=20)
    assert_one_line_error(result, 2, "invalid instance id ''")


def test_database_directories_created_private(cli, tmp_path):
    db = tmp_path / "fresh" / "deeper" / "mnemosyne.db"
    cli("remember", "-c", "private", db=db).ok()
    for directory in (tmp_path / "fresh", tmp_path / "fresh" / "deeper"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
