"""The shared SQLite store: connections, retried writes, migrations, memories, recall, transfer.

Must not: import from cli/, daemon/ or api/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mnemosyne.config import Settings
    from mnemosyne.store.memories import MemoryStore


def open_memory_store(settings: Settings, batch_access_counts: bool = False) -> MemoryStore:
    """Open (creating and migrating if needed) the database *settings* name.

    *batch_access_counts*: for long-running processes (see store/access.py).

    Raises UnavailableError if it cannot be opened.
    """
    from mnemosyne.store.database import Database  # noqa: PLC0415 - keep `import store` light
    from mnemosyne.store.memories import MemoryStore  # noqa: PLC0415

    database = Database.open(settings.db_path, settings.busy_timeout_ms, settings.write_deadline_s)
    return MemoryStore(database, settings.max_content_bytes, batch_access_counts)
