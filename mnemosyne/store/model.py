"""What a memory is, and the rules every stored value must follow.

Namespaces are `global`, `project:NAME` or `session:PROJECT:ID`; anything else is rejected, never
silently turned into `global`. Memory and link types are fixed sets with a few aliases. All
timestamps are UTC ISO 8601 with microseconds and a `Z` (fixed width, so they sort as text).
Must not: touch the database.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import Iterable
from typing import Any

from mnemosyne.errors import NotFoundError, UsageError

# The columns of a stored memory, in the export's order, in both engines.
MEMORY_COLUMNS = ("id, namespace, content, summary, memory_type, importance, tags, created_at, "
                  "updated_at, access_count, last_accessed_at, archived, superseded_by")
MIN_ID_PREFIX = 4  # the shortest id prefix `show` and friends accept

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
NAMESPACE_RE = re.compile(rf"global|project:{NAME_PATTERN}|session:{NAME_PATTERN}:{NAME_PATTERN}")
NAMESPACE_FORMS = "global, project:NAME or session:PROJECT:ID (NAME: letters, digits, . _ -)"

MEMORY_TYPES: tuple[str, ...] = (
    "insight", "decision", "architecture", "pattern", "bug_fix", "configuration",
    "constraint", "reference", "preference", "task", "fact", "note", "review",
)
MEMORY_TYPE_ALIASES = {
    "bug": "bug_fix", "bugfix": "bug_fix", "fix": "bug_fix", "arch": "architecture",
    "config": "configuration", "pref": "preference", "todo": "task", "ref": "reference",
    "code_pattern": "pattern",
}
DEFAULT_MEMORY_TYPE = "insight"

LINK_TYPES: tuple[str, ...] = (
    "related", "supersedes", "contradicts", "extends", "depends_on", "references",
)

MIN_IMPORTANCE, MAX_IMPORTANCE, DEFAULT_IMPORTANCE = 1, 10, 5
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_SUMMARY_LENGTH = 1024
TAG_RE = re.compile(r"[^\s,\"]{1,64}")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def utc_now() -> str:
    """Return the current time as a storable timestamp."""
    return datetime.datetime.now(datetime.UTC).strftime(TIMESTAMP_FORMAT)


def new_memory_id() -> str:
    """Return a fresh random memory id (a UUID4 in its canonical text form)."""
    return str(uuid.uuid4())


def validate_namespace(raw: str) -> str:
    """Return *raw* if it is a valid namespace. Raises UsageError otherwise."""
    if not isinstance(raw, str) or not NAMESPACE_RE.fullmatch(raw):
        raise UsageError(f"invalid namespace {raw!r}: use {NAMESPACE_FORMS}")
    return raw


def validate_memory_type(raw: str) -> str:
    """Return the canonical memory type for *raw* (aliases allowed). Raises UsageError."""
    text = str(raw).strip().lower().replace("-", "_")
    text = MEMORY_TYPE_ALIASES.get(text, text)
    if text not in MEMORY_TYPES:
        raise UsageError(f"unknown memory type {raw!r}: valid types are {', '.join(MEMORY_TYPES)}")
    return text


def validate_link_type(raw: str) -> str:
    """Return *raw* if it is a known link type. Raises UsageError listing the valid ones."""
    text = str(raw).strip().lower().replace("-", "_")
    if text not in LINK_TYPES:
        raise UsageError(f"unknown link type {raw!r}: valid types are {', '.join(LINK_TYPES)}")
    return text


def validate_importance(raw: Any) -> int:
    """Return *raw* as an importance from 1 to 10. Raises UsageError otherwise."""
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise UsageError(f"importance must be a whole number from 1 to 10, not {raw!r}")
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"importance must be a whole number from 1 to 10, not {raw!r}") from None
    if not MIN_IMPORTANCE <= value <= MAX_IMPORTANCE:
        raise UsageError(f"importance {value} is out of range: use 1 to 10")
    return value


def validate_content(raw: Any, max_bytes: int) -> str:
    """Return *raw* if it is non-blank text of at most *max_bytes* UTF-8 bytes.

    Raises UsageError otherwise.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise UsageError("content is empty: give the text to remember")
    size = len(raw.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise UsageError(f"content is {size} bytes, over the limit of {max_bytes} bytes")
    if "\x00" in raw:
        raise UsageError("content contains a NUL character")
    return raw


def validate_summary(raw: Any) -> str | None:
    """Return *raw* (None, or text of at most 1024 characters). Raises UsageError otherwise."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise UsageError("summary must be non-empty text when given")
    if len(raw) > MAX_SUMMARY_LENGTH:
        raise UsageError(f"summary is longer than {MAX_SUMMARY_LENGTH} characters")
    return raw


def parse_tags(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    """Return tags from `a,b,c` text or a list: stripped, de-duplicated, order kept.

    Raises UsageError if a tag is too long, contains spaces or quotes, or there are too many.
    """
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise UsageError(f"tag {item!r} is not text")
        tag = item.strip()
        if not tag:
            continue
        if not TAG_RE.fullmatch(tag):
            raise UsageError(f"invalid tag {tag!r}: tags are 1 to {MAX_TAG_LENGTH} characters "
                             "without spaces, commas or quotes")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise UsageError(f"{len(tags)} tags given: at most {MAX_TAGS} are allowed")
    return tuple(tags)


def new_memory(content: Any, *, namespace: Any, importance: Any, tags: Any, memory_type: Any,
               summary: Any, max_content_bytes: int) -> Memory:
    """Validate raw input into a new Memory with a fresh id, created now.

    Raises UsageError for any invalid value.
    """
    now = utc_now()
    return Memory(
        id=new_memory_id(),
        namespace=validate_namespace(namespace),
        content=validate_content(content, max_content_bytes),
        summary=validate_summary(summary),
        memory_type=validate_memory_type(memory_type),
        importance=validate_importance(importance),
        tags=parse_tags(tags),
        created_at=now,
        updated_at=now,
    )


def validate_changes(*, content: Any, summary: Any, importance: Any, tags: Any,
                     memory_type: Any, archived: Any, max_content_bytes: int) -> dict[str, Any]:
    """Validate the fields an update gives (None: unchanged) into {field: value}.

    Tags come back as a tuple and `archived` as a bool, as a Memory holds them.
    Raises UsageError for an invalid value or when no field is given.
    """
    changes: dict[str, Any] = {}
    if content is not None:
        changes["content"] = validate_content(content, max_content_bytes)
    if summary is not None:
        changes["summary"] = validate_summary(summary)
    if importance is not None:
        changes["importance"] = validate_importance(importance)
    if tags is not None:
        changes["tags"] = parse_tags(tags)
    if memory_type is not None:
        changes["memory_type"] = validate_memory_type(memory_type)
    if archived is not None:
        if not isinstance(archived, bool):
            raise UsageError(f"archived must be true or false, not {archived!r}")
        changes["archived"] = archived
    if not changes:
        raise UsageError("nothing to update: give content, summary, importance, tags, "
                         "type, or archive/unarchive")
    return changes


def validate_link_fields(link_type: Any, strength: Any) -> tuple[str, float]:
    """Return a link's type and strength. Raises UsageError for a bad type or strength."""
    link_type = validate_link_type(link_type)
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = -1.0
    if isinstance(strength, bool) or not 0.0 <= value <= 1.0:
        raise UsageError(f"link strength must be from 0.0 to 1.0, not {strength!r}")
    return link_type, value


def new_link(source_id: str, target_id: str, link_type: Any, strength: Any) -> Link:
    """Return a link between two resolved ids, now.

    Raises UsageError for a bad type, a strength outside 0.0-1.0, or a self-link.
    """
    link_type, strength = validate_link_fields(link_type, strength)
    if source_id == target_id:
        raise UsageError("a memory cannot be linked to itself")
    return Link(source_id, target_id, link_type, float(strength), utc_now())


def id_prefix_range(id_or_prefix: Any) -> tuple[str, str]:
    """Return the range [low, high) of the ids that are or start with *id_or_prefix*.

    Raises UsageError unless it is at least MIN_ID_PREFIX hex digits (and dashes).
    """
    text = str(id_or_prefix).strip().lower()
    if len(text) < MIN_ID_PREFIX or not all(c in "0123456789abcdef-" for c in text):
        raise UsageError(f"{id_or_prefix!r} is not a memory id or an id prefix of at least "
                         f"{MIN_ID_PREFIX} hex digits")
    return text, text[:-1] + chr(ord(text[-1]) + 1)


def the_one_id(found: list[str], id_or_prefix: Any) -> str:
    """Return the only id in *found* (at most two ids in its prefix range).

    Raises NotFoundError if there is none, UsageError if the prefix is ambiguous.
    """
    if not found:
        raise NotFoundError(f"no memory with id {id_or_prefix}")
    if len(found) > 1:
        raise UsageError(f"id prefix {id_or_prefix!r} is ambiguous: give more characters")
    return found[0]


def validate_list_limit(limit: int | None) -> int | None:
    """Return how many memories a listing may return (None: all; 0 also means all).

    Raises UsageError for a negative limit.
    """
    if limit is not None and limit < 0:
        raise UsageError(f"limit must be 0 (no limit) or more, not {limit}")
    return int(limit) if limit else None


def validate_timestamp(raw: Any, field: str) -> str:
    """Return *raw* if it is a real UTC time in the stored form. Raises UsageError otherwise."""
    if isinstance(raw, str) and TIMESTAMP_RE.fullmatch(raw):
        try:
            datetime.datetime.fromisoformat(raw[:-1])  # rejects e.g. February 30
        except ValueError:
            pass
        else:
            return raw
    raise UsageError(f"{field} {raw!r} is not a UTC timestamp like 2026-01-31T12:00:00.000000Z")


def validate_memory_id(raw: Any, field: str = "id") -> str:
    """Return *raw* if it is a canonical lower-case UUID. Raises UsageError otherwise."""
    if not isinstance(raw, str) or not UUID_RE.fullmatch(raw):
        raise UsageError(f"{field} {raw!r} is not a memory id (a UUID)")
    return raw


@dataclasses.dataclass(frozen=True)
class Memory:
    """One stored memory, as every command and route shows it."""

    id: str
    namespace: str
    content: str
    summary: str | None
    memory_type: str
    importance: int
    tags: tuple[str, ...]
    created_at: str
    updated_at: str
    access_count: int = 0
    last_accessed_at: str | None = None
    archived: bool = False
    superseded_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON form (tags as a list, archived as a boolean)."""
        data = dataclasses.asdict(self)
        data["tags"] = list(self.tags)
        return data


@dataclasses.dataclass(frozen=True)
class Link:
    """A typed, weighted edge from one memory to another."""

    source_id: str
    target_id: str
    link_type: str
    strength: float
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON form."""
        return dataclasses.asdict(self)
