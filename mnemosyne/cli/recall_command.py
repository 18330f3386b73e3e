"""Find the memories that best match a query (full text, importance and recency).

Words must all match (any word, if none match that way); `word*` matches a prefix. An empty
query lists the most important, most recent memories. Filters apply before the limit.
"""

from __future__ import annotations

import argparse

from mnemosyne.cli.output import add_format_flag, print_json, print_memory_lines
from mnemosyne.config import Settings
from mnemosyne.store import open_store
from mnemosyne.store.query import make_recall_query


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare this command's flags."""
    parser.add_argument("query", nargs="?", default="", help="words to look for")
    parser.add_argument("-n", "--namespace", metavar="NS", help="only this namespace")
    parser.add_argument("-l", "--limit", default="10", metavar="N",
                        help="at most N results, 1..1000 (default: 10)")
    parser.add_argument("--min-importance", metavar="1..10", help="only this important or more")
    parser.add_argument("--type", dest="memory_types", metavar="TYPE[,TYPE]",
                        help="only these memory types")
    parser.add_argument("-t", "--tags", metavar="TAG,TAG", help="only memories with all tags")
    add_format_flag(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Validate the query, search, and print the hits."""
    query = make_recall_query(args.query, namespace=args.namespace,
                              memory_types=args.memory_types, tags=args.tags,
                              min_importance=args.min_importance, limit=args.limit)
    with open_store(settings) as store:
        hits = store.recall(query)
    if args.format == "json":
        print_json([hit.to_dict() for hit in hits])
    else:
        print_memory_lines((hit.memory, hit.score) for hit in hits)
    return 0
