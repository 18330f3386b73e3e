"""Show one memory in full, with its links. ID may be a unique prefix of 4+ characters."""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_format_flag, print_json, print_memory_detail
from mnemosyne.config import Settings
from mnemosyne.store import open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("id", help="memory id or unique prefix")
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch and print."""
    with open_store(settings) as store:
        memory = store.get(args.id)
        links = store.links_of(memory.id)
    if args.format == "json":
        print_json({**memory.to_dict(), "links": [link.to_dict() for link in links]})
    else:
        print_memory_detail(memory, links)
    return 0
