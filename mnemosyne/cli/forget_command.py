"""Delete one memory and its links. ID may be a unique prefix of 4+ characters."""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_format_flag, print_json
from mnemosyne.config import Settings
from mnemosyne.store import open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("id", help="memory id or unique prefix")
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Delete and confirm."""
    with open_store(settings) as store:
        memory = store.forget(args.id)
    if args.format == "json":
        print_json({"forgotten": memory.id})
    else:
        print(f"forgot {memory.id}")
    return 0
