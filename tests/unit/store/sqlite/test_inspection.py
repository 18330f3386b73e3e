import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import apsw
import pytest

from mnemosyne.errors import UnavailableError
from mnemosyne.store.sqlite import inspection
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database
from mnemosyne.store.sqlite.inspection import (
    WAL_LIMIT_BYTES,
    checkpoint_wal,
    fix_modes,
    inspect_database,
)
from mnemosyne.store.sqlite.migrations import LATEST_VERSION
from mnemosyne.store.sqlite.transactions import WriterLock
from mnemosyne.store.sqlite.transfer import import_memories
from tests.helpers import small_tmpfs

ROOT = Path(__file__).resolve().parents[3]


def by_name(facts):
    facts_by_name = {fact.name: fact for fact in facts}
    assert len(facts_by_name) == len(facts), [fact.name for fact in facts]
    for fact in facts:
        assert fact.status in ("ok", "warn", "problem"), fact
        assert "\n" not in fact.message, fact
        assert fact.repair in (None, "checkpoint_wal", "fix_modes"), fact
        json.dumps(fact.details)
    return facts_by_name


def make_database(path, count=200):
    database = Database.open(path)
    store = SqliteBackend(database)
    for index in range(count):
        store.remember(f"memory {index} about apples, pears and quinces number{index}")
    database.close()


def import_many(path, count):
    """Bulk-import *count* memories (as `mnemosyne import` does)."""
    stamp = "2026-12-04T12:00:00.000000Z"
    lines = [json.dumps({"id": f"00000000-0000-4000-8000-{index:012x}", "namespace": "global",
                         "content": f"imported memory {index} on word{index % 977} and more",
                         "memory_type": "fact", "importance": 5, "created_at": stamp,
                         "updated_at": stamp}) for index in range(count)]
    store = SqliteBackend(Database.open(path))
    assert import_memories(store, lines).imported == count
    store.close()


def listing(directory):
    return sorted(os.listdir(directory))


def test_healthy_database_is_all_ok_and_nothing_is_created(tmp_path):
    path = tmp_path / "m.db"
    make_database(path)
    before, content = listing(tmp_path), path.read_bytes()
    facts = by_name(inspect_database(path))
    assert list(facts) == ["exists", "quick_check", "fts_index", "schema_version", "wal_size",
                           "free_space", "file_modes"]
    assert {fact.status for fact in facts.values()} == {"ok"}, facts
    assert facts["fts_index"].details["indexed"] == 200
    assert facts["fts_index"].details["probes"] >= 10
    assert facts["schema_version"].details == {"path": str(path), "version": LATEST_VERSION,
                                                "latest": LATEST_VERSION}
    assert listing(tmp_path) == before  # no -wal or -shm left behind
    assert path.read_bytes() == content


def test_a_wal_left_by_a_crash_is_read_but_not_checkpointed(tmp_path):
    path = tmp_path / "m.db"
    make_database(path, count=3)
    writer = apsw.Connection(str(path))
    writer.config(apsw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1)  # closes as a crash would leave it
    writer.execute("PRAGMA wal_autocheckpoint = 0").fetchall()
    writer.execute("INSERT INTO memories(id, namespace, content, memory_type, importance, "
                   "created_at, updated_at) VALUES ('w', 'global', 'only in the WAL', 'fact', "
                   "5, 't', 't')")
    writer.close()
    wal = tmp_path / "m.db-wal"
    content, wal_content = path.read_bytes(), wal.read_bytes()
    assert wal_content
    facts = by_name(inspect_database(path))
    assert {fact.status for fact in facts.values()} == {"ok"}, facts
    assert facts["fts_index"].details["memories"] == 4  # the WAL's row was read
    assert path.read_bytes() == content and wal.read_bytes() == wal_content


def test_missing_database_is_reported_and_not_created(tmp_path):
    path = tmp_path / "sub" / "m.db"
    assert [(fact.name, fact.status, fact.message) for fact in inspect_database(path)] == [
        ("exists", "ok", f"no database yet at {path} (created at first use)")]
    assert not path.parent.exists()
    (tmp_path / "sub").mkdir()
    inspect_database(path)
    assert listing(tmp_path / "sub") == []


def test_not_a_database_is_one_line_problem(tmp_path):
    path = tmp_path / "m.db"
    path.write_bytes(b"this is a text file, not a database\n" * 200)
    os.chmod(path, 0o600)
    facts = by_name(inspect_database(path))
    assert facts["exists"].status == "problem"
    assert "not a SQLite database" in facts["exists"].message
    assert str(path) in facts["exists"].message
    assert "quick_check" not in facts
    assert facts["file_modes"].status == "ok"
    assert listing(tmp_path) == ["m.db"]


