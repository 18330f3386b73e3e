"""The systemd check: the user manager's view of the instances, and the installed units.

Skipped (not an error) when no user manager answers. Otherwise: failed `mnemosyne@` units (a
problem; `--fix` runs `systemctl --user reset-failed` on them), active units that no registry
entry of the roots checked names, registry entries naming a unit that is not active, unit
files written by `mnemosyne systemd install` that differ from what this version would write
(stale after an upgrade; `--fix` rewrites them and reloads the manager), and whether the
doctor timer is enabled (when units are installed).
Must not: start, stop or enable anything.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from mnemosyne.daemon import units
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding, listed

NAME = "systemd"
PURPOSE = "failed or unregistered mnemosyne@ units, stale unit files, the doctor timer"
TIMEOUT_S = 10.0
SYSTEM_UNIT_DIRECTORY = Path("/usr/lib/systemd/user")
TIMER = "mnemosyne-doctor.timer"


def systemctl(*args: str) -> subprocess.CompletedProcess[str] | None:
    """Run `systemctl --user ARGS`; None if systemctl is missing or hangs."""
    try:
        return subprocess.run(["systemctl", "--user", *args], capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def run(ctx: Context) -> list[Finding]:
    """Compare the manager's units with the registries and the packaged unit files."""
    if shutil.which("systemctl") is None:
        return [ctx.finding(NAME, "skipped", "skipped: systemctl not found")]
    reachable = systemctl("show", "--property=Version")
    if reachable is None or reachable.returncode != 0:
        return [ctx.finding(NAME, "skipped", "skipped: no user manager")]
    listing = systemctl("list-units", "--all", "--plain", "--no-legend", "--no-pager",
                        "--full", "mnemosyne@*")
    states = {}
    for line in (listing.stdout if listing is not None else "").splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0].startswith("mnemosyne@"):
            states[fields[0]] = fields[2]
    findings = [*_failed(ctx, [unit for unit, state in states.items() if state == "failed"]),
                *_unregistered(ctx, states), *_unit_files(ctx), *_timer(ctx)]
    return findings or [ctx.finding(NAME, "ok", f"{len(states)} mnemosyne@ unit(s), none "
                                    "failed, all registered")]


def _failed(ctx: Context, failed: list[str]) -> list[Finding]:
    if not failed:
        return []
    if not ctx.run.may("repair"):
        return [ctx.finding(NAME, "problem", f"{len(failed)} failed unit(s): {listed(failed)} "
                            "(see journalctl --user -u UNIT)", units=failed)]
    result = systemctl("reset-failed", *failed)
    if result is None or result.returncode != 0:
        return [ctx.finding(NAME, "problem", f"could not reset the failed unit(s) "
                            f"{listed(failed)}", units=failed)]
    return [ctx.finding(NAME, "fixed", f"reset {len(failed)} failed unit(s): {listed(failed)}",
                        units=failed)]


def _unregistered(ctx: Context, states: dict[str, str]) -> list[Finding]:
    active = {unit for unit, state in states.items() if state in ("active", "reloading",
                                                                   "activating")}
    named = {entry.get("systemd_unit") for entry in ctx.run.entries_seen.values()}
    findings = [ctx.finding(NAME, "warn", f"unit {unit} is active but no registry entry of the "
                            "roots checked names it (try --all-roots)", unit=unit)
                for unit in sorted(active - named)]
    findings += [ctx.finding(NAME, "warn", f"a registry entry names unit {unit}, which is not "
                             "active", unit=unit)
                 for unit in sorted(unit for unit in named if isinstance(unit, str)
                                    and unit.startswith("mnemosyne@") and unit not in active)]
    return findings


def _unit_files(ctx: Context) -> list[Finding]:
    paths = units.UnitPaths.for_config_dir(ctx.settings.config_dir.parent)
    stale = []
    for name, text in units.rendered_units().items():
        try:
            if not stat.S_ISREG(os.lstat(paths.units / name).st_mode):
                continue  # never read a FIFO (it would block) or follow a link
            installed = (paths.units / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if installed.split("\n", 1)[0] == units.MARKER and installed != text:
            stale.append(name)
    if not stale:
        return []
    if not ctx.run.may("repair"):
        return [ctx.finding(NAME, "problem", f"{len(stale)} installed unit file(s) differ from "
                            f"this version's: {listed(stale)} (mnemosyne systemd install "
                            "rewrites them)", files=stale)]
    odd = [name for name in units.rendered_units() if _not_a_file(paths.units / name)]
    if odd:  # install would write through a link, or block on a FIFO
        return [ctx.finding(NAME, "problem", f"{len(stale)} installed unit file(s) differ from "
                            f"this version's ({listed(stale)}), but {listed(odd)} is not a "
                            "regular file: not rewritten", files=stale)]
    units.install(paths)
    return [ctx.finding(NAME, "fixed", f"rewrote {len(stale)} stale unit file(s) and reloaded "
                        f"the manager: {listed(stale)}", files=stale)]


def _not_a_file(path: Path) -> bool:
    try:
        return not stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
    except OSError:
        return True


def _timer(ctx: Context) -> list[Finding]:
    paths = units.UnitPaths.for_config_dir(ctx.settings.config_dir.parent)
    if not (paths.units / TIMER).exists() and not (SYSTEM_UNIT_DIRECTORY / TIMER).exists():
        return []
    enabled = systemctl("is-enabled", TIMER)
    if enabled is not None and enabled.stdout.strip() in ("enabled", "enabled-runtime",
                                                          "static"):
        return [ctx.finding(NAME, "ok", f"{TIMER} is enabled")]
    return [ctx.finding(NAME, "warn", f"{TIMER} is not enabled: systemctl --user enable --now "
                        f"{TIMER}")]
