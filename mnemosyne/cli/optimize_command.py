"""Keep the memory store small and relevant, or print a context pack for an agent.

--context prints the memories an agent should load at start: those of each -n NAMESPACE and
global ones (all namespaces without -n), archived and superseded left out, most important
first; importance 8 and above in full, 5 to 7 as their summary or first line, below 5 left
out. The output, its header included, never exceeds --budget (bytes, or tokens counted as
ceil(bytes / 4)); a shortened memory keeps its id for `mnemosyne show`. Read-only: works on
a read-only database and counts no access. --format json prints
{budget, unit, used, included: [{id, tier, bytes}], omitted} instead of the pack.

Without --context (the maintenance pass, not built yet) it exits 2 with one line.

Exit status: 0 done, 2 invalid flags, 3 the database cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnemosyne.atomicfile import atomic_output
from mnemosyne.config import Settings
from mnemosyne.errors import UnavailableError, UsageError
from mnemosyne.optimize.context import DEFAULT_BUDGET, context_pack


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
                        help="with --context: the pack, or a JSON account of it")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print a context pack (the maintenance pass comes with its own flags)."""
    if not args.context:
        raise UsageError("only --context is available so far: the maintenance pass "
                         "(duplicates, decay, archive) is not built yet")
    pack = context_pack(settings, namespaces=args.namespaces, query=args.query,
                        budget=args.budget, unit=args.unit)
    text = pack.text.decode("utf-8") if args.format == "markdown" else \
        json.dumps(pack.to_dict(), ensure_ascii=False) + "\n"
    if args.output in (None, "-"):
        sys.stdout.flush()
        sys.stdout.buffer.write(text.encode("utf-8"))
        sys.stdout.buffer.flush()
        return 0
    path = Path(args.output).expanduser().absolute()
    try:
        with atomic_output(path, mode=0o600) as stream:
            stream.write(text)
    except OSError as error:
        raise UnavailableError(f"cannot write {path}: {error.strerror or error}") from None
    return 0
