"""Run an instance in the foreground until SIGTERM or SIGINT (both exit 0).

SIGHUP re-reads the configuration file and environment and applies the log level.
"""

from __future__ import annotations

import argparse

from mnemosyne.config import Settings, resolve_settings
from mnemosyne.daemon import main as daemon_main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Hand over to the daemon."""
    flags = {"db_path": args.db, "log_level": args.log_level}
    return daemon_main.run(settings, lambda: resolve_settings(flags, config_path=args.config))
