"""Run a plan of tasks in parallel on worker instances, each task in its own worktree.

`orchestrate --plan FILE` (or `-` for stdin) records the plan in the shared database and runs
it with --workers N local workers (`serve --accept-work` instances; others may join). The plan
is JSON: {"name": ..., "tasks": [{"id", "title"?, "depends_on"?, "command", "cwd"?, "env"?,
"timeout_s"?, "retries"?, "worktree"?, "namespace"?}]}; `command` is an argv list (no shell) or
a string (sh -c); --schema prints its JSON Schema. An invalid plan (unknown keys, duplicate ids,
unknown dependencies, missing commands, cycles) is refused before anything runs, naming the JSON
path. --dry-run prints the waves of tasks that could run in parallel. The same plan again, or
--resume PLAN (a file or a stored plan's name), does not run finished tasks again. `orchestrate
status [PLAN]` prints the task table. Exit status: 0 every task done; 1 a task failed or was
skipped; 2 an invalid plan; 130 stopped by SIGINT or SIGTERM (running tasks back to ready).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnemosyne.cli import orchestrate_view as view
from mnemosyne.cli import output
from mnemosyne.config import Settings
from mnemosyne.coord.plan import schema_text
from mnemosyne.daemon.orchestrator import orchestrate
from mnemosyne.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("words", nargs="*", metavar="status [PLAN]",
                        help="print the task table of PLAN (default: every plan)")
    parser.add_argument("--plan", metavar="FILE", help="the plan to run (- for stdin)")
    parser.add_argument("--resume", metavar="PLAN", help="run a stopped plan again (a file, "
                        "or the name of a stored plan); finished tasks are not run again")
    parser.add_argument("--workers", metavar="N", help="local workers to start (default: 2)")
    parser.add_argument("--max-concurrent", metavar="N",
                        help="at most N tasks of the plan at once (default: 0, no limit)")
    parser.add_argument("--dry-run", action="store_true", help="print the waves and stop")
    parser.add_argument("--schema", action="store_true", help="print the plan's JSON Schema")
    output.add_format_flag(parser)
    output.add_root_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the schema, the waves or the status, or run the plan."""
    if args.schema:
        sys.stdout.write(schema_text())
        return 0
    if args.words:
        if args.words[0] != "status" or len(args.words) > 2:
            raise UsageError(f"unknown words {' '.join(args.words)!r}: use `status [PLAN]`")
        return view.print_status(settings, (args.words[1:] or [None])[0], args.format)
    if (args.plan is None) == (args.resume is None):
        raise UsageError("give exactly one of --plan FILE and --resume PLAN")
    plan = view.read_plan(args.plan) if args.plan is not None \
        else view.resume_plan(settings, args.resume)
    options = view.run_options(args, settings)
    if args.dry_run:
        view.print_waves(plan)
        return 0
    return orchestrate(settings, plan, options, view.Progress(), Path.cwd())
