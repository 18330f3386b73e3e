"""Import memories from JSON Lines written by `export` (a file, or '-' for stdin).

The whole input is checked first: a bad line is reported with its number and nothing is
imported, unless --continue-on-error skips bad lines (exit status 1 then). Memories already
present are skipped (or overwritten with --replace), so an interrupted import can be re-run.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mnemosyne.cli.output import add_format_flag, print_json
from mnemosyne.config import Settings
from mnemosyne.errors import ExitCode, UsageError
from mnemosyne.store import open_store

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("file", help="JSON Lines file, or '-' for standard input")
    parser.add_argument("--continue-on-error", action="store_true",
                        help="skip bad lines instead of importing nothing")
    parser.add_argument("--replace", action="store_true",
                        help="overwrite memories whose id already exists")
    add_format_flag(parser)


def read_lines(name: str) -> list[str]:
    """Return the lines of file *name* (or stdin). Raises UsageError if it cannot be read."""
    try:
        if name == "-":
            return sys.stdin.read().splitlines()
        return Path(name).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text") from None
    except OSError as error:
        raise UsageError(f"cannot read {name}: {error.strerror or error}") from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Import and report."""
    lines = read_lines(args.file)
    with open_store(settings) as store:
        report = store.import_lines(lines, replace=args.replace,
                                 continue_on_error=args.continue_on_error)
    for line, reason in report.rejected:
        logger.warning("line %d skipped: %s", line, reason)
    if args.format == "json":
        print_json(report.to_dict())
    else:
        print(f"imported {report.imported}, replaced {report.replaced}, already present "
              f"{report.already_present}, links {report.links}, "
              f"skipped {len(report.rejected)} bad line(s)")
    return int(ExitCode.ERROR if report.rejected else ExitCode.OK)
