"""Manage the database itself: `db copy --from URL --to URL` moves every memory and link.

The source is exported once (one consistent snapshot) and imported into the target in chunks,
idempotent by id, so an interrupted copy can simply be run again; at the end the target must
hold every exported memory. URLs take the DATABASE_URL forms (a path, sqlite:///PATH,
postgresql://...). Progress goes to stderr when it is a terminal; the summary to stdout.
Exit status: 0 copied and counted, 1 the count check failed or a memory could not be
copied, 2 a bad URL or the same database twice, 3 a database could not be opened or written.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from mnemosyne.config import Settings, parse_database_url, redact_url
from mnemosyne.errors import UsageError
from mnemosyne.store import open_store
from mnemosyne.store.copy import copy_store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("action", choices=["copy"], help="copy: every memory and link")
    parser.add_argument("--from", dest="source", metavar="URL", required=True,
                        help="the database to copy from")
    parser.add_argument("--to", dest="target", metavar="URL", required=True,
                        help="the database to copy into (created and migrated if needed)")


def settings_for(settings: Settings, url: str) -> Settings:
    """Return *settings* naming the database at *url*. Raises UsageError for a bad URL."""
    try:
        return dataclasses.replace(settings, database_url=parse_database_url(url))
    except ValueError as error:
        raise UsageError(f"database URL: {error}") from None


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Copy from one database to the other, showing progress, then check the count."""
    source, target = settings_for(settings, args.source), settings_for(settings, args.target)
    if source.database_url == target.database_url:
        raise UsageError("--from and --to name the same database")
    terminal = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if terminal:
            print(f"\rcopied {done} of {total} memories", end="", file=sys.stderr, flush=True)

    with open_store(source) as from_store, open_store(target) as to_store:
        try:
            report = copy_store(from_store, to_store, progress)
        finally:
            if terminal:
                print(file=sys.stderr)
    print(f"copied {report.exported} memories from {redact_url(source.database_url)} to "
          f"{redact_url(target.database_url)}: {report.imported} new, "
          f"{report.already_present} already there, {report.links} links")
    return 0
