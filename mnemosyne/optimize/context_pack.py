"""Context packs: the memories an agent should load at start, within a byte or token budget.

Pure: memories in, bytes out. Memories are taken most important first (then most recently
changed, then by id, so the same memories always give the same bytes). Importance 8 and above
is included in full; 5 to 7 as one line (the summary, else the first line of the content);
below 5 is left out. A memory that does not fit in its tier is shortened (a full memory to
its one line, a line cut at a character boundary and ended with "...") and always keeps its
full id, so the agent can `mnemosyne show` it; one that cannot fit even so is left out.
The header (counts and the budget used) is counted in the budget: the whole output is never
larger than the budget. Tokens are approximated as ceil(bytes / 4), so a budget of N tokens
is a budget of 4 * N bytes.
Must not: touch the database or the file system.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

from mnemosyne.store.model import MEMORY_TYPES, Memory

FULL_IMPORTANCE = 8
LINE_IMPORTANCE = 5
BYTES_PER_TOKEN = 4
ELLIPSIS = "..."
MIN_LINE_TEXT_BYTES = 8  # a cut line shorter than this says too little to be worth its id
UNITS = ("bytes", "tokens")


@dataclasses.dataclass(frozen=True)
class PackEntry:
    """One memory in a pack: its id, how it is shown (full, line, cut) and its size in bytes."""

    id: str
    tier: str
    bytes: int


@dataclasses.dataclass(frozen=True)
class ContextPack:
    """A rendered pack and what went into it."""

    text: bytes
    budget: int
    unit: str
    used: int
    included: tuple[PackEntry, ...]
    omitted: int

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form `{budget, unit, used, included: [{id, tier, bytes}], omitted}`."""
        return {"budget": self.budget, "unit": self.unit, "used": self.used,
                "included": [dataclasses.asdict(entry) for entry in self.included],
                "omitted": self.omitted}


def to_units(size_bytes: int, unit: str) -> int:
    """Return *size_bytes* in *unit*: bytes, or tokens as ceil(bytes / 4)."""
    return math.ceil(size_bytes / BYTES_PER_TOKEN) if unit == "tokens" else size_bytes


def byte_budget(budget: int, unit: str) -> int:
    """Return the largest byte count whose size in *unit* is at most *budget*."""
    return budget * BYTES_PER_TOKEN if unit == "tokens" else budget


def pack_order(memories: Iterable[Memory]) -> list[Memory]:
    """Return the pack's candidates (importance 5 and above) most important first."""
    candidates = [memory for memory in memories if memory.importance >= LINE_IMPORTANCE
                  and not memory.archived and memory.superseded_by is None]
    candidates.sort(key=lambda memory: memory.id)
    candidates.sort(key=lambda memory: memory.updated_at, reverse=True)
    candidates.sort(key=lambda memory: memory.importance, reverse=True)
    return candidates


def clean(text: str) -> str:
    """Return *text* encodable as UTF-8 (a lone surrogate becomes "?")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def one_line(memory: Memory) -> str:
    """Return the memory's summary, else its first non-blank line, on one line."""
    source = memory.summary or next((line for line in memory.content.splitlines()
                                     if line.strip()), memory.content)
    return " ".join(clean(source).split())


def cut_utf8(text: str, max_bytes: int) -> str:
    """Return the longest prefix of *text* of at most *max_bytes* UTF-8 bytes (no char cut)."""
    return text.encode("utf-8")[:max(0, max_bytes)].decode("utf-8", "ignore")


def render_full(memory: Memory) -> str:
    """Return a memory shown in full."""
    return (f"\n## {memory.id} ({memory.memory_type}, importance {memory.importance})\n"
            f"{clean(memory.content).rstrip()}\n")


def line_prefix(memory: Memory) -> str:
    """Return the start of a memory's one-line form (its id, type and importance)."""
    return f"- {memory.id} ({memory.memory_type}, {memory.importance}): "


def render_line(memory: Memory, room: int) -> tuple[str, str] | None:
    """Return (tier, text) of the memory's one-line form within *room* bytes, or None."""
    prefix, text = line_prefix(memory), one_line(memory)
    whole = f"{prefix}{text}\n"
    if len(whole.encode("utf-8")) <= room:
        return "line", whole
    text_room = room - len(prefix.encode("utf-8")) - len(ELLIPSIS) - 1
    if text_room < MIN_LINE_TEXT_BYTES:
        return None
    return "cut", f"{prefix}{cut_utf8(text, text_room).rstrip()}{ELLIPSIS}\n"


def smallest_entry_bytes() -> int:
    """Return the size of the smallest entry any memory can have: a one-character line."""
    shortest_type = min(MEMORY_TYPES, key=len)
    return len(f"- {'0' * 36} ({shortest_type}, {LINE_IMPORTANCE}): x\n".encode())


def render_header(counts: tuple[int, int, int, int], used: int, budget: int, unit: str) -> str:
    """Return the pack's header line; *counts* are (included, full, shortened, left out)."""
    included, full, short, omitted = counts
    return (f"# Context: {included} memories ({full} full, {short} shortened), "
            f"{omitted} left out; {used} of {budget} {unit} used\n")


def build_pack(memories: Iterable[Memory], budget: int, unit: str = "bytes") -> ContextPack:
    """Return the pack of *memories* within *budget* (bytes or tokens); see the module doc."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    limit = byte_budget(max(0, budget), unit)
    candidates = pack_order(memories)
    # Room for the largest header these counts could give: the used figure is at most the budget.
    reserve = len(render_header((len(candidates),) * 4, budget, budget, unit).encode("utf-8"))
    if limit < reserve:  # not even the header fits: an empty pack is within the budget
        return ContextPack(b"", budget, unit, 0, (), len(candidates))
    room = limit - reserve
    parts: list[str] = []
    entries: list[PackEntry] = []
    smallest = smallest_entry_bytes()
    for memory in candidates:
        if room < smallest:  # nothing more can fit: the rest is left out
            break
        rendered: tuple[str, str] | None = None
        if memory.importance >= FULL_IMPORTANCE:
            text = render_full(memory)
            if len(text.encode("utf-8")) <= room:
                rendered = ("full", text)
        if rendered is None:
            rendered = render_line(memory, room)
        if rendered is None:
            continue
        size = len(rendered[1].encode("utf-8"))
        room -= size
        parts.append(rendered[1])
        entries.append(PackEntry(memory.id, rendered[0], size))
    body = "".join(parts).encode("utf-8")
    full = sum(entry.tier == "full" for entry in entries)
    omitted = len(candidates) - len(entries)
    used_bytes = len(body)
    for _ in range(8):  # the header's own length is part of what it reports: find the fixpoint
        header = render_header((len(entries), full, len(entries) - full, omitted),
                               to_units(used_bytes, unit), budget, unit).encode("utf-8")
        if len(header) + len(body) == used_bytes:
            break
        used_bytes = len(header) + len(body)
    text = header + body
    return ContextPack(text, budget, unit, to_units(len(text), unit), tuple(entries), omitted)
