"""Database URLs as the store shows them: `redact` removes any password.

The rule itself lives with the settings (config.redact_url, which `config show` uses and which
may import nothing of the store); this is the store's name for it.
Must not: parse URLs for connecting (libpq does).
"""

from __future__ import annotations

from mnemosyne.config import redact_url


def redact(url: str) -> str:
    """Return *url* with any password (user:PASSWORD@ or password=...) replaced by `***`."""
    return redact_url(url)
