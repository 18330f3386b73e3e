"""Link two memories: `link A B --type supersedes` also marks B as superseded by A."""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_format_flag, print_json
from mnemosyne.config import Settings
from mnemosyne.errors import UsageError
from mnemosyne.store import model, open_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("source", help="memory id (or prefix) the link starts at")
    parser.add_argument("target", help="memory id (or prefix) the link points to")
    parser.add_argument("--type", dest="link_type", required=True, metavar="TYPE",
                        help=f"one of {', '.join(model.LINK_TYPES)}")
    parser.add_argument("--strength", default="1.0", metavar="0..1",
                        help="link strength (default: 1.0)")
    add_format_flag(parser)


def parse_strength(text: str) -> float:
    """Return *text* as a float. Raises UsageError if it is not a number."""
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"link strength must be a number from 0.0 to 1.0, not {text!r}") from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Create the link and confirm."""
    strength = parse_strength(args.strength)
    with open_store(settings) as store:
        link = store.link(args.source, args.target, args.link_type, strength)
    if args.format == "json":
        print_json(link.to_dict())
    else:
        print(f"linked {link.source_id} -[{link.link_type}]-> {link.target_id}")
    return 0
