"""Export memories as JSON Lines (one memory per line, with its links), to a file or stdout.

The file is replaced atomically: a failed export never leaves a partial file behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from mnemosyne.atomicfile import atomic_output
from mnemosyne.config import Settings
from mnemosyne.errors import UnavailableError
from mnemosyne.store import open_store

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("-n", "--namespace", metavar="NS", help="only this namespace")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Export to the chosen destination."""
    with open_store(settings) as store:
        if args.output in (None, "-"):
            count = store.export(sys.stdout, args.namespace)
        else:
            path = Path(args.output).expanduser().absolute()
            try:
                with atomic_output(path, mode=0o600) as stream:
                    count = store.export(stream, args.namespace)
            except OSError as error:
                raise UnavailableError(f"cannot write {path}: {error.strerror or error}") \
                    from None
    logger.info("exported %d memories", count)
    return 0
