"""Store one memory in the shared database.

Prints the new memory's id (or the whole memory with --format json). `-c -` reads the content
from standard input.
"""

from __future__ import annotations

import argparse
import sys

from mnemosyne.cli.output import add_format_flag, print_json
from mnemosyne.config import Settings
from mnemosyne.errors import UsageError
from mnemosyne.store import model, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("-c", "--content", required=True, metavar="TEXT",
                        help="what to remember; '-' reads standard input")
    parser.add_argument("-n", "--namespace", default="global", metavar="NS",
                        help="global, project:NAME or session:PROJECT:ID (default: global)")
    parser.add_argument("-i", "--importance", default=str(model.DEFAULT_IMPORTANCE),
                        metavar="1..10", help="importance (default: 5)")
    parser.add_argument("-t", "--tags", metavar="TAG,TAG", help="comma-separated tags")
    parser.add_argument("--type", dest="memory_type", default=model.DEFAULT_MEMORY_TYPE,
                        metavar="TYPE", help=f"one of {', '.join(model.MEMORY_TYPES)}")
    parser.add_argument("--summary", metavar="TEXT", help="optional one-line summary")
    add_format_flag(parser)


def read_content(value: str) -> str:
    """Return *value*, or standard input when it is '-'. Raises UsageError if unreadable."""
    if value != "-":
        return value
    try:
        return sys.stdin.buffer.read().decode("utf-8")  # strictly: no surrogate escapes
    except UnicodeDecodeError:
        raise UsageError("standard input is not valid UTF-8 text") from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Validate, store, and print the memory."""
    content = read_content(args.content)
    with open_store(settings) as store:
        memory = store.remember(content, namespace=args.namespace, importance=args.importance,
                                tags=args.tags, memory_type=args.memory_type,
                                summary=args.summary)
    if args.format == "json":
        print_json(memory.to_dict())
    else:
        print(memory.id)
    return 0
