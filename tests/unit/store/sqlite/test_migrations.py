import apsw
import pytest

from mnemosyne.errors import UnavailableError
from mnemosyne.store.sqlite import migrations
from mnemosyne.store.sqlite.database import Database


def test_fresh_database_gets_latest_schema(tmp_path):
    database = Database.open(tmp_path / "m.db")
    connection = database.connection()
    assert migrations.read_user_version(connection) == migrations.LATEST_VERSION
    tables = {row[0] for row in connection.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")}
    assert {"memories", "memory_links", "memories_fts", "memories_fts_insert",
            "memories_fts_delete", "memories_fts_update"} <= tables
    assert database.migrate() == []
    database.close()


def test_schema_is_read_from_the_package():
    assert "CREATE TABLE memories" in migrations.load_migration("0001_initial.sql")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "m.db"
    connection = apsw.Connection(str(path))
    connection.execute(f"PRAGMA user_version={migrations.LATEST_VERSION + 1}")
    connection.close()
    with pytest.raises(UnavailableError, match="newer than this mnemosyne understands"):
        Database.open(path)


def test_applied_migration_is_reported(tmp_path):
    database = Database(tmp_path / "m.db")
    assert database.migrate() == [version for version, _ in migrations.MIGRATIONS]
    database.close()
