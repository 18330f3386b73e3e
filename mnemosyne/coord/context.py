"""Turn resolved settings into what every coordination command needs: root, keys, coordinator.

The API token is the configured `api_token`, else the user's token file (0600, made on first
use like the signing secret), which the daemon and the user's own clients both read.
Every root opened here is recorded in the user's index of roots (roots.py), so that
`instances --all-roots` and doctor find the roots of every repository and of systemd's
instances; `open_indexed_roots` opens them all, the indexed ones as they are
(`existing_root`: nothing is created or re-moded there, and one that is gone stays gone).

Must not: register anything; it only locates, prepares and records where.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import CoordinationRoot, choose_root_path, locate_git, prepare_root
from mnemosyne.coord.roots import indexed_roots, record_root
from mnemosyne.coord.signing import load_key, load_secret_file
from mnemosyne.errors import MnemosyneError, UnavailableError, UnsafeError

if TYPE_CHECKING:
    from mnemosyne.config import Settings


def open_root(settings: Settings, start: Path | None = None) -> CoordinationRoot:
    """Return the prepared coordination root for *settings*, looked up from *start* (cwd).

    Raises UnsafeError or UnavailableError if it cannot be used.
    """
    start = Path.cwd() if start is None else start
    root = prepare_root(choose_root_path(settings.root, start, settings.state_dir), start)
    record_root(settings.state_dir, root.path)
    return root


def open_indexed_roots(settings: Settings, start: Path | None = None,
                       ) -> tuple[list[CoordinationRoot], list[str]]:
    """Return every usable root: the one for *start* (cwd) and every indexed one that exists.

    The second list says, one line each, which roots were skipped and why (gone, a symbolic
    link, another user's, not a coordination root). Only the current root is prepared; the
    indexed ones are checked and used as they are (`existing_root`), so an entry naming a
    directory that is gone, or never was a root, makes nothing and changes no mode.
    """
    roots: dict[Path, CoordinationRoot] = {}
    skipped: list[str] = []
    try:
        current = open_root(settings, start)
        roots[current.path] = current
    except MnemosyneError as error:
        skipped.append(str(error))
    for path in indexed_roots(settings.state_dir):
        if path in roots:
            continue
        try:
            roots[path] = existing_root(path)
        except FileNotFoundError:
            skipped.append(f"coordination root {path} no longer exists")
        except OSError as error:
            skipped.append(f"cannot use coordination root {path}: {error.strerror or error}")
        except MnemosyneError as error:
            skipped.append(str(error))
    return sorted(roots.values(), key=lambda root: root.path), skipped


def existing_root(path: Path) -> CoordinationRoot:
    """Return the root at *path* as it is, creating nothing and changing no mode.

    It must be a directory of this user (not a symbolic link) holding a `locks/` directory
    of this user, as every prepared root does.
    Raises FileNotFoundError if it is gone, UnsafeError for a link or another user's
    directory, UnavailableError if it is not a coordination root, OSError if unreadable.
    """
    for directory, what in ((path, "coordination directory"), (path / "locks", "its locks")):
        try:
            status = os.lstat(directory)
        except FileNotFoundError:
            if directory == path:
                raise
            raise UnavailableError(f"{path} is not a coordination directory (no locks/)",
                                   errno.ENOENT) from None
        if stat.S_ISLNK(status.st_mode):
            raise UnsafeError(f"refusing {what} {directory}: it is a symbolic link")
        if status.st_uid != os.geteuid():
            raise UnsafeError(f"refusing {what} {directory}: it belongs to user id "
                              f"{status.st_uid}, not to you ({os.geteuid()})")
        if not stat.S_ISDIR(status.st_mode):
            raise UnavailableError(f"{directory} is not a coordination directory")
    return CoordinationRoot(path, locate_git(path.parent))


def signing_key(settings: Settings) -> bytes:
    """Return the HMAC key for *settings*. Raises UnsafeError for an unsafe secret file."""
    return load_key(settings.shared_secret, settings.config_dir)


def api_token(settings: Settings) -> str:
    """Return the API token for *settings*. Raises UnsafeError for an unsafe token file."""
    if settings.api_token:
        return settings.api_token
    return load_secret_file(settings.api_token_path).decode("ascii", "replace")


def make_coordinator(settings: Settings, instance_id: str,
                     start: Path | None = None) -> CrossProcessCoordinator:
    """Return an unregistered coordinator for *instance_id*, configured from *settings*.

    Raises UnsafeError or UnavailableError if the root or the secret cannot be used.
    """
    return CrossProcessCoordinator(
        open_root(settings, start), instance_id, signing_key(settings),
        settings.stale_threshold_s, message_size_cap=settings.message_size_cap,
        message_ttl_s=settings.message_ttl_s)
