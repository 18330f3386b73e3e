"""Send a coordination message to one instance (--to ID) or to all others (--broadcast).

The message is signed, at most message_size_cap bytes serialized, and published atomically in
the coordination queue; an instance woken by inotify handles it within milliseconds.
"""

from __future__ import annotations

import argparse
import json

from mnemosyne.cli.output import add_format_flag, add_root_flag, print_json
from mnemosyne.config import Settings
from mnemosyne.coord.context import open_root, signing_key
from mnemosyne.coord.identity import new_instance_id
from mnemosyne.coord.queue import MessageQueue
from mnemosyne.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="ID", help="the instance to send to")
    target.add_argument("--broadcast", action="store_true", help="send to every other instance")
    parser.add_argument("--type", dest="message_type", required=True, metavar="TYPE",
                        help="JoinRequest, JoinApproval, JoinDenial, ConflictNotification, "
                             "IsolationRequest, Heartbeat, or an application type")
    parser.add_argument("--payload", default="null", metavar="JSON", help="the message body")
    parser.add_argument("--from", dest="sender", metavar="ID",
                        help="sender id (default: a new random id)")
    add_root_flag(parser)
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Parse the payload, send, print the message id."""
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as error:
        raise UsageError(f"--payload is not JSON: {error.msg} at column {error.colno}") from None
    sender = args.sender or new_instance_id()
    queue = MessageQueue(open_root(settings), sender, signing_key(settings),
                         max_bytes=settings.message_size_cap, ttl_s=settings.message_ttl_s)
    message = queue.send(args.to, args.message_type, payload)
    if args.format == "json":
        print_json(message.to_dict())
    else:
        print(message.id)
    return 0
