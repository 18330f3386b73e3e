"""Turn resolved settings into what every coordination command needs: the root and the key.

Must not: register anything; it only locates and prepares.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mnemosyne.coord.root import CoordinationRoot, choose_root_path, prepare_root
from mnemosyne.coord.signing import load_key

if TYPE_CHECKING:
    from mnemosyne.config import Settings


def open_root(settings: Settings, start: Path | None = None) -> CoordinationRoot:
    """Return the prepared coordination root for *settings*, looked up from *start* (cwd).

    Raises UnsafeError or UnavailableError if it cannot be used.
    """
    start = Path.cwd() if start is None else start
    return prepare_root(choose_root_path(settings.root, start, settings.state_dir), start)


def signing_key(settings: Settings) -> bytes:
    """Return the HMAC key for *settings*. Raises UnsafeError for an unsafe secret file."""
    return load_key(settings.shared_secret, settings.config_dir)
