"""Whether the database can be written now: files, free space, SQLite's write lock."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import apsw

from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.writehealth import WalLock, WriteHealth, unwritable_file

NOBODY = 65534


def test_a_healthy_database_has_no_problem(store):
    health = store.database.write_health()
    assert health.inspect() is None
    assert not store.database.writer_active()


def test_the_write_lock_is_seen_with_its_holder_and_the_commits(store, db_path):
    lock = WalLock(db_path)
    other = apsw.Connection(str(db_path))
    try:
        assert lock.holder() is None
        before = lock.header()
        other.execute("BEGIN IMMEDIATE")
        assert lock.holder() == os.getpid()  # a connection of this very process
        assert store.database.writer_active()
        other.execute("INSERT INTO change_log(op, memory_id, namespace) "
                      "VALUES ('deleted', 'x', 'global')")
        other.execute("COMMIT")
        assert lock.holder() is None
        assert lock.header() != before
    finally:
        other.close()


def test_a_lock_held_without_a_commit_past_the_limit_is_a_problem(store, db_path):
    now = [0.0]
    health = WriteHealth(db_path, lock_limit_s=5.0, clock=lambda: now[0])
    other = apsw.Connection(str(db_path))
    try:
        other.execute("BEGIN IMMEDIATE")
        assert health.inspect() is None
        now[0] = 5.5
        problem = health.inspect()
        assert problem is not None and not problem.by_another_process
        assert "held by this instance for 6 s without a commit" in problem.text
        other.execute("ROLLBACK")
        assert health.inspect() is None
    finally:
        other.close()


def test_a_write_waiting_too_long_is_a_problem(db_path, store):
    waited = [0.0]
    health = WriteHealth(db_path, waited_s=lambda: waited[0])
    assert health.inspect() is None
    waited[0] = 6.0
    assert "a write has waited 6 s" in health.inspect().text


def test_a_replaced_or_removed_database_is_a_problem(tmp_path):
    path = tmp_path / "m.db"
    database = Database.open(path)
    try:
        health = database.write_health()
        os.replace(path, tmp_path / "old.db")
        path.write_bytes(b"")
        assert "was replaced" in health.inspect().text
        path.unlink()
        assert "was removed" in health.inspect().text
    finally:
        database.close()


def test_missing_companion_files_are_fine(tmp_path):
    path = tmp_path / "m.db"
    path.write_bytes(b"")
    assert unwritable_file(path) is None


def test_the_file_at_fault_is_named():
    """Runs the check as user nobody when the tests run as root (root may write anything)."""
    directory = Path(tempfile.mkdtemp(prefix="mnemosyne-writehealth-"))
    try:
        path = directory / "m.db"
        for name in ("m.db", "m.db-wal", "m.db-shm"):
            (directory / name).write_bytes(b"")
        (directory / "m.db-shm").chmod(0o444)
        prefix: list[str] = []
        if os.geteuid() == 0:
            for name in (directory, *directory.iterdir()):
                os.chown(name, NOBODY, NOBODY)
            prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        code = ("import sys; from pathlib import Path; "
                "from mnemosyne.store.sqlite.writehealth import unwritable_file; "
                "print(unwritable_file(Path(sys.argv[1])))")
        result = subprocess.run([*prefix, sys.executable, "-c", code, str(path)],
                                capture_output=True, text=True, check=True,
                                cwd=Path(__file__).parents[3])
        assert result.stdout.strip() == (f"database file {path}-shm is read-only "
                                         "(not writable by this user)")
    finally:
        subprocess.run(["rm", "-rf", str(directory)], check=True)
