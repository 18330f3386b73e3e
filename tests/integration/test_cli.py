"""The real `mnemosyne` command, run as a subprocess on a temporary database."""

from __future__ import annotations

import json

import pytest

from tests.helpers import assert_one_line_error


def remember(cli, *args, **kwargs):
    return cli("remember", *args, **kwargs).ok().stdout.strip()


def export(cli):
    return cli("export").ok().stdout


def test_remember_recall_show_list_forget(cli):
    memory_id = remember(cli, "-c", "Prefer BEGIN IMMEDIATE for writes", "-n", "project:myapp",
                         "-i", "8", "-t", "sqlite,locking", "--type", "decision")
    assert len(memory_id) == 36
    hits = json.loads(cli("recall", "immediate", "--format", "json").ok().stdout)
    assert [hit["id"] for hit in hits] == [memory_id]
    assert hits[0]["namespace"] == "project:myapp"
    assert hits[0]["tags"] == ["sqlite", "locking"]
    assert isinstance(hits[0]["score"], float)
    assert memory_id[:8] in cli("recall", "writes").ok().stdout
    shown = json.loads(cli("show", memory_id[:8], "--format", "json").ok().stdout)
    assert shown["content"] == "Prefer BEGIN IMMEDIATE for writes"
    assert shown["access_count"] == 2
    assert "Prefer BEGIN IMMEDIATE" in cli("show", memory_id).ok().stdout
    assert memory_id[:8] in cli("list", "-n", "project:myapp").ok().stdout
    assert cli("list", "-n", "global").ok().stdout == ""
    assert cli("forget", memory_id).ok().stdout.strip() == f"forgot {memory_id}"
    assert json.loads(cli("list", "--format", "json").ok().stdout) == []


def test_content_from_stdin(cli):
    memory_id = remember(cli, "-c", "-", input="multi\nline\n")
    assert json.loads(cli("show", memory_id, "--format", "json").ok().stdout)["content"] \
        == "multi\nline\n"


def test_json_remember_output_is_one_document(cli):
    memory = json.loads(cli("remember", "-c", "x", "--format", "json").ok().stdout)
    assert set(memory) == {"id", "namespace", "content", "summary", "memory_type", "importance",
                           "tags", "created_at", "updated_at", "access_count",
                           "last_accessed_at", "archived", "superseded_by"}


def test_link_and_show_links(cli):
    a = remember(cli, "-c", "new approach")
    b = remember(cli, "-c", "old approach")
    assert "-[supersedes]->" in cli("link", a, b, "--type", "supersedes").ok().stdout
    shown = json.loads(cli("show", b, "--format", "json").ok().stdout)
    assert shown["superseded_by"] == a
    assert shown["links"][0]["link_type"] == "supersedes"


def test_export_import_round_trip_through_files(cli, tmp_path):
    for index in range(5):
        remember(cli, "-c", f"memory {index}", "-t", f"t{index}")
    target = tmp_path / "out.jsonl"
    cli("export", "-o", str(target)).ok()
    assert target.stat().st_mode & 0o777 == 0o600
    other = tmp_path / "other.db"
    result = cli("import", str(target), "--format", "json", db=other).ok()
    assert json.loads(result.stdout)["imported"] == 5
    assert cli("export", db=other).ok().stdout == target.read_text()
    assert "already present 5" in cli("import", str(target), db=other).ok().stdout


def test_import_from_stdin_into_the_default_database(cli, isolated_env):
    remember(cli, "-c", "one")
    result = cli("import", "-", input=export(cli), db=None).ok()
    assert result.stdout.startswith("imported 1")
    default = f"{isolated_env['XDG_DATA_HOME']}/mnemosyne/mnemosyne.db"
    assert cli("list", db=None).ok().stdout == cli("list").ok().stdout
    assert cli("config", "show", db=None).ok().stdout.count(default) == 1


def test_version_and_config_show(cli):
    assert cli("version").ok().stdout.startswith("mnemosyne ")
    versions = json.loads(cli("version", "--format", "json").ok().stdout)
    assert {"version", "python", "apsw", "sqlite"} <= set(versions)
    shown = json.loads(cli("config", "show", "--format", "json",
                           env={"MNEMOSYNE_SHARED_SECRET": "s3cret"}).ok().stdout)
    rows = {row["name"]: row for row in shown["settings"]}
    assert rows["database_url"]["source"] == "flag"
    assert rows["shared_secret"]["value"] == "********"
    assert "s3cret" not in json.dumps(shown)


def test_global_flags_work_after_the_command(cli, tmp_path):
    other = tmp_path / "after.db"
    remember(cli, "-c", "x", "--db", str(other), "--log-level", "error")
    assert other.exists()


def test_python_dash_m_and_help(cli):
    result = cli("--help", db=None).ok()
    assert "remember" in result.stdout
    assert "Exit status" in result.stdout


# --- bad input: one line on stderr, a documented exit code, nothing stored changes ---------

