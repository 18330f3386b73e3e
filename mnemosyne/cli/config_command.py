"""Show every resolved setting and where it came from (flag, env, file or default).

Secrets are masked.
"""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_format_flag, print_json
from mnemosyne.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("action", choices=("show",), help="what to do (show)")
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the settings table."""
    rows = settings.describe()
    if args.format == "json":
        print_json({"config_file": str(settings.config_path), "settings": rows})
        return 0
    print(f"# config file: {settings.config_path}")
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        value = "-" if row["value"] is None else row["value"]
        print(f"{row['name']:<{width}}  {value}  ({row['source']})")
    return 0
