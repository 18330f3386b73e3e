"""The embedded SQLite engine (APSW, WAL), the default store: one database file per machine.

`backend.SqliteBackend` implements store/backend.py's MemoryBackend on a `database.Database`
(connections, short write transactions, migrations from schema/*.sql); recall.py ranks with
FTS5; changes.py and walwatch.py are its change feed; writehealth.py, checkpoint.py and
inspection.py serve /health, the watchdog and the doctor; tasks.py holds orchestrated plans,
which live in this engine only.
Must not: import from cli/, daemon/ or api/, or from the PostgreSQL engine.
"""
