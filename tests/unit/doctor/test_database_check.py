import os

from mnemosyne.config import resolve_settings
from mnemosyne.doctor import database_check
from mnemosyne.doctor.context import Context, Run
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database


def context(tmp_path, fix=False):
    settings = resolve_settings({"db_path": str(tmp_path / "data" / "m.db")},
                                environ={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    return Context(Run(settings, b"k", fix=fix))


def make_database(path):
    path.parent.mkdir(exist_ok=True)
    database = Database.open(path)
    SqliteBackend(database).remember("hello")
    database.close()


def test_a_missing_database_is_noted_and_not_created(tmp_path):
    findings = database_check.run(context(tmp_path))
    assert [finding.status for finding in findings] == ["ok"]
    assert "no database yet" in findings[0].message
    assert not (tmp_path / "data").exists()


def test_a_healthy_database_is_all_ok(tmp_path):
    make_database(tmp_path / "data" / "m.db")
    findings = database_check.run(context(tmp_path))
    assert {finding.status for finding in findings} == {"ok"}
    assert {finding.details["fact"] for finding in findings} >= {
        "quick_check", "fts_index", "schema_version", "wal_size", "free_space", "file_modes"}


def test_open_modes_are_reported_and_repaired_only_with_fix(tmp_path):
    path = tmp_path / "data" / "m.db"
    make_database(path)
    os.chmod(path, 0o644)
    reported = [f for f in database_check.run(context(tmp_path)) if f.status != "ok"]
    assert [(f.status, f.details["fact"]) for f in reported] == [("problem", "file_modes")]
    assert path.stat().st_mode & 0o777 == 0o644  # report-only changes nothing
    fixed = [f for f in database_check.run(context(tmp_path, fix=True)) if f.status != "ok"]
    assert [f.status for f in fixed] == ["fixed"]
    assert path.stat().st_mode & 0o777 == 0o600
    assert {f.status for f in database_check.run(context(tmp_path, fix=True))} == {"ok"}


def test_a_file_that_is_not_a_database_is_a_problem_not_an_exception(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "m.db").write_bytes(b"not sqlite" * 100)
    os.chmod(tmp_path / "data" / "m.db", 0o600)
    findings = database_check.run(context(tmp_path))
    assert any(finding.status == "problem" for finding in findings)


def postgres_context(tmp_path, url):
    settings = resolve_settings({"database_url": url},
                                environ={"XDG_CONFIG_HOME": str(tmp_path / "config")})
    return Context(Run(settings, b"k"))


def test_a_postgresql_database_that_answers_is_one_ok_finding(tmp_path, postgres_database_url):
    (finding,) = database_check.run(postgres_context(tmp_path, postgres_database_url))
    assert finding.status == "ok" and finding.message.startswith("PostgreSQL postgresql://")
    assert finding.message.endswith(" answers")


def test_an_unreachable_postgresql_server_is_one_problem_without_the_password(tmp_path):
    url = "postgresql://u:secret@127.0.0.1:1/db?connect_timeout=1"
    (finding,) = database_check.run(postgres_context(tmp_path, url))
    assert finding.status == "problem" and "secret" not in finding.message
