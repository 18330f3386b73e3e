"""Own the per-user index of coordination roots: which roots this user's commands have used.

A root is chosen per working directory (root.py), so an instance started by systemd in the
home directory and a command run inside a repository use different roots. Every root a
command prepares is recorded here, so that `instances --all-roots` (and doctor) can find them
all. The index is `$XDG_STATE_HOME/mnemosyne/roots/` (0700): one small file (0600) per root,
named by a hash of the root's absolute path and holding that path, written atomically
(temporary file, rename). Recording is idempotent, costs one open and read when the root is
already recorded, and never raises: a failure logs one warning, because recording must never
stop a command or an instance. The index is untrusted input like every file of
`.mnemosyne/`: an entry that is a link, not a regular file, another user's, too big, or not an
absolute path is skipped. Roots that no longer exist stay listed; callers decide what to do.
Must not: read or write the files inside a root (registries, queue); only paths are kept here.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
import tempfile
from pathlib import Path

from mnemosyne.coord.safefile import UntrustedFile, read_untrusted

logger = logging.getLogger(__name__)

INDEX_NAME = "roots"
ENTRY_SUFFIX = ".root"
ENTRY_MAX_BYTES = 8192  # PATH_MAX is 4096 bytes, plus a newline
_ENTRY_NAME = re.compile(r"[0-9a-f]{32}\.root")


def index_directory(state_dir: Path) -> Path:
    """Return the index directory under *state_dir* (Settings.state_dir)."""
    return state_dir / INDEX_NAME


def _absolute(root: Path) -> Path:
    return Path(os.path.abspath(root))


def entry_name(root: Path) -> str:
    """Return the name of *root*'s entry: a hash of its absolute path, then `.root`."""
    digest = hashlib.sha256(os.fsencode(_absolute(root))).hexdigest()
    return digest[:32] + ENTRY_SUFFIX


def _entry_content(root: Path) -> bytes:
    return os.fsencode(_absolute(root)) + b"\n"


def _parse_entry(raw: bytes) -> Path | None:
    """Return the root an entry's content names, or None if it is not an absolute path."""
    text = raw.removesuffix(b"\n")
    if not text or b"\0" in text or b"\n" in text or not text.startswith(b"/"):
        return None
    path = os.fsdecode(text)
    if os.path.normpath(path) != path:
        return None  # `..`, `.` or doubled slashes: not what record_root writes
    return Path(path)


def _make_index(directory: Path) -> None:
    """Create *directory* (0700) or check it is a directory of ours. Raises OSError if not."""
    directory.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileExistsError):
        directory.mkdir(mode=0o700)
    status = os.lstat(directory)
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.geteuid():
        raise OSError(f"{directory} is not a directory of yours")
    if stat.S_IMODE(status.st_mode) != 0o700:
        os.chmod(directory, 0o700)


def _write_entry(path: Path, content: bytes) -> None:
    """Replace *path* with a 0600 file holding *content*, atomically. Raises OSError."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.write(fd, content)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def record_root(state_dir: Path, root: Path) -> None:
    """Record *root* in the index under *state_dir*, unless it is already there.

    Never raises for a file system problem: it logs one warning instead.
    """
    directory = index_directory(state_dir)
    path = directory / entry_name(root)
    content = _entry_content(root)
    try:
        if read_untrusted(path, ENTRY_MAX_BYTES) == content:
            return
    except (OSError, UntrustedFile):
        pass  # missing or not what it should be: (re)write it
    try:
        _make_index(directory)
        _write_entry(path, content)
    except OSError as error:
        logger.warning("could not record the coordination root %s in %s: %s",
                       _absolute(root), directory, error.strerror or error)


def indexed_roots(state_dir: Path) -> list[Path]:
    """Return every root recorded under *state_dir*: absolute paths, sorted, each once.

    Roots whose directory no longer exists are included. Entries that are not what
    `record_root` writes are skipped, with one warning for all of them.
    """
    directory = index_directory(state_dir)
    try:
        status = os.lstat(directory)
    except FileNotFoundError:
        return []
    except OSError as error:
        logger.warning("cannot read the root index %s: %s", directory, error.strerror or error)
        return []
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.geteuid():
        logger.warning("ignoring the root index %s: it is not a directory of yours", directory)
        return []
    try:
        names = sorted(os.listdir(directory))
    except OSError as error:
        logger.warning("cannot read the root index %s: %s", directory, error.strerror or error)
        return []
    roots: set[Path] = set()
    skipped: list[str] = []
    for name in names:
        if name.startswith("."):
            continue  # a temporary file of a record in progress (or left by a crash)
        root = _read_entry(directory / name) if _ENTRY_NAME.fullmatch(name) else None
        if root is None:
            skipped.append(name)
        else:
            roots.add(root)
    if skipped:
        logger.warning("skipped %d entr%s of the root index %s that record_root did not "
                       "write (first: %s)", len(skipped), "y" if len(skipped) == 1 else "ies",
                       directory, skipped[0])
    return sorted(roots)


def _read_entry(path: Path) -> Path | None:
    """Return the root the entry *path* names, or None if it is unusable or misnamed."""
    try:
        root = _parse_entry(read_untrusted(path, ENTRY_MAX_BYTES))
    except (OSError, UntrustedFile):
        return None
    if root is None or entry_name(root) != path.name:
        return None  # copied or renamed: this entry is not the one record_root wrote
    return root


def forget_root(state_dir: Path, root: Path) -> bool:
    """Remove *root*'s entry from the index; return whether there was one.

    Raises OSError if it exists but cannot be removed.
    """
    try:
        os.unlink(index_directory(state_dir) / entry_name(root))
    except FileNotFoundError:
        return False
    return True
