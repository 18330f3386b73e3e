"""Find markers of unfinished work in the lines a commit adds: TODO, FIXME, stubs and the like.

A marker is `TODO`, `FIXME`, `HACK` or `XXX` as a word in capitals, or (in any case) "not
implemented" (also `NotImplemented`, `not_implemented`), "stub"/"stubbed" or "placeholder".
Only added lines count: the diff runs from the merge base with the default branch to the tip
(all of the tip's files when there is no base), binary files are skipped, and at most
MAX_MARKERS are kept (with the total counted).
Must not: read the working tree; everything comes from git objects.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

MARKER_RE = re.compile(r"\b(?:TODO|FIXME|HACK|XXX)\b"
                       r"|(?i:not[ _-]?implemented|\bstub(?:bed|s)?\b|\bplaceholders?\b)")
MAX_MARKERS = 50
MAX_TEXT = 120


@dataclasses.dataclass(frozen=True)
class Marker:
    """One marker found on an added line."""

    path: str
    line: int
    marker: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """Return `path:line: marker: text`."""
        return f"{self.path}:{self.line}: {self.marker}: {self.text}"


def markers_in(text: str) -> list[str]:
    """Return the markers in one line of *text*, normalised (upper case, spaces for _ and -)."""
    found = []
    for match in MARKER_RE.finditer(text):
        word = match.group(0)
        if word.lower().startswith("not"):
            word = "not implemented"
        elif word.lower().startswith(("stub", "placeholder")):
            word = word.lower().rstrip("s").removesuffix("bed")
        found.append(word)
    return found


def scan_diff(repository: Any, base: str | None, tip: str) -> tuple[list[Marker], int]:
    """Return the markers on lines added from *base* (or nothing) to *tip*, and their count."""
    tip_tree = repository.get(tip).tree
    if base is None:
        diff = tip_tree.diff_to_tree(swap=True, context_lines=0)
    else:
        diff = repository.diff(repository.get(base).tree, tip_tree, context_lines=0)
    found: list[Marker] = []
    total = 0
    for patch in diff:
        if patch.delta.is_binary:
            continue
        path = patch.delta.new_file.path
        for hunk in patch.hunks:
            for line in hunk.lines:
                if line.origin != "+":
                    continue
                for word in markers_in(line.content):
                    total += 1
                    if len(found) < MAX_MARKERS:
                        found.append(Marker(path, line.new_lineno, word,
                                            line.content.strip()[:MAX_TEXT]))
    return found, total
