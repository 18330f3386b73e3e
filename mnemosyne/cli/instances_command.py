"""List the instances registered in the coordination directory, or in every one (--all-roots).

STATE is live, stale (alive, but no heartbeat within the stale threshold: hung), unverified
(its signature does not verify: forged, tampered with, or signed with another secret) or dead
(provably: no liveness lock and no such process; shown with --all). The table form names each
root it read on stderr (`coordination root DIR (N instance(s))`); in JSON each instance has a
`root` field. --all-roots reads every root in the user's index (each root a command or an
instance used), adds a ROOT column, and skips with a warning a root that is gone, unsafe or
unreadable. Invalid entries are left out, a corrupt registry reads as empty, and a warning
names what was set aside (exit status 0); without --all-roots a root or registry that is a
link or another user's is refused (status 6).
"""

from __future__ import annotations

import argparse
import time

from mnemosyne.cli import output
from mnemosyne.config import Settings
from mnemosyne.coord.context import open_indexed_roots, open_root, signing_key
from mnemosyne.coord.registry import ProcessRegistry
from mnemosyne.errors import MnemosyneError

COLUMNS = ("ID", "PID", "STATE", "AGE", "HEARTBEAT", "API", "BRANCH", "WORKTREE", "UNIT", "ROOT")
FIELDS = ("api_url", "branch", "worktree_path", "systemd_unit", "root")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--all", action="store_true", help="include dead entries")
    parser.add_argument("--all-roots", action="store_true", help="list the instances of every "
                        "coordination root in the user's index of roots (adds a ROOT column)")
    output.add_root_flag(parser)
    output.add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Judge every entry now and print the table."""
    roots, skipped = open_indexed_roots(settings) if args.all_roots else ([open_root(settings)], [])
    key, found = signing_key(settings), []
    for root in roots:
        registry = ProcessRegistry(root, key, settings.stale_threshold_s, clock=time.time)
        try:
            every = registry.views(refuse_unsafe=True)
        except (MnemosyneError, OSError) as error:
            if not args.all_roots:
                raise
            skipped.append(f"cannot read the registry of {root.path}: {error}")
            continue
        views = [view for view in every if args.all or view.state != "dead"]
        aside = registry.set_aside_files()
        if notes := [*registry.problems, *([f"{len(aside)} file(s) set aside in {root.path} "
                                            f"(newest: {aside[-1]})"] if aside else [])]:
            output.print_note(f"warning: {'; '.join(notes)}")
        if args.format == "text":
            output.print_note(f"coordination root {root.path} ({len(views)} instance(s))")
        found += [{**view.to_dict(), "root": str(root.path)} for view in views]
    for note in skipped:
        output.print_note(f"warning: skipped {note}")
    if args.format == "json":
        output.print_json(found)
        return 0
    shown = len(COLUMNS) if args.all_roots else len(COLUMNS) - 1  # ROOT with --all-roots only
    output.print_table([COLUMNS[:shown], *[
        (str(item.get("instance_id", "?")), str(item.get("pid", "-")), item["state"],
         output.format_age(item["age_s"]), output.format_age(item["heartbeat_age_s"]),
         *(str(item.get(field) or "-") for field in FIELDS))[:shown] for item in found]])
    return 0
