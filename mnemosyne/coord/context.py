"""Turn resolved settings into what every coordination command needs: root, keys, coordinator.

The API token is the configured `api_token`, else the user's token file (0600, made on first
use like the signing secret), which the daemon and the user's own clients both read.

Must not: register anything; it only locates and prepares.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mnemosyne.coord.coordinator import CrossProcessCoordinator
from mnemosyne.coord.root import CoordinationRoot, choose_root_path, prepare_root
from mnemosyne.coord.signing import load_key, load_secret_file

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