BAD_INPUT = [
    (("remember", "-c", "x", "-n", "bogus"), 2, "invalid namespace 'bogus'"),
    (("remember", "-c", "x", "-n", "project:"), 2, "invalid namespace"),
    (("remember", "-c", "x", "-i", "0"), 2, "importance 0 is out of range"),
    (("remember", "-c", "x", "-i", "11"), 2, "importance 11 is out of range"),
    (("remember", "-c", "x", "-i", "high"), 2, "importance must be a whole number"),
    (("remember", "-c", ""), 2, "content is empty"),
    (("remember", "-c", "   \t"), 2, "content is empty"),
    (("remember", "-c", "x" * 65537), 2, "over the limit of 65536 bytes"),
    (("remember", "-c", "x", "--type", "musing"), 2, "unknown memory type 'musing'"),
    (("remember", "-c", "x", "-t", "a b"), 2, "invalid tag"),
    (("remember",), 2, "required: -c/--content"),
    (("remember", "-c", "x", "--bogus"), 2, "unrecognized arguments"),
    (("recall", "x", "-l", "0"), 2, "limit 0 is out of range"),
    (("recall", "x", "--min-importance", "12"), 2, "importance 12"),
    (("recall", "x", "-n", "x:y:z"), 2, "invalid namespace"),
    (("list", "-l", "-1"), 2, "limit must be a whole number"),
    (("show", "0000aaaa-0000-4000-8000-000000000000"), 5, "no memory with id"),
    (("show", "zz"), 2, "not a memory id"),
    (("forget", "0000aaaa"), 5, "no memory with id 0000aaaa"),
    (("link", "0000aaaa", "0000bbbb", "--type", "related"), 5, "no memory with id"),
    (("link", "0000aaaa", "0000bbbb", "--type", "loves"), 2, "unknown link type"),
    (("link", "0000aaaa", "0000bbbb", "--type", "related", "--strength", "x"), 2, "strength"),
    (("import", "/nonexistent/file.jsonl"), 2, "cannot read /nonexistent/file.jsonl"),
    (("export", "-o", "/nonexistent/dir/out.jsonl"), 3, "cannot write"),
    (("config", "frobnicate"), 2, "invalid choice"),
    (("frobnicate",), 2, "invalid choice"),
    (("systemd", "install", "--start"), 2, "go with `systemd new`"),
    (("systemd", "new", "--instance-id", "NOPE"), 2, "invalid instance id"),
]


@pytest.mark.parametrize(("args", "code", "message"), BAD_INPUT,
                         ids=[" ".join(args)[:40] for args, _, _ in BAD_INPUT])
def test_bad_input_is_one_clear_line_and_changes_nothing(cli, args, code, message):
    remember(cli, "-c", "precious memory", "-t", "keep")
    before = export(cli)
    assert_one_line_error(cli(*args), code, message)
    assert export(cli) == before


def test_malformed_import_line_reports_line_number_and_imports_nothing(cli, tmp_path):
    remember(cli, "-c", "existing")
    good = export(cli)
    other = tmp_path / "other.db"
    remember_other = cli("remember", "-c", "other db memory", db=other).ok().stdout.strip()
    source = tmp_path / "in.jsonl"
    source.write_text(good + "{broken\n")
    before = cli("export", db=other).ok().stdout
    assert_one_line_error(cli("import", str(source), db=other), 2, "line 2: not valid JSON",
                          "nothing was imported")
    assert cli("export", db=other).ok().stdout == before
    result = cli("import", str(source), "--continue-on-error", db=other)
    assert result.returncode == 1
    assert "line 2 skipped" in result.stderr
    assert "Traceback" not in result.stderr
    assert remember_other in cli("export", db=other).ok().stdout


def test_not_a_database_file(cli, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("just some notes\n" * 200)
    assert_one_line_error(cli("list", db=bogus), 3, "is not a SQLite database")
    assert_one_line_error(cli("remember", "-c", "x", db=bogus), 3, "is not a SQLite database")
    assert bogus.read_text() == "just some notes\n" * 200


def test_database_path_that_is_a_directory_or_unreachable(cli, tmp_path):
    assert_one_line_error(cli("list", db=tmp_path), 3, "is a directory")
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert_one_line_error(cli("list", db=blocker / "x.db"), 3, "cannot create database directory")


def test_invalid_environment_and_config(cli, isolated_env, tmp_path):
    assert_one_line_error(cli("list", db=None, env={"DATABASE_URL": "libsql://x"}), 2,
                          "unsupported scheme 'libsql'", "sqlite:///ABSOLUTE/PATH")
    config = tmp_path / "c.toml"
    config.write_text("nonsense_key = 1\n")
    assert_one_line_error(cli("list", "--config", str(config)), 2, str(config),
                          "unknown key 'nonsense_key'")
    assert_one_line_error(cli("list", env={"MNEMOSYNE_BUSY_TIMEOUT_MS": "soon"}), 2,
                          "busy_timeout_ms from env:MNEMOSYNE_BUSY_TIMEOUT_MS")


def test_database_url_is_honoured(cli, tmp_path):
    target = tmp_path / "from-url.db"
    cli("remember", "-c", "x", db=None, env={"DATABASE_URL": f"sqlite://{target}"}).ok()
    assert target.exists()
