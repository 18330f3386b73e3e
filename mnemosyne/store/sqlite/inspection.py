"""The database's self-inspection and its two safe repairs, for `mnemosyne doctor`.

`inspect_database` reports facts about one SQLite file: whether it exists and is a database,
`PRAGMA quick_check`, the full-text index, the schema version, the WAL's size, free disk space
and file modes. It only reads: the file is opened without SQLITE_OPEN_CREATE and with
`query_only`; read-only whenever a -wal or -journal file exists (so a WAL left by a crash is
never checkpointed, nor a hot journal rolled back, by this inspection), and read-write only when
there is neither, so that SQLite removes the -wal and -shm files it needs for reading when it
closes (a read-only connection would leave them behind). Reads in WAL mode never wait on
writers; every wait is bounded by the busy timeout. Callers send no SQL of their own: another
store backend can answer the same facts.

The FTS5 index: PRAGMA quick_check already runs FTS5's own integrity method (SQLite >= 3.44;
with older libraries only the comparisons below remain), but for an external-content table like
memories_fts that method checks only the index's inner consistency, not that it matches the
memories table. It is also most of quick_check's time (about 0.75 s of 0.9 s at 100,000
memories), and worth it: a damaged index block makes searches fail. The full comparison
(`INSERT INTO memories_fts(memories_fts, rank) VALUES('integrity-check', 1)`) is a write
statement that tokenizes every memory: about 1.5 s at 100,000 memories, all of it holding the
write lock that live instances wait on. Instead this module compares, read-only, the set of
documents the index holds (`memories_fts_docsize`) with the memories table, and checks with
MATCH queries that a spread of sampled memories (the newest included) is found by the index.

Must not: migrate, create the database, or change anything except in `checkpoint_wal` and
`fix_modes`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pwd
import re
import stat
from pathlib import Path
from typing import Any

import apsw

from mnemosyne.errors import UnavailableError
from mnemosyne.store.sqlite.connection import JOURNAL_SIZE_LIMIT_BYTES, describe_database_error
from mnemosyne.store.sqlite.migrations import LATEST_VERSION
from mnemosyne.store.sqlite.transactions import WriterLock

logger = logging.getLogger(__name__)

# Every connection truncates the WAL to JOURNAL_SIZE_LIMIT_BYTES after a checkpoint resets it,
# and the store checkpoints every 500 pages (about 2 MiB), so a healthy WAL stays far below this
# size even under bulk imports. A WAL larger than it has not been reset since it grew: a reader
# holding an old snapshot, or checkpoints that never finish. Reads then slow down and the file
# keeps growing.
WAL_LIMIT_BYTES = JOURNAL_SIZE_LIMIT_BYTES
# Room for the WAL to reach its limit several times over, plus a migration that rewrites a table:
# below this (or below FREE_SPACE_WARN_FRACTION of the file system) writes may soon fail.
FREE_SPACE_WARN_BYTES = 256 * 1024 * 1024
FREE_SPACE_WARN_FRACTION = 0.01
# Below this a single bulk import or checkpoint can fill the disk: writes fail.
FREE_SPACE_PROBLEM_BYTES = 16 * 1024 * 1024
# The bounded wait of checkpoint_wal's final step, which holds the writer lock live instances
# queue on: short, so that their writes are delayed by at most this much.
CHECKPOINT_LOCKED_WAIT_MS = 1000

QUICK_CHECK_MAX_MESSAGES = 20
SHOWN_MESSAGES = 3
FTS_PROBES = 16
COMPANION_SUFFIXES = ("-wal", "-shm", "-lock", "-merge.lock", "-optimize.lock")
FTS_MESSAGE = re.compile(r"fts5|memories_fts", re.IGNORECASE)
PROBE_WORD = re.compile(r"[^\W_]{3,}")
MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class DatabaseFact:
    """One finding about the database file, ready for a report.

    *name* is a short id ("exists", "quick_check", "fts_index", "schema_version", "wal_size",
    "free_space", "file_modes"); *status* is "ok", "warn" or "problem"; *message* is one line
    naming the file where useful; *details* holds JSON-serialisable facts; *repair* is None or
    the name of the safe repair that fixes it ("checkpoint_wal" or "fix_modes").
    """

    name: str
    status: str
    message: str
    details: dict[str, Any]
    repair: str | None = None


def companion_path(path: Path, suffix: str) -> Path:
    """Return the companion file (`-wal`, `-shm`, `-lock`, ...) of the database *path*."""
    return path.with_name(path.name + suffix)


def inspect_database(path: Path, busy_timeout_ms: int = 5000) -> list[DatabaseFact]:
    """Return the facts about the database file *path*, changing nothing.

    A missing file gives one "exists" fact and creates nothing. No SQLite error escapes: each
    becomes a fact with a one-line message.
    """
    try:
        file_stat = os.stat(path)
    except FileNotFoundError:
        return [DatabaseFact("exists", "ok",
                             f"no database yet at {path} (created at first use)",
                             {"path": str(path)})]
    except OSError as error:
        return [DatabaseFact("exists", "problem",
                             f"cannot look at database {path}: {error.strerror or error}",
                             {"path": str(path)})]
    # The WAL is measured before this inspection's own reads, which keep it from being reset
    # while they run (under busy writers it grows meanwhile).
    files = [inspect_wal_size(path), inspect_free_space(path), inspect_file_modes(path)]
    if not stat.S_ISREG(file_stat.st_mode):
        facts = [DatabaseFact("exists", "problem", f"{path} is not a regular file",
                              {"path": str(path)})]
    else:
        facts = _inspect_contents(path, file_stat.st_size, busy_timeout_ms)
    return [*facts, *files]


def _inspect_contents(path: Path, size: int, busy_timeout_ms: int) -> list[DatabaseFact]:
    """Open *path* for reading only and return the facts SQL can tell."""
    details = {"path": str(path), "size_bytes": size}
    try:
        connection = _open_for_inspection(path, busy_timeout_ms)
    except apsw.Error as error:
        return [DatabaseFact("exists", "problem", str(describe_database_error(path, error)),
                             details)]
    try:
        try:
            version = int(connection.execute("PRAGMA user_version").fetchall()[0][0])
        except apsw.Error as error:
            status = "warn" if isinstance(error, apsw.BusyError | apsw.LockedError) else "problem"
            return [DatabaseFact("exists", status, _error_line(path, error), details)]
        exists = DatabaseFact("exists", "ok", f"database {path} ({size / MIB:.1f} MiB)", details)
        integrity, fts_messages = _quick_check(connection, path)
        return [exists, integrity, _inspect_fts(connection, path, version, fts_messages),
                _schema_version_fact(path, version)]
    finally:
        connection.close()


def _open_for_inspection(path: Path, busy_timeout_ms: int) -> apsw.Connection:
    """Open *path* without creating it; see the module docstring for the choice of mode.

    Raises apsw.Error if it cannot be opened.
    """
    # A -journal file may be a hot journal that a read-write connection would roll back.
    leftovers = any(os.path.lexists(companion_path(path, suffix))
                    for suffix in ("-wal", "-journal"))
    connection = None
    if not leftovers:
        try:
            connection = apsw.Connection(os.fspath(path), flags=apsw.SQLITE_OPEN_READWRITE)
        except (apsw.CantOpenError, apsw.ReadOnlyError, apsw.PermissionsError):
            connection = None  # not writable for this user: reading is all we need
    if connection is None:
        connection = apsw.Connection(os.fspath(path), flags=apsw.SQLITE_OPEN_READONLY)
    connection.setbusytimeout(busy_timeout_ms)
    try:
        connection.execute("PRAGMA query_only=ON")
    except apsw.Error:
        connection.close()
        raise
    return connection


def _error_line(path: Path, error: apsw.Error) -> str:
    """Return the one-line message for an SQLite error while reading *path*."""
    if isinstance(error, apsw.BusyError | apsw.LockedError):
        return f"could not read {path}: it stayed locked ({error}); try again"
    return str(describe_database_error(path, error))


def _quick_check(connection: apsw.Connection,
                 path: Path) -> tuple[DatabaseFact, list[str] | apsw.Error]:
    """Run PRAGMA quick_check; return its fact and the messages (or error) about the FTS index."""
    try:
        rows = connection.execute(f"PRAGMA quick_check({QUICK_CHECK_MAX_MESSAGES})").fetchall()
    except apsw.Error as error:
        status = "warn" if isinstance(error, apsw.BusyError | apsw.LockedError) else "problem"
        return (DatabaseFact("quick_check", status, _error_line(path, error),
                             {"path": str(path), "messages": [str(error)]}), error)
    # One row may hold several lines, under a "*** in database main ***" heading.
    messages = [line.strip() for row in rows for line in str(row[0]).splitlines()
                if line.strip() and not line.startswith("*** in database")]
    if messages == ["ok"]:
        return DatabaseFact("quick_check", "ok", "quick_check: ok", {"path": str(path)}), []
    fts_messages = [message for message in messages if FTS_MESSAGE.search(message)]
    others = [message for message in messages if not FTS_MESSAGE.search(message)]
    if not others:
        fact = DatabaseFact("quick_check", "ok",
                            "quick_check: ok apart from the full-text index (see fts_index)",
                            {"path": str(path)})
        return fact, fts_messages
    more = f" (+{len(others) - SHOWN_MESSAGES} more)" if len(others) > SHOWN_MESSAGES else ""
    return (DatabaseFact("quick_check", "problem",
                         f"{path} is damaged: " + "; ".join(others[:SHOWN_MESSAGES]) + more
                         + " (save what `mnemosyne export` can still read, or restore a backup)",
                         {"path": str(path), "messages": others}), fts_messages)


def _inspect_fts(connection: apsw.Connection, path: Path, version: int,
                 quick_check_result: list[str] | apsw.Error) -> DatabaseFact:
    """Judge the full-text index from quick_check's messages and read-only comparisons."""
    details: dict[str, Any] = {"path": str(path)}
    if isinstance(quick_check_result, apsw.Error):
        return DatabaseFact("fts_index", "warn", "full-text index not checked: "
                            "quick_check could not run", details)
    if quick_check_result:
        details["messages"] = quick_check_result
        return DatabaseFact("fts_index", "problem",
                            f"the full-text index of {path} is damaged: {quick_check_result[0]}"
                            " (recall may fail or miss memories)", details)
    if version < 1:
        return DatabaseFact("fts_index", "ok",
                            "no full-text index yet (created by the migration at the next start)",
                            details)
    try:
        findings = _compare_fts_with_memories(connection, details)
    except apsw.Error as error:
        status = "warn" if isinstance(error, apsw.BusyError | apsw.LockedError) else "problem"
        return DatabaseFact("fts_index", status, "full-text index: " + _error_line(path, error),
                            details)
    if findings:
        return DatabaseFact("fts_index", "problem",
                            f"the full-text index of {path} does not match the memories: "
                            + "; ".join(findings) + " (recall may miss memories)", details)
    return DatabaseFact("fts_index", "ok",
                        f"full-text index: ok ({details['indexed']} memories indexed, "
                        f"{details['probes']} found by sample searches)", details)


