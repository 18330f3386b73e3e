"""Change a stored memory: its content, summary, importance, tags or type; archive it or not.

ID may be a unique prefix of 4+ characters. Only the fields given change, in one write
transaction; `--content -` reads the new content from standard input. An archived memory is
kept but left out of `recall` and `list` (see `list --archived`).
"""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_format_flag, print_json
from mnemosyne.cli.remember_command import read_content
from mnemosyne.config import Settings
from mnemosyne.store import model, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("id", help="memory id or unique prefix")
    parser.add_argument("-c", "--content", metavar="TEXT",
                        help="new content; '-' reads standard input")
    parser.add_argument("--summary", metavar="TEXT", help="new one-line summary")
    parser.add_argument("-i", "--importance", metavar="1..10", help="new importance")
    parser.add_argument("-t", "--tags", metavar="TAG,TAG",
                        help="new comma-separated tags (replace the old ones)")
    parser.add_argument("--type", dest="memory_type", metavar="TYPE",
                        help=f"new type: one of {', '.join(model.MEMORY_TYPES)}")
    archive = parser.add_mutually_exclusive_group()
    archive.add_argument("--archive", dest="archived", action="store_const", const=True,
                         help="archive the memory (kept, but not recalled or listed)")
    archive.add_argument("--unarchive", dest="archived", action="store_const", const=False,
                         help="bring an archived memory back")
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Validate, update, and print the memory's id (or the whole memory as JSON)."""
    content = None if args.content is None else read_content(args.content)
    with open_store(settings) as store:
        memory = store.update(args.id, content=content, summary=args.summary,
                              importance=args.importance, tags=args.tags,
                              memory_type=args.memory_type, archived=args.archived)
    if args.format == "json":
        print_json(memory.to_dict())
    else:
        print(f"updated {memory.id}")
    return 0
