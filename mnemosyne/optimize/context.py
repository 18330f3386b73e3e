"""Gather a context pack's memories from the shared database, read-only, and build the pack.

Candidates come through the store's own recall (no access counted, archived and superseded
left out): for each namespace asked for, plus `global` (all namespaces when none is given),
the MAX_CANDIDATES most important memories of importance 5 and above, or with a query text
the MAX_CANDIDATES best matches. A SQLite database is opened read-only (it may be on a
read-only file system); a PostgreSQL one through the store as usual. Nothing is written.
Must not: render the pack (context_pack.py) or write anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mnemosyne.atomicfile import atomic_output
from mnemosyne.config import Settings
from mnemosyne.errors import UnavailableError, UsageError
from mnemosyne.optimize.context_pack import LINE_IMPORTANCE, UNITS, ContextPack, build_pack
from mnemosyne.store import model, open_store
from mnemosyne.store.backend import MemoryBackend
from mnemosyne.store.query import MAX_LIMIT, make_recall_query
from mnemosyne.store.sqlite.backend import SqliteBackend
from mnemosyne.store.sqlite.database import Database

MAX_CANDIDATES = MAX_LIMIT
DEFAULT_BUDGET = 8192


def context_namespaces(namespaces: Sequence[str] | None) -> list[str | None]:
    """Return the namespaces to read (None: all); `global` is always among named ones."""
    if not namespaces:
        return [None]
    chosen = [model.validate_namespace(name) for name in namespaces]
    return list(dict.fromkeys(["global", *chosen]))


def gather(store: MemoryBackend, namespaces: Sequence[str] | None,
           query: str = "") -> list[model.Memory]:
    """Return the candidate memories (unordered, each once) without counting any access."""
    found: dict[str, model.Memory] = {}
    for namespace in context_namespaces(namespaces):
        request = make_recall_query(query, namespace=namespace, min_importance=LINE_IMPORTANCE,
                                    limit=MAX_CANDIDATES)
        for hit in store.recall(request, count_access=False):
            found.setdefault(hit.memory.id, hit.memory)
    return list(found.values())


def context_pack(settings: Settings, *, namespaces: Sequence[str] | None, query: str,
                 budget: int, unit: str) -> ContextPack:
    """Return the context pack of the database *settings* name, without writing to it.

    Raises UsageError for a bad namespace, budget or unit; UnavailableError if the database
    cannot be read.
    """
    if budget < 0:
        raise UsageError(f"budget must be 0 or more, not {budget}")
    if unit not in UNITS:
        raise UsageError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
    context_namespaces(namespaces)  # validate before opening anything
    path = settings.db_path
    store = open_store(settings) if path is None else \
        SqliteBackend(Database.open_read_only(path, settings.busy_timeout_ms))
    with store:
        memories = gather(store, namespaces, query)
    return build_pack(memories, budget, unit)


def save_pack(text: str, path: Path) -> None:
    """Write *text* to *path* atomically, mode 0600. Raises UnavailableError if it cannot."""
    path = path.expanduser().absolute()
    try:
        with atomic_output(path, mode=0o600) as stream:
            stream.write(text)
    except OSError as error:
        raise UnavailableError(f"cannot write {path}: {error.strerror or error}") from None
