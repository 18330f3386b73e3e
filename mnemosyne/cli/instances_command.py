"""List the instances registered in the coordination directory.

STATE is live, stale (alive, but no heartbeat within the stale threshold: hung), unverified
(its signature does not verify: forged, tampered with, or signed with another secret) or dead
(provably: no liveness lock and no such process; shown with --all).

Entries that fail the field checks (e.g. a PID out of range, filed under another id) are left
out, and a registry file that is corrupt, over its size cap or not a regular file reads as
empty: either way one warning line on stderr says so, and names what the instances have set
aside (`process_registry.json.corrupt-*`, `*.invalid-*`); the exit status stays 0. A registry
file that is a symbolic link or another user's is refused (exit status 6).
"""

from __future__ import annotations

import argparse
import sys
import time

from mnemosyne.cli.output import add_format_flag, add_root_flag, format_age, print_json
from mnemosyne.config import Settings
from mnemosyne.coord.context import open_root, signing_key
from mnemosyne.coord.registry import ProcessRegistry

COLUMNS = ("ID", "PID", "STATE", "AGE", "HEARTBEAT", "API", "BRANCH", "WORKTREE", "UNIT")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--all", action="store_true", help="include dead entries")
    add_root_flag(parser)
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Judge every entry now and print the table."""
    registry = ProcessRegistry(open_root(settings), signing_key(settings),
                               settings.stale_threshold_s, clock=time.time)
    views = [view for view in registry.views(refuse_unsafe=True)
             if args.all or view.state != "dead"]
    aside = registry.set_aside_files()
    if registry.problems or aside:
        notes = [*registry.problems, *([f"{len(aside)} file(s) set aside in "
                                        f"{registry.root.path} (newest: {aside[-1]})"]
                                       if aside else [])]
        print(f"mnemosyne: warning: {'; '.join(notes)}", file=sys.stderr)
    if args.format == "json":
        print_json([view.to_dict() for view in views])
        return 0
    rows = [COLUMNS] + [
        (view.instance_id, str(view.entry.get("pid", "-")), view.state, format_age(view.age_s),
         format_age(view.heartbeat_age_s), *(str(view.entry.get(field) or "-") for field in
                                             ("api_url", "branch", "worktree_path",
                                              "systemd_unit")))
        for view in views]
    widths = [max(len(row[index]) for row in rows) for index in range(len(COLUMNS))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              .rstrip())
    return 0
