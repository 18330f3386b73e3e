"""Print a one-time login link to a live instance's web dashboard: open it in a browser.

The instance gives the link for the user's API token (MNEMOSYNE_API_TOKEN, the config file, or
the token file ~/.config/mnemosyne/api-token), so the token itself never enters the browser.
Opening the link, once, within 2 minutes, sets a session cookie (HttpOnly, SameSite=Strict)
and shows the dashboard. With several live instances, choose one with --instance.
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
