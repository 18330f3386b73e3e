"""The database check: the store inspects itself, and doctor turns its facts into findings.

Doctor sends no SQL of its own: `store.inspection` answers (integrity, the full-text index,
schema version, WAL size, free space, file modes), so another store backend can answer the
same check. A fact that names a safe repair (checkpoint an oversized WAL, make the files
private) is repaired by `--fix`.
Must not: open the database itself, or delete the database or its WAL.
"""

from __future__ import annotations

from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding
from mnemosyne.errors import MnemosyneError
from mnemosyne.store import inspection

NAME = "database"
PURPOSE = "integrity, full-text index, schema version, WAL size, free space, file modes"


def run(ctx: Context) -> list[Finding]:
    """Inspect the configured database; apply the repairs it names when allowed."""
    path = ctx.settings.db_path
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
