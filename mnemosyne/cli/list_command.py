"""List memories, most recently stored first."""

from __future__ import annotations

import argparse
import logging

from mnemosyne.cli.output import add_format_flag, print_json, print_memory_lines
from mnemosyne.config import Settings
from mnemosyne.errors import UsageError
from mnemosyne.store import open_store

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("-n", "--namespace", metavar="NS", help="only this namespace")
    parser.add_argument("-l", "--limit", default="100", metavar="N",
                        help="at most N memories, 0 for all (default: 100)")
    parser.add_argument("--archived", action="store_true", help="include archived memories")
    add_format_flag(parser)


def parse_limit(text: str) -> int:
    """Return *text* as a limit of 0 or more. Raises UsageError otherwise."""
    if not text.strip().isdigit():
        raise UsageError(f"limit must be a whole number, 0 for all, not {text!r}")
    return int(text)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List and print."""
    limit = parse_limit(args.limit)
    with open_store(settings) as store:
        memories = store.list(args.namespace, limit=limit, include_archived=args.archived)
    if args.format == "json":
        print_json([memory.to_dict() for memory in memories])
    else:
        print_memory_lines((memory, None) for memory in memories)
    if limit and len(memories) == limit:
        logger.info("showing the newest %d; use --limit 0 to see all", limit)
    return 0
