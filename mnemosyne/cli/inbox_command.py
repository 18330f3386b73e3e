"""Receive the coordination messages addressed to an instance id (and broadcasts).

While it runs, `inbox` is a registered participant with that id: a daemon holding the same id
makes it fail (exit 7). Without --follow it prints what is waiting and exits; with --follow it
keeps printing messages as they arrive until Ctrl-C. --format json prints JSON Lines: one
message object per line.
"""

from __future__ import annotations

import argparse
import json
import sys

from mnemosyne.cli.output import add_format_flag, add_root_flag
from mnemosyne.config import Settings
from mnemosyne.coord.queue import Message
from mnemosyne.daemon.inbox import run_inbox


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--as", dest="instance_id", required=True, metavar="ID",
                        help="the instance id whose messages to receive")
    parser.add_argument("--follow", action="store_true", help="keep receiving until Ctrl-C")
    add_root_flag(parser)
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Receive and print."""

    def show(message: Message) -> None:
        if args.format == "json":
            line = json.dumps(message.to_dict(), ensure_ascii=False)
        else:
            line = (f"{message.timestamp} {message.from_agent} -> {message.to_agent or 'all'} "
                    f"{message.message_type} {json.dumps(message.payload, ensure_ascii=False)}")
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    return run_inbox(settings, args.instance_id, args.follow, show)
