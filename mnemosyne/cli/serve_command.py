"""Run an instance in the foreground until SIGTERM or SIGINT (both exit 0).

The instance registers in the coordination directory's process registry under its id, holds
its liveness lock and heartbeats until it stops. SIGHUP re-reads the configuration file and
environment and applies the log level.
"""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_root_flag
from mnemosyne.config import Settings, resolve_settings
from mnemosyne.daemon import main as daemon_main


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("--instance-id", metavar="ID",
                        help="8 lowercase hex digits (default: a new random id)")
    add_root_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Hand over to the daemon."""
    flags = {"db_path": args.db, "log_level": args.log_level, "root": args.root}
    options = daemon_main.ServeOptions(instance_id=args.instance_id)
    return daemon_main.run(settings, options,
                           lambda: resolve_settings(flags, config_path=args.config))
