"""Print the web dashboard's login link of a live instance: open it in a browser.

The link carries the user's API token (read from MNEMOSYNE_API_TOKEN, the config file, or the
token file ~/.config/mnemosyne/api-token); opening it sets a session cookie (HttpOnly,
SameSite=Strict) and shows the dashboard. With several live instances, choose one with
--instance. The link is a secret: do not paste it where others can read it.
"""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_root_flag
from mnemosyne.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--instance", metavar="ID",
                        help="the instance whose dashboard to open (needed if several run)")
    add_root_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the login link."""
    from mnemosyne.dash.targets import login_url  # noqa: PLC0415 - only for this command

    print(login_url(settings, args.instance))
    return 0
