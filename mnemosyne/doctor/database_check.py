"""The database check: the store inspects itself, and doctor turns its facts into findings.

Doctor sends no SQL of its own: `store.inspection` answers (integrity, the full-text index,
schema version, WAL size, free space, file modes), so another store backend can answer the
same check. A fact that names a safe repair (checkpoint an oversized WAL, make the files
private) is repaired by `--fix`. These are SQLite facts; a PostgreSQL database gets one
finding from the backend's `health()`: it answers (and its schema is current), or the problem.
Must not: open a SQLite database itself, or delete the database or its WAL.
"""

from __future__ import annotations

from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding
from mnemosyne.errors import MnemosyneError
from mnemosyne.store import open_store
from mnemosyne.store.sqlite import inspection

NAME = "database"
PURPOSE = "integrity, full-text index, schema version, WAL size, free space, file modes"


def run(ctx: Context) -> list[Finding]:
    """Inspect the configured database; apply the repairs it names when allowed."""
    path = ctx.settings.db_path
    if path is None:
        return [server_finding(ctx)]
    findings = []
    for fact in inspection.inspect_database(path, ctx.settings.busy_timeout_ms):
        details = {"fact": fact.name, **fact.details}
        if fact.status == "ok" or fact.repair is None or not ctx.run.may("repair"):
            findings.append(ctx.finding(NAME, fact.status, fact.message, **details))
            continue
        try:
            if fact.repair == "checkpoint_wal":
                done = inspection.checkpoint_wal(path, ctx.settings.busy_timeout_ms)
            else:
                done = "made private: " + ", ".join(inspection.fix_modes(path))
        except MnemosyneError as error:
            findings.append(ctx.finding(NAME, fact.status, f"{fact.message} (repair failed: "
                                        f"{error})", **details))
            continue
        findings.append(ctx.finding(NAME, "fixed", f"{fact.message}: {done}", **details))
    return findings


def server_finding(ctx: Context) -> Finding:
    """Return whether a database server (PostgreSQL) answers, as one finding."""
    try:
        with open_store(ctx.settings) as store:
            health = store.health()
            where = store.display_url
    except MnemosyneError as error:
        return ctx.finding(NAME, "problem", str(error), fact="server")
    if health.ok:
        return ctx.finding(NAME, "ok", f"PostgreSQL {where} answers", fact="server")
    return ctx.finding(NAME, "problem", f"PostgreSQL {where}: {health.detail}", fact="server")
