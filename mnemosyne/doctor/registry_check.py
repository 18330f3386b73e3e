"""The registry check: dead, hung and unverified entries, and copies set aside earlier.

Provably dead, verified entries are problems; the stale-side fix removes them (each judged
again under the registry's lock). Hung (stale) and unverified entries are reported, never
removed: a hung process may wake up, and an unverified entry may belong to instances sharing
another secret. Entries of other hosts are judged by their heartbeat only. A registry file
that is unusable is set aside by the fix (as the next heartbeat would do anyway); copies set
aside earlier (`*.corrupt-*`, `*.invalid-*`, of both registries) are kept for inspection for
`SET_ASIDE_KEEP_DAYS` days, then removed by `--fix`.
Must not: remove anything but provably dead, verified entries and old set-aside copies.
"""

from __future__ import annotations

import os

from mnemosyne.coord.safefile import remove_entry
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, listed

NAME = "registry"
PURPOSE = "dead, hung and unverified instance entries; registry copies set aside"
SET_ASIDE_KEEP_DAYS = 7


def run(ctx: Context) -> list[Finding]:
    """Judge every entry; remove the provably dead ones when allowed."""
    registry = ctx.registry
    views = ctx.views()
    findings = []
    if registry.problems:
        text = "; ".join(registry.problems)
        if ctx.run.may("stale"):
            registry.document.update(lambda data: None)  # a writer sets the bad file aside
            ctx.forget_views()
            views = ctx.views()
            findings.append(ctx.finding(NAME, "fixed", f"set aside: {text}"))
        else:
            findings.append(ctx.finding(NAME, "problem", text))
    dead = [view.instance_id for view in views if view.state == "dead"]
    if dead:
        if ctx.run.may("stale"):
            removed = registry.remove_dead(only=set(dead))
            ctx.forget_views()
            if removed:
                findings.append(ctx.finding(
                    NAME, "fixed", f"removed {len(removed)} dead instance entr"
                    f"{'y' if len(removed) == 1 else 'ies'}: {listed(removed)}", ids=removed))
        else:
            findings.append(ctx.finding(
                NAME, "problem", f"{len(dead)} dead instance entr"
                f"{'y' if len(dead) == 1 else 'ies'} (process gone): {listed(dead)}", ids=dead))
    for view in views:
        here = view.entry.get("hostname") == registry.host
        if view.state == "stale":
            age = "no" if view.heartbeat_age_s is None else f"{view.heartbeat_age_s:.0f} s old"
            why = (f"alive (pid {view.entry.get('pid')}) but its heartbeat is {age}: hung"
                   if here else f"on host {view.entry.get('hostname')}, heartbeat {age}: "
                   "judged from there, not here")
            findings.append(ctx.finding(NAME, "warn", f"instance {view.instance_id} is {why}",
                                        instance_id=view.instance_id,
                                        heartbeat_age_s=view.heartbeat_age_s))
        elif view.state == "unverified":
            findings.append(ctx.finding(
                NAME, "warn", f"entry {view.instance_id} does not verify (forged, or signed "
                "with another secret): left alone", instance_id=view.instance_id))
    live = [view.instance_id for view in views if view.state == "live"]
    findings.append(ctx.finding(NAME, "ok", f"{len(live)} live instance(s)", ids=live))
    findings += _set_aside_copies(ctx)
    return findings


def _set_aside_copies(ctx: Context) -> list[Finding]:
    assert ctx.root is not None
    keep_s = SET_ASIDE_KEEP_DAYS * 86400
    young, old = [], []
    for name in ctx.registry.set_aside_files():
        age = ctx.age_s(ctx.root.path / name)
        (old if age is not None and age > keep_s else young).append(name)
    findings = []
    if young:
        findings.append(ctx.finding(
            NAME, "kept", f"{len(young)} registry cop(ies) set aside after corruption, kept for "
            f"inspection until {SET_ASIDE_KEEP_DAYS} days old: {listed(young)}", files=young))
    if old:
        if ctx.run.may("repair"):
            # A directory set aside (one was planted where a registry belongs) is only shown.
            trees = [name for name in old if os.path.isdir(ctx.root.path / name)
                     and not os.path.islink(ctx.root.path / name)]
            removed = [name for name in old
                       if name not in trees and remove_entry(ctx.root.path / name)]
            left = [name for name in old if name not in removed and name not in trees]
            if trees:
                findings.append(ctx.finding(NAME, "kept", f"{len(trees)} director(ies) set "
                                            f"aside as registry copies, not deleted by doctor: "
                                            f"{listed(trees)}", files=trees))
            if removed:
                findings.append(ctx.finding(NAME, "fixed", f"removed {len(removed)} registry "
                                            f"cop(ies) set aside over {SET_ASIDE_KEEP_DAYS} "
                                            f"days ago: {listed(removed)}", files=removed))
            if left:
                findings.append(ctx.finding(NAME, "problem", f"could not remove {len(left)} "
                                            f"old registry cop(ies): {listed(left)}",
                                            files=left))
        else:
            findings.append(ctx.finding(NAME, "problem", f"{len(old)} registry cop(ies) set "
                                        f"aside over {SET_ASIDE_KEEP_DAYS} days ago: "
                                        f"{listed(old)}", files=old))
    return findings