def test_a_directory_in_place_of_the_database_is_a_problem(tmp_path):
    (tmp_path / "m.db").mkdir()
    facts = by_name(inspect_database(tmp_path / "m.db"))
    assert facts["exists"].status == "problem"
    assert "not a regular file" in facts["exists"].message


def page_of(path, table):
    connection = apsw.Connection(str(path))
    try:
        page = connection.execute("SELECT rootpage FROM sqlite_master WHERE name = ?",
                                  (table,)).fetchall()[0][0]
        return page, connection.execute("PRAGMA page_size").fetchall()[0][0]
    finally:
        connection.close()


def test_corrupted_page_is_a_quick_check_problem(tmp_path):
    path = tmp_path / "m.db"
    make_database(path, count=2000)
    page, page_size = page_of(path, "memories_namespace_importance")  # an index root page
    with open(path, "r+b") as file:
        file.seek((page - 1) * page_size)
        file.write(b"\x0d\xff\xff\x7f\xff" + b"\xee" * 200)  # a nonsense b-tree page header
    facts = by_name(inspect_database(path))
    assert facts["exists"].status == "ok"
    assert facts["quick_check"].status == "problem", facts["quick_check"]
    assert str(path) in facts["quick_check"].message
    assert facts["quick_check"].details["messages"]


def corrupt(path, sql):
    connection = apsw.Connection(str(path))
    try:
        connection.execute(sql)
    finally:
        connection.close()


@pytest.mark.parametrize("sql", [
    # A block of the inverted index overwritten: FTS5's own check (inside quick_check) sees it.
    "UPDATE memories_fts_data SET block = X'00112233445566778899' "
    "WHERE id = (SELECT max(id) FROM memories_fts_data)",
    # The index's structure record damaged: quick_check says ok, yet every search finds nothing.
    "UPDATE memories_fts_data SET block = X'0011' WHERE id = 10",
    # Rows removed from the index's shadow tables or from the index itself.
    "DELETE FROM memories_fts_docsize WHERE id = 7",
    "INSERT INTO memories_fts(memories_fts, rowid, content, summary, tags) "
    "SELECT 'delete', seq, content, summary, tags FROM memories WHERE seq = 5",
    # An entry inserted into the index with no memory behind it.
    "INSERT INTO memories_fts(rowid, content, summary, tags) VALUES (99999, 'ghost', NULL, '[]')",
    # A memory written without its trigger (as an old or foreign program might).
    "DROP TRIGGER memories_fts_insert; INSERT INTO memories(id, namespace, content, memory_type,"
    " importance, created_at, updated_at) VALUES ('x', 'global', 'unindexed', 'fact', 5, 't', 't')",
], ids=["data_block", "structure", "docsize_row", "deleted_entry", "ghost_entry", "no_trigger"])
def test_corrupted_fts_index_is_a_problem(tmp_path, sql):
    path = tmp_path / "m.db"
    make_database(path)
    corrupt(path, sql)
    facts = by_name(inspect_database(path))
    assert facts["fts_index"].status == "problem", facts["fts_index"]
    assert str(path) in facts["fts_index"].message
    assert facts["quick_check"].status == "ok"
    assert facts["fts_index"].repair is None


def set_user_version(path, version):
    corrupt(path, f"PRAGMA user_version = {version}")


def test_newer_schema_is_a_problem_and_older_a_warning(tmp_path):
    path = tmp_path / "m.db"
    make_database(path, count=3)
    set_user_version(path, LATEST_VERSION + 1)
    fact = by_name(inspect_database(path))["schema_version"]
    assert fact.status == "problem" and "newer" in fact.message
    set_user_version(path, LATEST_VERSION - 1)
    fact = by_name(inspect_database(path))["schema_version"]
    assert fact.status == "warn" and "migrated at the next start" in fact.message
    assert apsw.Connection(str(path)).execute("PRAGMA user_version").fetchall()[0][0] == \
        LATEST_VERSION - 1  # the inspection did not migrate


def test_empty_file_is_an_unmigrated_database(tmp_path):
    path = tmp_path / "m.db"
    path.touch(mode=0o600)
    facts = by_name(inspect_database(path))
    assert facts["exists"].status == "ok"
    assert facts["schema_version"].status == "warn"
    assert facts["fts_index"].status == "ok"
    assert path.stat().st_size == 0


def grow_wal(path, megabytes):
    """Write *megabytes* into the WAL while a reader holds a snapshot; return that reader."""
    reader = apsw.Connection(str(path))
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM memories").fetchall()
    writer = apsw.Connection(str(path))
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE IF NOT EXISTS filler (x)")
    for _ in range(megabytes):
        writer.execute("INSERT INTO filler VALUES (randomblob(1024 * 1024))")
    writer.close()
    return reader


