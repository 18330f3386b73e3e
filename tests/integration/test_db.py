"""`mnemosyne db copy`: a SQLite store moved into a real PostgreSQL server, through the CLI."""

from __future__ import annotations

import json

from mnemosyne.store.postgres import open_postgres_backend


class PgSettings:
    write_deadline_s = 10.0
    max_content_bytes = 65536


def test_copy_sqlite_to_postgresql_keeps_every_memory_and_the_export_bytes(
        cli, db_path, postgres_database_url):
    first = json.loads(cli("remember", "-c", "the first memory", "-t", "a,b",
                           "--format", "json").ok().stdout)
    second = json.loads(cli("remember", "-c", "the second memory", "-n", "project:x",
                            "--format", "json").ok().stdout)
    assert cli("link", second["id"], first["id"], "--type", "supersedes").returncode == 0
    before = cli("export").stdout

    done = cli("db", "copy", "--from", str(db_path), "--to", postgres_database_url)
    assert done.returncode == 0, done.stderr
    assert "copied 2 memories" in done.stdout and "1 links" in done.stdout
    assert "copied 2 of" not in done.stderr  # not a terminal: no progress display
    with open_postgres_backend(postgres_database_url, PgSettings()) as backend:
        assert backend.count() == 2
    assert cli("export", db=None, env={"DATABASE_URL": postgres_database_url}).stdout == before

    again = cli("db", "copy", "--from", str(db_path), "--to", postgres_database_url)
    assert again.returncode == 0 and "2 already there" in again.stdout


def test_copy_refuses_a_bad_url_and_the_same_database(cli, db_path):
    bad = cli("db", "copy", "--from", "mysql://x/y", "--to", str(db_path))
    assert bad.returncode == 2 and bad.stderr.startswith("mnemosyne: error:")
    same = cli("db", "copy", "--from", str(db_path), "--to", f"sqlite://{db_path}")
    assert same.returncode == 2 and "same database" in same.stderr


def test_copy_from_an_unreachable_server_exits_3_without_the_password(cli, tmp_path):
    url = "postgresql://user:secret@127.0.0.1:1/db?connect_timeout=1"
    done = cli("db", "copy", "--from", url, "--to", str(tmp_path / "t.db"))
    assert done.returncode == 3, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "secret" not in done.stderr
