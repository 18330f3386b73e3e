"""The branches check: claims held by dead or missing instances, expired claims, a bad file.

The stale-side fix drops what the branch registry itself would drop on its next change:
claims whose instance is provably dead or has no entry and no liveness lock, and expired
ones; a corrupt file is set aside by that same write.
Must not: touch git branches (doctor never deletes a branch).
"""

from __future__ import annotations

from mnemosyne.coord.branches import BranchRegistry
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, listed

NAME = "branches"
PURPOSE = "branch claims of dead or missing instances, expired claims, a corrupt file"


def run(ctx: Context) -> list[Finding]:
    """Report stale claims; release them when allowed."""
    branches = BranchRegistry(ctx.registry)
    stale = branches.stale_assignments()
    problems = list(branches.document.problems)
    findings = []
    if not stale and not problems:
        return [ctx.finding(NAME, "ok", "every branch claim belongs to a running instance")]
    described = [f"{branch} ({instance_id}: {why})" for branch, instance_id, why in stale]
    if ctx.run.may("stale"):
        released = branches.release_stale()
        if problems:
            findings.append(ctx.finding(NAME, "fixed", f"set aside: {'; '.join(problems)}"))
        if released:
            findings.append(ctx.finding(NAME, "fixed", f"released {released} stale branch "
                                        f"claim(s): {listed(described)}", claims=described))
        return findings or [ctx.finding(NAME, "ok", "the stale claims were released meanwhile")]
    findings += [ctx.finding(NAME, "problem", problem) for problem in problems]
    if stale:
        findings.append(ctx.finding(NAME, "problem", f"{len(stale)} stale branch claim(s): "
                                    f"{listed(described)}", claims=described))
    return findings
