"""Review new commits at the tips of instance branches: a check in a worktree, a marker scan.

Each tip of a branch matching --branch (default `mnemosyne/*`) that was not reviewed before is
checked out in a temporary detached worktree under the coordination root, the check command
(--check, else the review_check setting) runs there within --timeout seconds, and the lines
the commit adds since the merge base with the default branch are scanned for TODO, FIXME,
HACK, XXX, "not implemented", stub and placeholder. The result is stored as one memory of
type review (-n NAMESPACE; default project:<repository directory>) and sent as a ReviewResult
message to the instances working on the branch. Each commit is reviewed once, across
restarts and reviewers. No ref is moved and no other worktree is touched.

Exit status: 0 all reviews passed or nothing was new (or stopped by SIGTERM), 1 a check
failed or timed out, 2 not in a git repository or invalid flags, 3 the store cannot be
opened, 130 interrupted. --watch keeps running as a registered instance, reviewing new
commits as they arrive, until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import sys

from mnemosyne.cli.output import add_format_flag, add_root_flag
from mnemosyne.config import Settings
from mnemosyne.review.record import ReviewResult
from mnemosyne.review.reviewer import make_options
from mnemosyne.review.watcher import run_once, run_watch


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--branch", dest="globs", action="append", metavar="GLOB",
                        help="branches to review (repeatable; default: mnemosyne/*)")
    parser.add_argument("--check", metavar="CMD",
                        help="shell command run in each commit's worktree (default: the "
                             "review_check setting; none: only the marker scan)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="seconds the check may run (default: review_timeout_s, 600)")
    parser.add_argument("--watch", action="store_true",
                        help="keep reviewing new commits until SIGTERM or SIGINT")
    parser.add_argument("-n", "--namespace", metavar="NAMESPACE",
                        help="namespace of the review memories (default: project:<repo>)")
    add_root_flag(parser)
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Review once, or watch."""
    options = make_options(settings, args.globs, args.check, args.timeout, args.namespace)

    def show(result: ReviewResult) -> None:
        if args.format == "json":
            line = json.dumps(result.to_dict(), ensure_ascii=False)
        else:
            line = result.headline() + (f" -> {', '.join(result.notified)}"
                                        if result.notified else "")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    if args.watch:
        return run_watch(settings, options, show,
                         lambda instance_id: print(f"mnemosyne: reviewing as instance "
                                                   f"{instance_id}", file=sys.stderr))
    return run_once(settings, options, show)
