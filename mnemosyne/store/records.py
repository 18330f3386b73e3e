"""The export format's records: one memory per JSON line, checked the same for every engine.

A line is a memory's stable JSON form plus `links` (the links that start at it). `parse_record`
checks one line (fields, types, values, sizes); `validate_records` checks a whole import before
anything is written: bad lines, duplicate ids and references to unknown memories go to the
`ImportReport`, so that both engines accept and refuse exactly the same input.
Must not: touch a database (the engines pass a function answering which ids are stored).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mnemosyne.errors import UsageError
from mnemosyne.store import model
from mnemosyne.store.model import Link, Memory

BATCH_ROWS = 2000  # rows an import writes per transaction, in either engine
REQUIRED_FIELDS = {"id", "namespace", "content", "memory_type", "importance", "created_at",
                   "updated_at"}
OPTIONAL_FIELDS = {"summary", "tags", "access_count", "last_accessed_at", "archived",
                   "superseded_by", "links"}
LINK_FIELDS_ORDER = ("target_id", "link_type", "strength", "created_at")
LINK_FIELDS = set(LINK_FIELDS_ORDER)


@dataclasses.dataclass
class ImportReport:
    """What an import did: counts, and the bad lines it skipped (line number, reason)."""

    imported: int = 0
    replaced: int = 0
    already_present: int = 0
    links: int = 0
    rejected: list[tuple[int, str]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON form."""
        return {"imported": self.imported, "replaced": self.replaced,
                "already_present": self.already_present, "links": self.links,
                "rejected": [{"line": line, "error": error} for line, error in self.rejected]}


@dataclasses.dataclass(frozen=True)
class Record:
    """One valid import line: its number, the memory and the links that start at it."""

    line: int
    memory: Memory
    links: tuple[Link, ...]


def parse_record(line_number: int, text: str, max_content_bytes: int) -> Record:
    """Validate one line into a record. Raises UsageError describing the first problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"not valid JSON ({error.msg} at column {error.colno})") from None
    except RecursionError:
        raise UsageError("JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise UsageError("not a JSON object")
    missing = sorted(REQUIRED_FIELDS - set(data))
    if missing:
        raise UsageError(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(set(data) - REQUIRED_FIELDS - OPTIONAL_FIELDS)
    if unknown:
        raise UsageError(f"unknown field(s): {', '.join(unknown)}")
    access_count = data.get("access_count", 0)
    if isinstance(access_count, bool) or not isinstance(access_count, int) or access_count < 0:
        raise UsageError(f"access_count must be a whole number >= 0, not {access_count!r}")
    archived = data.get("archived", False)
    if not isinstance(archived, bool):
        raise UsageError(f"archived must be true or false, not {archived!r}")
    if not isinstance(data.get("tags", []), list):
        raise UsageError("tags must be a list of strings")
    last_accessed = data.get("last_accessed_at")
    superseded_by = data.get("superseded_by")
    if not isinstance(data["importance"], int):
        raise UsageError(f"importance must be a whole number from 1 to 10, "
                         f"not {data['importance']!r}")
    memory = Memory(
        id=model.validate_memory_id(data["id"]),
        namespace=model.validate_namespace(data["namespace"]),
        content=model.validate_content(data["content"], max_content_bytes),
        summary=model.validate_summary(data.get("summary")),
        memory_type=model.validate_memory_type(data["memory_type"]),
        importance=model.validate_importance(data["importance"]),
        tags=model.parse_tags(data.get("tags", [])),
        created_at=model.validate_timestamp(data["created_at"], "created_at"),
        updated_at=model.validate_timestamp(data["updated_at"], "updated_at"),
        access_count=access_count,
        last_accessed_at=(None if last_accessed is None
                          else model.validate_timestamp(last_accessed, "last_accessed_at")),
        archived=archived,
        superseded_by=(None if superseded_by is None
                       else model.validate_memory_id(superseded_by, "superseded_by")),
    )
    return Record(line_number, memory, tuple(parse_links(memory.id, data.get("links", []))))


def parse_links(source_id: str, raw_links: Any) -> Iterator[Link]:
    """Yield the links of a record's `links` field. Raises UsageError for a bad one."""
    if not isinstance(raw_links, list):
        raise UsageError("links must be a list")
    for raw in raw_links:
        if not isinstance(raw, dict) or set(raw) != LINK_FIELDS:
            raise UsageError(f"each link must have exactly {', '.join(sorted(LINK_FIELDS))}")
        strength = raw["strength"]
        if isinstance(strength, bool) or not isinstance(strength, int | float) \
                or not 0.0 <= strength <= 1.0:
            raise UsageError(f"link strength must be from 0.0 to 1.0, not {strength!r}")
        target_id = model.validate_memory_id(raw["target_id"], "link target_id")
        if target_id == source_id:
            raise UsageError("a memory cannot be linked to itself")
        yield Link(source_id, target_id, model.validate_link_type(raw["link_type"]),
                   float(strength), model.validate_timestamp(raw["created_at"], "link created_at"))


def validate_records(lines: Iterable[str], report: ImportReport, max_content_bytes: int,
                     stored_ids: Callable[[set[str]], set[str]],
                     check: Callable[[Memory], None] | None = None) -> list[Record]:
    """Parse and check every line of an import, whichever engine stores it.

    Bad lines, duplicate ids and references to memories neither in the input nor stored
    (*stored_ids* returns those of the given ids the database has) go to *report*; *check*
    may refuse a memory the engine cannot store (UsageError). Return the valid records.
    """
    records: list[Record] = []
    seen: set[str] = set()
    for line_number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = parse_record(line_number, text, max_content_bytes)
            if check is not None:
                check(record.memory)
        except UsageError as error:
            report.rejected.append((line_number, error.message))
            continue
        if record.memory.id in seen:
            report.rejected.append((line_number, f"duplicate id {record.memory.id}"))
            continue
        seen.add(record.memory.id)
        records.append(record)
    referenced = {link.target_id for record in records for link in record.links}
    referenced |= {record.memory.superseded_by for record in records
                   if record.memory.superseded_by}
    known = seen | stored_ids(referenced - seen)
    valid = []
    for record in records:
        missing = [link.target_id for link in record.links if link.target_id not in known]
        if record.memory.superseded_by and record.memory.superseded_by not in known:
            missing.append(record.memory.superseded_by)
        if missing:
            report.rejected.append((record.line, f"refers to unknown memory {missing[0]}"))
        else:
            valid.append(record)
    return valid
