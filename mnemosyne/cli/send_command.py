"""Send a coordination message to one instance (--to ID) or to all others (--broadcast).

The message is signed, at most message_size_cap bytes serialized, and published atomically in
the coordination queue; an instance woken by inotify handles it within milliseconds.

`--to ID` refuses (exit status 5) when no running instance holds ID, so a mistyped id fails
loudly; `--allow-offline` queues it anyway, for an instance (or `inbox --as ID`) that starts
within message_ttl_s. A full disk gives exit status 3.
"""

from __future__ import annotations

import argparse
import json
import time

from mnemosyne.cli.output import add_format_flag, add_root_flag, print_json
from mnemosyne.config import Settings
from mnemosyne.coord.context import open_root, signing_key
from mnemosyne.coord.identity import new_instance_id, validate_instance_id
from mnemosyne.coord.queue import MessageQueue, validate_message_type
from mnemosyne.coord.registry import ProcessRegistry
from mnemosyne.errors import NotFoundError, UsageError


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
    parser.add_argument("--allow-offline", action="store_true",
                        help="queue a direct message even if no running instance holds the id")
    add_root_flag(parser)
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Parse the payload, send, print the message id."""
    try:
        payload = json.loads(args.payload)
    except json.JSONDecodeError as error:
        raise UsageError(f"--payload is not JSON: {error.msg} at column {error.colno}") from None
    sender = args.sender or new_instance_id()
    root, key = open_root(settings), signing_key(settings)
    if args.to is not None and not args.allow_offline:
        validate_instance_id(args.to)
        validate_message_type(args.message_type)
        registry = ProcessRegistry(root, key, settings.stale_threshold_s, clock=time.time)
        entry = registry.entries(refuse_unsafe=True).get(args.to)
        if entry is None or registry.judge(entry).state not in ("live", "stale"):
            raise NotFoundError(f"no running instance holds id {args.to} (see `mnemosyne "
                                "instances`); add --allow-offline to queue it for one that "
                                f"starts within {settings.message_ttl_s:g} s")
    queue = MessageQueue(root, sender, key, max_bytes=settings.message_size_cap,
                         ttl_s=settings.message_ttl_s)
    message = queue.send(args.to, args.message_type, payload)
    if args.format == "json":
        print_json(message.to_dict())
    else:
        print(message.id)
    return 0
