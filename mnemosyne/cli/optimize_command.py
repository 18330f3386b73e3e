"""Keep the memory store small and relevant, or print a context pack for an agent.

Without --context: one maintenance pass over the shared SQLite database (README, "Keeping the
store small"): near duplicates of a namespace merged into their survivor (the others marked
superseded, never deleted), importance decayed by one point per 90 idle days, memories of
importance 1 idle for 90 days archived, the full-text index compacted, a WAL checkpoint; in
short paced batches, reading on idle cores only. --dry-run changes nothing. One optimizer at a
time: a second one waits, or exits 7 with --no-wait. --interval repeats it until SIGTERM/SIGINT.

--context prints the memories an agent should load at start (README, "Context packs"): each
-n NAMESPACE's and global ones, most important first, within --budget bytes or tokens
(ceil(bytes / 4)), header included; read-only, no access counted.
Exit status: 0 done, 2 invalid flags (or PostgreSQL for the pass), 3 the database cannot be
read or written, 7 another optimizer is running (--no-wait), 130 SIGINT with --interval.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnemosyne.config import Settings
from mnemosyne.optimize.context import DEFAULT_BUDGET, context_pack, save_pack
from mnemosyne.optimize.maintenance import maintain


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--context", action="store_true",
                        help="print a context pack instead of running a maintenance pass")
    parser.add_argument("-n", "--namespace", dest="namespaces", action="append", metavar="NS",
                        help="with --context: this namespace and global (repeatable)")
    parser.add_argument("--query", default="", metavar="TEXT",
                        help="with --context: the best matches of TEXT instead of all")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                        help=f"with --context: size limit (default: {DEFAULT_BUDGET})")
    parser.add_argument("--unit", choices=("bytes", "tokens"), default="bytes",
                        help="unit of --budget (tokens = ceil(bytes / 4); default: bytes)")
    parser.add_argument("--format", choices=("markdown", "json"), default="markdown",
                        help="the pack (or a summary line), or a JSON account of it")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    parser.add_argument("--dry-run", action="store_true",
                        help="maintenance: print what would change, change nothing")
    parser.add_argument("--no-wait", action="store_true",
                        help="maintenance: exit 7 instead of waiting for another optimizer")
    parser.add_argument("--interval", type=float, metavar="SECONDS",
                        help="maintenance: repeat the pass every SECONDS until stopped")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the maintenance pass, or print a context pack with --context."""
    if not args.context:
        return maintain(settings, dry_run=args.dry_run, wait=not args.no_wait,
                        interval_s=args.interval, report=lambda done: print(
                            done.summary() if args.format == "markdown"
                            else json.dumps(done.to_dict()), flush=True))
    pack = context_pack(settings, namespaces=args.namespaces, query=args.query,
                        budget=args.budget, unit=args.unit)
    text = pack.text.decode("utf-8") if args.format == "markdown" else \
        json.dumps(pack.to_dict(), ensure_ascii=False) + "\n"
    if args.output in (None, "-"):
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        return 0
    save_pack(text, Path(args.output))
    return 0

