"""Render results for people (aligned text) and programs (one stable JSON document).

Must not: decide what to show; commands pass exactly what they want printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

from mnemosyne.store.model import Link, Memory

PREVIEW_WIDTH = 72


def add_format_flag(parser: argparse.ArgumentParser) -> None:
    """Add `--format text|json` to a command."""
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="output format (default: text); JSON is documented in README")


def add_root_flag(parser: argparse.ArgumentParser) -> None:
    """Add `--root DIR` to a command that uses the coordination directory."""
    parser.add_argument("--root", metavar="DIR",
                        help="coordination directory (default: .mnemosyne at the top of the "
                             "main git worktree, else ~/.local/state/mnemosyne)")


def format_age(seconds: float | None) -> str:
    """Return a short age: 45s, 12m, 3h, 2d ('-' when unknown)."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Print *rows* (the first is the header) as left-aligned columns two spaces apart."""
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    for row in rows:
        sys.stdout.write("  ".join(cell.ljust(width) for cell, width in
                                   zip(row, widths, strict=True)).rstrip() + "\n")


def print_note(text: str) -> None:
    """Print `mnemosyne: TEXT` on stderr: what the user should know beside the output."""
    sys.stderr.write(f"mnemosyne: {text}\n")


def print_json(value: Any) -> None:
    """Print *value* as one JSON document on stdout."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False, indent=2) + "\n")


def preview(text: str, width: int = PREVIEW_WIDTH) -> str:
    """Return the first line of *text*, shortened to *width* characters."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def memory_line(memory: Memory, score: float | None = None) -> str:
    """One line per memory: short id, [score], namespace, type, importance, preview."""
    parts = [memory.id[:8]]
    if score is not None:
        parts.append(f"{score:7.3f}")
    parts += [memory.namespace, memory.memory_type, f"i={memory.importance}",
              preview(memory.content)]
    return "  ".join(parts)


def print_memory_lines(memories: Iterable[tuple[Memory, float | None]]) -> None:
    """Print one `memory_line` per memory."""
    for memory, score in memories:
        sys.stdout.write(memory_line(memory, score) + "\n")


def print_memory_detail(memory: Memory, links: list[Link]) -> None:
    """Print every field of *memory*, its links, then its full content."""
    fields = memory.to_dict()
    content = fields.pop("content")
    fields["tags"] = ", ".join(memory.tags) or "-"
    width = max(len(name) for name in fields)
    for name, value in fields.items():
        shown = "-" if value is None else str(value).lower() if isinstance(value, bool) else value
        sys.stdout.write(f"{name:<{width}}  {shown}\n")
    for link in links:
        arrow = (f"-> {link.target_id}" if link.source_id == memory.id
                 else f"<- {link.source_id}")
        sys.stdout.write(f"{'link':<{width}}  {link.link_type} {arrow} "
                         f"(strength {link.strength:g})\n")
    sys.stdout.write("\n" + content + ("" if content.endswith("\n") else "\n"))