def test_oversized_wal_is_a_warning_that_checkpoint_wal_repairs(tmp_path):
    path = tmp_path / "m.db"
    make_database(path, count=3)
    reader = grow_wal(path, WAL_LIMIT_BYTES // (1024 * 1024) + 6)
    wal = tmp_path / "m.db-wal"
    assert wal.stat().st_size > WAL_LIMIT_BYTES
    fact = by_name(inspect_database(path))["wal_size"]
    assert (fact.status, fact.repair) == ("warn", "checkpoint_wal")
    assert str(wal) in fact.message
    # While the reader keeps its snapshot, the checkpoint cannot finish: it says so, in time.
    began = time.monotonic()
    with pytest.raises(UnavailableError, match="reader"):
        checkpoint_wal(path, busy_timeout_ms=300)
    assert time.monotonic() - began < 3
    reader.execute("COMMIT")
    result = checkpoint_wal(path)
    assert "checkpointed" in result and "\n" not in result
    assert wal.exists() and wal.stat().st_size == 0  # reset, not deleted (the reader is open)
    reader.close()
    assert by_name(inspect_database(path))["wal_size"].status == "ok"
    facts = by_name(inspect_database(path))
    assert facts["quick_check"].status == "ok"


def test_checkpoint_wal_waits_a_bounded_time_for_the_writer_lock(tmp_path):
    path = tmp_path / "m.db"
    make_database(path, count=3)
    reader = grow_wal(path, 1)
    reader.execute("COMMIT")  # stays open, so that the WAL stays too
    holder = WriterLock(path)
    holder.acquire()
    began = time.monotonic()
    with pytest.raises(UnavailableError, match="another writer"):
        checkpoint_wal(path, busy_timeout_ms=200)
    assert time.monotonic() - began < 2
    holder.release()
    holder.close()
    assert "checkpointed" in checkpoint_wal(path)
    reader.close()


def test_checkpoint_wal_without_a_wal_creates_nothing(tmp_path):
    assert "nothing to checkpoint" in checkpoint_wal(tmp_path / "missing.db")
    assert listing(tmp_path) == []


def test_wrong_modes_are_a_problem_that_fix_modes_repairs(tmp_path):
    directory = tmp_path / "data"
    directory.mkdir(mode=0o700)
    path = directory / "m.db"
    make_database(path, count=3)
    (directory / "m.db-lock").touch()
    (directory / "m.db-merge.lock").touch()
    os.chmod(path, 0o644)
    os.chmod(directory / "m.db-lock", 0o666)
    os.chmod(directory / "m.db-merge.lock", 0o644)
    os.chmod(directory, 0o777)
    fact = by_name(inspect_database(path))["file_modes"]
    assert (fact.status, fact.repair) == ("problem", "fix_modes")
    assert f"{path} (0644)" in fact.message and f"{directory} (0777)" in fact.message
    changed = fix_modes(path)
    assert len(changed) == 4, changed
    assert path.stat().st_mode & 0o777 == 0o600
    assert (directory / "m.db-lock").stat().st_mode & 0o777 == 0o600
    assert (directory / "m.db-merge.lock").stat().st_mode & 0o777 == 0o600
    assert directory.stat().st_mode & 0o777 == 0o755  # others may list it, not write to it
    assert by_name(inspect_database(path))["file_modes"].status == "ok"
    assert fix_modes(path) == []  # a second run finds nothing to change


def test_file_of_another_user_is_a_problem_without_repair(tmp_path):
    """Needs root (to give a file to uid 65534); skipped otherwise."""
    if os.geteuid() != 0:
        pytest.skip("needs root to chown a file to another user")
    path = tmp_path / "m.db"
    make_database(path, count=3)
    os.chown(path, 65534, 65534)
    fact = by_name(inspect_database(path))["file_modes"]
    assert (fact.status, fact.repair) == ("problem", None)
    assert "another user" in fact.message and "uid 65534" in fact.message
    assert fix_modes(path) == []
    assert path.stat().st_uid == 65534


def test_symlinked_database_file_is_never_chmodded_through_the_link(tmp_path):
    target = tmp_path / "elsewhere.db"
    make_database(target, count=3)
    os.chmod(target, 0o644)
    link_directory = tmp_path / "d"
    link_directory.mkdir(mode=0o700)
    (link_directory / "m.db").symlink_to(target)
    fact = by_name(inspect_database(link_directory / "m.db"))["file_modes"]
    assert (fact.status, fact.repair) == ("problem", None)
    assert "symbolic link" in fact.message
    assert fix_modes(link_directory / "m.db") == []
    assert target.stat().st_mode & 0o777 == 0o644


def test_free_space_fact_reports_the_file_system(tmp_path):
    fact = inspection.inspect_free_space(tmp_path / "m.db")
    assert fact.details["free_bytes"] > 0 and fact.details["total_bytes"] > 0
    assert fact.status in ("ok", "warn", "problem")


WRITER = textwrap.dedent("""
    import sys, pathlib
    from mnemosyne.store.sqlite.database import Database
    from mnemosyne.store.sqlite.backend import SqliteBackend
    path, stop, name = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
    store = SqliteBackend(Database.open(path))
    count = 0
    print("ready", flush=True)
    while not stop.exists():
        store.remember(f"{name} writes memory {count} with some words to index")
        count += 1
    store.close()
    print(count, flush=True)
""")


def test_inspection_beside_four_writing_processes(tmp_path):
    path = tmp_path / "m.db"
    import_many(path, 20_000)
    stop = tmp_path / "stop"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(stop), f"w{i}"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT, start_new_session=True) for i in range(4)]
    try:
        for writer in writers:
            assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        durations = []
        for _ in range(5):
            time.sleep(0.3)  # back to back, readers keep the WAL from being reset (see below)
            began = time.monotonic()
            facts = by_name(inspect_database(path, busy_timeout_ms=2000))
            durations.append(time.monotonic() - began)
            for fact in facts.values():
                # Writers in a tight loop may grow the WAL past the limit for a moment.
                assert fact.status == "ok" or fact.name == "wal_size", fact
                assert "locked" not in fact.message
        assert max(durations) < 2.0, durations
        # The repair beside them: done, or refused in one line, within its bounded waits.
        began = time.monotonic()
        try:
            result = checkpoint_wal(path, busy_timeout_ms=2000)
        except UnavailableError as error:
            result = str(error)
        assert time.monotonic() - began < 2 + 1 + 1, result
        assert "\n" not in result
    finally:
        stop.touch()
        outputs = []
        for writer in writers:
            try:
                out, err = writer.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                writer.kill()
                out, err = writer.communicate()
            outputs.append((writer.returncode, out, err))
    for returncode, out, err in outputs:
        assert returncode == 0, err
        assert int(out.split()[-1]) > 0, out
    assert by_name(inspect_database(path))["fts_index"].status == "ok"


