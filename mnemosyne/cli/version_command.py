"""Print the version of mnemosyne and of the libraries it runs on."""

from __future__ import annotations

import argparse
import platform

import apsw

from mnemosyne import __version__
from mnemosyne.cli.output import add_format_flag, print_json
from mnemosyne.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the versions."""
    versions = {"version": __version__, "python": platform.python_version(),
                "apsw": apsw.apswversion(), "sqlite": apsw.sqlitelibversion()}
    if args.format == "json":
        print_json(versions)
    else:
        print(f"mnemosyne {__version__} (Python {versions['python']}, APSW {versions['apsw']}, "
              f"SQLite {versions['sqlite']})")
    return 0
