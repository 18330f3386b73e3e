import logging
import threading
import time

import pytest

from mnemosyne.errors import UnavailableError
from mnemosyne.store.postgres import open_postgres_backend
from mnemosyne.store.postgres.connection import Connections, redact_url, split_password
from tests.postgres_server import PASSWORD_ROLE
from tests.unit.store.postgres.conftest import SETTINGS

SECRET = "s3cr%t:p@ss"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://user:pw@db.example:5432/mem", "postgresql://user@db.example:5432/mem"),
    ("postgres://user:p%40w@h/db?sslmode=require&password=pw2",
     "postgres://user@h/db?sslmode=require"),
    ("postgresql:///mem?host=/run/postgresql", "postgresql:///mem?host=/run/postgresql"),
    ("postgresql://h1,h2/db", "postgresql://h1,h2/db"),
])
def test_passwords_are_removed_from_urls(url, shown):
    assert redact_url(url) == shown


def test_passwords_are_removed_from_key_value_strings():
    shown = redact_url("host=db user=u password=secret dbname=m")
    assert sorted(shown.split()) == ["dbname=m", "host=db", "user=u"]


def test_every_form_of_the_password_is_known_for_scrubbing():
    _, secrets = split_password("postgresql://u:p%40w@h/db?password=other")
    assert {"p%40w", "p@w", "other"} <= set(secrets)
    assert redact_url("host='unclosed") == "(an invalid connection string)"


def test_a_wrong_password_never_shows(postgres_server_session, postgres_database_url, caplog):
    server = postgres_server_session
    database = postgres_database_url.split("?")[0].rsplit("/", 1)[1]
    server.psql(f"DO $$ BEGIN CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD 'right'; "
                "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    server.psql(f"GRANT ALL ON SCHEMA public TO {PASSWORD_ROLE}", database)
    url = server.url(database, PASSWORD_ROLE, SECRET)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnavailableError) as caught:
        open_postgres_backend(url, SETTINGS)
    message = str(caught.value)
    assert "\n" not in message and "password authentication failed" in message
    assert SECRET not in message and "s3cr" not in message
    assert "s3cr" not in caplog.text
    # The right password works; the URL shown has none.
    good = server.url(database, PASSWORD_ROLE, "right")
    backend = open_postgres_backend(good, SETTINGS)
    try:
        assert "right" not in backend.display_url and PASSWORD_ROLE in backend.display_url
        assert backend.health().ok and "right" not in backend.health().detail
    finally:
        backend.close()


def test_an_unreachable_server_is_one_clear_line(tmp_path):
    url = f"postgresql://nobody:pw@/db?host={tmp_path}&port=1"
    with pytest.raises(UnavailableError) as caught:
        open_postgres_backend(url, SETTINGS)
    assert str(caught.value).startswith("cannot connect to PostgreSQL at postgresql://nobody@/db")
    assert "pw" not in str(caught.value).replace("pwd", "")
    assert caught.value.exit_code == 3


def test_each_thread_has_its_own_connection_and_reads_reconnect(postgres_url):
    connections = Connections(postgres_url)
    try:
        mine = connections.connection()
        theirs = []
        thread = threading.Thread(target=lambda: theirs.append(connections.connection()))
        thread.start()
        thread.join()
        assert theirs[0] is not mine
        assert connections.connection() is mine
        mine.close()  # as if the server had dropped it
        assert connections.read(lambda c: c.execute("SELECT 1").fetchone()) == (1,)
        assert connections.connection() is not mine
    finally:
        connections.close()
    with pytest.raises(UnavailableError, match="closed"):
        connections.connection()


def test_a_failing_statement_is_not_retried(postgres_url):
    connections = Connections(postgres_url, write_deadline_s=30)
    attempts = []
    try:
        with pytest.raises(UnavailableError, match="division by zero"):
            connections.write(lambda c, attempt: attempts.append(attempt)
                              or c.execute("SELECT 1/0"))
        with pytest.raises(UnavailableError, match="syntax"):
            connections.read(lambda c: c.execute("SELEC 1"))
    finally:
        connections.close()
    assert attempts == [0]


def test_serialization_failures_are_retried(postgres_url):
    connections = Connections(postgres_url)
    attempts = []

    def work(connection, attempt):
        attempts.append(attempt)
        if attempt < 2:
            connection.execute("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$")
        return "done"

    try:
        assert connections.write(work, notify=False) == "done"
    finally:
        connections.close()
    assert attempts == [0, 1, 2]


def test_a_write_gives_up_at_the_deadline(tmp_path):
    connections = Connections(f"postgresql:///db?host={tmp_path}", write_deadline_s=0.3)
    with pytest.raises(UnavailableError, match="cannot connect"):
        connections.write(lambda c, a: None)
    assert connections.oldest_write_s() == 0.0
    assert not connections.probe()[0]


def test_the_urls_own_options_stay_in_force(postgres_url):
    connections = Connections(postgres_url + "&options=-c%20search_path%3Dpg_catalog",
                              statement_timeout_ms=1234)
    try:
        assert connections.read(lambda c: c.execute(
            "SELECT current_setting('search_path'), current_setting('statement_timeout')"
        ).fetchone()) == ("pg_catalog", "1234ms")
    finally:
        connections.close()


def test_a_read_with_side_effects_is_not_repeated(postgres_url):
    connections = Connections(postgres_url)
    calls = []

    def work(connection):
        calls.append(1)
        connection.close()
        connection.execute("SELECT 1")

    try:
        with pytest.raises(UnavailableError):
            connections.read(work, retry=False)
    finally:
        connections.close()
    assert calls == [1]


def test_a_burst_of_writes_shares_notifications_and_none_is_missed(postgres_url):
    connections = Connections(postgres_url)
    listener = Connections(postgres_url).connect()
    received = []
    listener.add_notify_handler(received.append)
    listener.execute("LISTEN mnemosyne_changes")
    try:
        for _ in range(20):
            connections.write(lambda c, a: c.execute("SELECT 1"))
        time.sleep(0.2)
        listener.execute("SELECT 1")  # delivers what arrived
        assert 1 <= len(received) < 20
        before = len(received)
        connections.write(lambda c, a: c.execute("SELECT 1"))
        connections.close()  # the last write's notification still goes out
        time.sleep(0.1)
        listener.execute("SELECT 1")
        assert len(received) > before
    finally:
        listener.close()