def test_a_shared_sticky_directory_is_reported_but_never_changed(tmp_path):
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, 0o1777)
    path = directory / "m.db"
    make_database(path, count=3)
    fact = by_name(inspect_database(path))["file_modes"]
    assert (fact.status, fact.repair) == ("problem", None)
    assert "directory others may use" in fact.message
    assert fix_modes(path) == []
    assert directory.stat().st_mode & 0o7777 == 0o1777


def test_a_database_held_exclusively_is_a_warning_after_the_busy_timeout(tmp_path):
    path = tmp_path / "m.db"
    make_database(path, count=3)
    holder = apsw.Connection(str(path))
    holder.execute("PRAGMA locking_mode = EXCLUSIVE").fetchall()
    holder.execute("BEGIN EXCLUSIVE")
    try:
        began = time.monotonic()
        facts = by_name(inspect_database(path, busy_timeout_ms=300))
        assert time.monotonic() - began < 2
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert facts["exists"].status == "warn", facts["exists"]
    assert "locked" in facts["exists"].message


def test_free_space_on_a_small_file_system(tmp_path):
    """Needs root (mounts two private tmpfs under tmp_path); skipped otherwise."""
    with small_tmpfs(tmp_path / "tiny", "4m") as tiny:
        fact = inspection.inspect_free_space(tiny / "m.db")
        assert fact.status == "problem" and "writes will fail" in fact.message
    with small_tmpfs(tmp_path / "small", "64m") as small:
        fact = inspection.inspect_free_space(small / "m.db")
        assert fact.status == "warn" and str(small) in fact.message


def test_a_missing_fts_table_is_a_problem(tmp_path):
    path = tmp_path / "m.db"
    make_database(path, count=3)
    corrupt(path, "DROP TABLE memories_fts")
    fact = by_name(inspect_database(path))["fts_index"]
    assert fact.status == "problem", fact
    assert "memories_fts" in fact.message


def test_memories_without_words_are_not_probed(tmp_path):
    path = tmp_path / "m.db"
    store = SqliteBackend(Database.open(path))
    store.remember("?! ...")
    store.remember("a real sentence with words")
    store.close()
    fact = by_name(inspect_database(path))["fts_index"]
    assert (fact.status, fact.details["probes"]) == ("ok", 1)


def test_a_directory_others_can_only_list_is_not_a_problem(tmp_path):
    directory = tmp_path / "project"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    make_database(directory / "m.db", count=1)
    os.chmod(directory / "m.db", 0o600)
    assert by_name(inspect_database(directory / "m.db"))["file_modes"].status == "ok"