def _compare_fts_with_memories(connection: apsw.Connection, details: dict[str, Any]) -> list[str]:
    """Fill *details* and return what is wrong between memories and memories_fts (read-only).

    Raises apsw.Error if a query fails (a missing table or a damaged index).
    """
    missing, extra, memories, indexed = connection.execute(
        "SELECT (SELECT count(*) FROM memories m WHERE NOT EXISTS "
        "        (SELECT 1 FROM memories_fts_docsize d WHERE d.id = m.seq)), "
        "       (SELECT count(*) FROM memories_fts_docsize d WHERE NOT EXISTS "
        "        (SELECT 1 FROM memories m WHERE m.seq = d.id)), "
        "       (SELECT count(*) FROM memories), (SELECT count(*) FROM memories_fts_docsize)",
    ).fetchall()[0]
    details.update(memories=memories, indexed=indexed, not_indexed=missing, indexed_but_gone=extra)
    findings = []
    if missing:
        findings.append(f"{missing} memories are not indexed")
    if extra:
        findings.append(f"{extra} indexed entries have no memory")
    unfound = []
    probes = 0
    for seq, memory_id, content in _probe_rows(connection):
        word = PROBE_WORD.search(content or "")
        if word is None:
            continue
        probes += 1
        found = connection.execute(
            "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ? AND rowid = ?",
            (f'"{word.group(0)}"', seq)).fetchall()[0][0]
        if not found:
            unfound.append(memory_id)
    details.update(probes=probes, not_found_by_search=unfound)
    if unfound:
        findings.append(f"{len(unfound)} of {probes} sampled memories are not found by search "
                        f"(e.g. {unfound[0]})")
    return findings


