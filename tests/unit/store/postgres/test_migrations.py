import threading

import pytest

from mnemosyne.errors import UnavailableError
from mnemosyne.store.postgres import migrations, open_postgres_backend
from tests.unit.store.postgres.conftest import SETTINGS


def test_many_instances_opening_a_new_database_at_once_end_with_one_schema(
        postgres_database_url):
    backends, errors = [], []

    def open_one():
        try:
            backends.append(open_postgres_backend(postgres_database_url, SETTINGS))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        version = backends[0].connections.read(migrations.read_version)
        assert version == migrations.LATEST_VERSION
        rows = backends[0].connections.read(lambda c: c.execute(
            "SELECT count(*) FROM mnemosyne_schema").fetchone())
        assert rows == (1,)
        assert backends[0].migrate() == []
    finally:
        for backend in backends:
            backend.close()


def test_a_newer_schema_is_refused(backend, postgres_database_url, sql):
    sql("UPDATE mnemosyne_schema SET version = 99")
    with pytest.raises(UnavailableError, match="schema version 99, newer"):
        open_postgres_backend(postgres_database_url, SETTINGS)


def test_migrations_are_packaged():
    for _, filename in migrations.MIGRATIONS:
        assert "CREATE TABLE" in migrations.load_migration(filename)
