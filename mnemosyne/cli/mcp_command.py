"""Serve the Model Context Protocol on stdin/stdout, for an agent that spawns its server.

Attach it with e.g. `claude mcp add mnemosyne -- mnemosyne mcp`. It works on the shared
database without a running daemon and, while it runs, is an instance of kind "mcp" in the
coordination directory (see `mnemosyne instances`), with a new id or --instance-id. Its tools
store and recall memories (default namespace: project:<repository name>, or global outside a
repository), give the project's context, and let the agent see the other instances, message
them and claim branches. Only JSON-RPC lines are written to stdout; logs go to stderr. It
exits with status 0 when stdin closes or on SIGTERM/SIGINT.

The same tools are served over MCP's Streamable HTTP transport at /mcp by every instance
started with `serve --with-api`, behind the API token (send `Authorization: Bearer TOKEN`,
the content of ~/.config/mnemosyne/api-token): e.g. `claude mcp add --transport http
mnemosyne http://127.0.0.1:3000/mcp --header "Authorization: Bearer TOKEN"`.
"""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_root_flag
from mnemosyne.config import Settings
from mnemosyne.daemon.mcp_stdio import run_mcp_stdio


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--instance-id", metavar="ID",
                        help="the instance id to register as (default: a new random id)")
    add_root_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve until stdin closes or a stop signal."""
    return run_mcp_stdio(settings, args.instance_id)