def _probe_rows(connection: apsw.Connection) -> list[tuple[int, str, str]]:
    """Return up to FTS_PROBES memories: the newest few and others spread over all seq values."""
    low, high = connection.execute("SELECT min(seq), max(seq) FROM memories").fetchall()[0]
    if low is None:
        return []
    rows = {row[0]: row for row in connection.execute(
        "SELECT seq, id, content FROM memories ORDER BY seq DESC LIMIT ?", (FTS_PROBES // 4,))}
    spread = FTS_PROBES - len(rows)
    for index in range(spread):
        target = low + (high - low) * index // max(1, spread - 1)
        for row in connection.execute(
                "SELECT seq, id, content FROM memories WHERE seq >= ? ORDER BY seq LIMIT 1",
                (target,)):
            rows[row[0]] = row
    return list(rows.values())


def _schema_version_fact(path: Path, version: int) -> DatabaseFact:
    """Compare the file's user_version with the newest migration this program knows."""
    details = {"path": str(path), "version": version, "latest": LATEST_VERSION}
    if version < LATEST_VERSION:
        return DatabaseFact("schema_version", "warn",
                            f"schema version {version} is older than this program's "
                            f"{LATEST_VERSION} (migrated at the next start)", details)
    if version > LATEST_VERSION:
        return DatabaseFact("schema_version", "problem",
                            f"schema version {version} of {path} is newer than this program's "
                            f"{LATEST_VERSION}: a newer mnemosyne wrote it; upgrade this one",
                            details)
    return DatabaseFact("schema_version", "ok", f"schema version {version} (current)", details)


def inspect_wal_size(path: Path) -> DatabaseFact:
    """Report the WAL file's size against WAL_LIMIT_BYTES."""
    wal = companion_path(path, "-wal")
    details: dict[str, Any] = {"path": str(wal), "limit_bytes": WAL_LIMIT_BYTES}
    try:
        size = os.stat(wal).st_size
    except FileNotFoundError:
        return DatabaseFact("wal_size", "ok", "no WAL file (no connection open)",
                            {**details, "size_bytes": 0})
    except OSError as error:
        return DatabaseFact("wal_size", "warn",
                            f"cannot look at {wal}: {error.strerror or error}", details)
    details["size_bytes"] = size
    if size > WAL_LIMIT_BYTES:
        return DatabaseFact("wal_size", "warn",
                            f"{wal} is {size / MIB:.0f} MiB, over the {WAL_LIMIT_BYTES // MIB} "
                            "MiB limit (checkpoints are not keeping up)", details,
                            "checkpoint_wal")
    return DatabaseFact("wal_size", "ok", f"WAL {size / MIB:.1f} MiB", details)


def inspect_free_space(path: Path) -> DatabaseFact:
    """Report the free space of the file system that holds *path*."""
    directory = path.parent
    details: dict[str, Any] = {"path": str(directory), "warn_bytes": FREE_SPACE_WARN_BYTES,
                               "problem_bytes": FREE_SPACE_PROBLEM_BYTES}
    try:
        usage = os.statvfs(directory)
    except OSError as error:
        return DatabaseFact("free_space", "warn", f"cannot look at the free space of "
                            f"{directory}: {error.strerror or error}", details)
    free = usage.f_bavail * usage.f_frsize
    total = usage.f_blocks * usage.f_frsize
    details.update(free_bytes=free, total_bytes=total)
    summary = (f"{free / MIB:.0f} MiB free of {total / MIB:.0f} MiB on the file system of "
               f"{directory}")
    if free < FREE_SPACE_PROBLEM_BYTES:
        return DatabaseFact("free_space", "problem", f"only {summary}: writes will fail",
                            details)
    if free < FREE_SPACE_WARN_BYTES or free < total * FREE_SPACE_WARN_FRACTION:
        return DatabaseFact("free_space", "warn", f"only {summary}", details)
    return DatabaseFact("free_space", "ok", summary, details)


def _database_files(path: Path) -> list[tuple[Path, bool]]:
    """Return (file, is_directory) for the database's directory, the database and companions."""
    return [(path.parent, True), (path, False),
            *[(companion_path(path, suffix), False) for suffix in COMPANION_SUFFIXES]]


@dataclasses.dataclass(frozen=True)
class _ModeFinding:
    """One database file (or its directory) that is not private to this user."""

    path: Path
    mode: int
    owner: int
    wanted: int | None  # the mode fix_modes sets, or None when it must be fixed by hand
    why: str  # what is wrong, for the report


def _mode_findings(path: Path) -> tuple[list[_ModeFinding], list[str]]:
    """Classify the database's files; return the findings and the files that cannot be seen.

    fix_modes changes only files of this user reached without a symbolic link, and a directory
    only when it is neither shared on purpose (sticky, like /tmp), a mount point, nor the
    user's home directory.
    """
    user = os.geteuid()
    findings, unreadable = [], []
    for file, is_directory in _database_files(path):
        try:
            link_stat = os.lstat(file)
            file_stat = os.stat(file)
        except FileNotFoundError:
            continue
        except OSError as error:
            unreadable.append(f"{file}: {error.strerror or error}")
            continue
        mode = stat.S_IMODE(file_stat.st_mode)
        # A directory others can list is fine (the files in it are 0600); one they can write
        # to is not: they could replace or delete the database's files.
        open_bits = 0o022 if is_directory else 0o077
        if file_stat.st_uid != user:
            findings.append(_ModeFinding(file, mode, file_stat.st_uid, None, "other_owner"))
        elif not mode & open_bits:
            continue
        elif stat.S_ISLNK(link_stat.st_mode):
            findings.append(_ModeFinding(file, mode, user, None, "through_symlink"))
        elif is_directory and not _directory_is_ours_alone(file, file_stat):
            findings.append(_ModeFinding(file, mode, user, None, "shared_directory"))
        else:
            findings.append(_ModeFinding(file, mode, user,
                                         mode & ~0o022 if is_directory else 0o600,
                                         "open_to_others"))
    return findings, unreadable


def _directory_is_ours_alone(directory: Path, directory_stat: os.stat_result) -> bool:
    """Return False for directories fix_modes must not close: sticky, mount points, home."""
    if directory_stat.st_mode & stat.S_ISVTX or os.path.ismount(directory):
        return False
    try:
        home = Path(pwd.getpwuid(os.geteuid()).pw_dir)
    except KeyError:
        return True
    return not (home.exists() and home.samefile(directory))


def inspect_file_modes(path: Path) -> DatabaseFact:
    """Report database files (and their directory) that others could read or write."""
    findings, unreadable = _mode_findings(path)
    groups: dict[str, list[str]] = {"open_to_others": [], "other_owner": [],
                                     "through_symlink": [], "shared_directory": []}
    for finding in findings:
        shown = (f"{finding.path} (uid {finding.owner})" if finding.why == "other_owner"
                 else f"{finding.path} ({finding.mode:04o})")
        groups[finding.why].append(shown)
    details = {"path": str(path), **groups, "unreadable": unreadable}
    labels = {"open_to_others": "others may read or write ",
              "through_symlink": "reached through a symbolic link, fix by hand: ",
              "shared_directory": "in a directory others may use, move the database: ",
              "other_owner": "owned by another user: "}
    parts = [labels[why] + ", ".join(shown) for why, shown in groups.items() if shown]
    if unreadable:
        parts.append("cannot look at " + ", ".join(unreadable))
    if not parts:
        return DatabaseFact("file_modes", "ok", "database files are private to this user",
                            details)
    return DatabaseFact("file_modes", "problem", "; ".join(parts), details,
                        "fix_modes" if groups["open_to_others"] else None)


def fix_modes(path: Path) -> list[str]:
    """Make this user's database files 0600, and their directory not writable by others.

    Files of other users, symbolic links, and directories shared on purpose are left alone
    (see `_mode_findings`). Returns one line per change.
    Raises UnavailableError if a mode cannot be changed.
    """
    findings, _ = _mode_findings(path)
    changed = []
    for finding in findings:
        if finding.wanted is None:
            continue
        try:
            os.chmod(finding.path, finding.wanted)  # lstat saw no symbolic link there
        except OSError as error:
            raise UnavailableError(f"cannot change the mode of {finding.path}: "
                                   f"{error.strerror or error}") from None
        changed.append(f"{finding.path}: {finding.mode:04o} -> {finding.wanted:04o}")
        logger.info("mode of %s changed from %04o to %04o", finding.path, finding.mode,
                    finding.wanted)
    return changed


def checkpoint_wal(path: Path, busy_timeout_ms: int = 5000) -> str:
    """Copy the WAL of *path* into the database and reset it to zero bytes; return one line.

    A PASSIVE checkpoint first copies what it can beside running writers; then a TRUNCATE
    checkpoint, under the writer lock live instances queue on (transactions.py), finishes the
    rest. Both waits are bounded (the lock by *busy_timeout_ms*, readers by
    CHECKPOINT_LOCKED_WAIT_MS). The WAL file itself is never deleted.
    Raises UnavailableError if the database cannot be opened or the checkpoint cannot finish.
    """
    wal = companion_path(path, "-wal")
    if not path.exists() or not wal.exists():
        return f"no WAL file beside {path}: nothing to checkpoint"
    before = wal.stat().st_size
    try:
        connection = apsw.Connection(os.fspath(path), flags=apsw.SQLITE_OPEN_READWRITE)
    except apsw.Error as error:
        raise describe_database_error(path, error) from None
    lock = WriterLock(path)
    try:
        connection.setbusytimeout(busy_timeout_ms)
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        if not lock.acquire_within(busy_timeout_ms / 1000):
            raise UnavailableError(f"cannot checkpoint {wal}: another writer held the database "
                                   f"for {busy_timeout_ms / 1000:g} s; try again later")
        try:
            connection.setbusytimeout(min(busy_timeout_ms, CHECKPOINT_LOCKED_WAIT_MS))
            # (busy, frames in the WAL, frames copied); busy = 1 when it could not finish
            busy = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()[0][0]
        finally:
            lock.release()
        if busy:
            raise apsw.BusyError("checkpoint incomplete")
    except apsw.BusyError:
        raise UnavailableError(f"cannot checkpoint {wal}: a reader still uses an old snapshot "
                               "of the database; try again later") from None
    except apsw.Error as error:
        raise describe_database_error(path, error) from None
    finally:
        lock.close()
        connection.close()
    after = wal.stat().st_size if wal.exists() else 0
    logger.info("checkpointed %s: %d -> %d bytes", wal, before, after)
    return f"checkpointed {wal}: {before / MIB:.1f} MiB -> {after / MIB:.1f} MiB"
