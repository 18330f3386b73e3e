"""Check what instances share, and with --fix repair what is provably safe to repair.

By default doctor only reports; nothing changes. --cleanup-stale removes what dead instances
left on the registry side (entries, branch claims, cursors, lock files, expired messages):
fast, for the timer. --fix makes every safe repair (that, plus stale clean worktrees and git's
registrations, old rejected and temporary files, failed units, stale unit files, file modes,
an oversized WAL). Nothing of an instance that is live, hung, unverified, on another host or
holding its liveness lock is ever touched; no dirty or locked worktree, branch, commit,
database or WAL is ever deleted.

Each finding is one line: ok, warn, problem, fixed, kept (left on purpose, with why) or
skipped. Exit status: 0 healthy or all fixed; 1 only warnings or things kept; 4 problems
remain. --json prints one document {version, status, checks: [{name, status, message,
details, fixed, root}], summary}.
"""

from __future__ import annotations

import argparse
import sys

from mnemosyne.cli.output import add_root_flag, print_json
from mnemosyne.config import Settings
from mnemosyne.doctor.findings import exit_code, report_document, report_lines

LENIENT_CONFIG = True  # an invalid configuration is a finding here, not an exit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("checks", nargs="*", metavar="CHECK",
                        help="run only these checks (see --list-checks)")
    parser.add_argument("--fix", action="store_true", help="make every safe repair")
    parser.add_argument("--cleanup-stale", action="store_true",
                        help="remove what dead instances left on the registry side (entries, "
                             "claims, cursors, locks, expired messages)")
    parser.add_argument("--all-roots", action="store_true",
                        help="check every coordination root in use (the per-user index), not "
                             "only this directory's")
    parser.add_argument("--list-checks", action="store_true",
                        help="list the checks and what each is for, then exit")
    parser.add_argument("--json", action="store_const", const="json", dest="format",
                        default="text", help="print one JSON document")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each finding's details")
    add_root_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List the checks, or run them and print the report."""
    # Imported here: every other command would pay for loading each check's module.
    from mnemosyne.doctor.checks import CHECKS  # noqa: PLC0415
    from mnemosyne.doctor.runner import run_doctor  # noqa: PLC0415

    if args.list_checks:
        width = max(len(check.name) for check in CHECKS)
        for check in CHECKS:
            print(f"{check.name.ljust(width)}  {check.purpose}")
        return 0
    findings = run_doctor(settings, names=args.checks, fix=args.fix,
                          cleanup_stale=args.cleanup_stale, all_roots=args.all_roots)
    if args.format == "json":
        print_json(report_document(findings))
    else:
        print("\n".join(report_lines(findings, args.verbose, colour=sys.stdout.isatty())))
    return int(exit_code(findings))

