"""The upkeep rules of `mnemosyne optimize`: what counts as a duplicate, decay and archive.

- Near duplicates have the same normalised text: Unicode NFKC, case folded, every run of
  characters other than letters and digits made one space, trimmed. "Use `make test`!" and
  "use make test" are duplicates; "use make tests" is not.
- The survivor of a group is the most important, then the most accessed, then the oldest
  (then the smallest id): what people relied on longest stays.
- Decay: a memory idle (neither accessed nor changed) for DECAY_IDLE_DAYS loses one point of
  importance; the change restarts its idle time, so a memory left alone loses one point per
  DECAY_IDLE_DAYS: importance(t) = importance(0) - floor(idle_days / DECAY_IDLE_DAYS), never
  below 1. Importance 10 never decays.
- Archive: a memory of importance 1 idle for ARCHIVE_IDLE_DAYS is archived (recall and
  context packs leave it out; `list --archived`, `show` and export still have it).
Must not: touch the database.
"""

from __future__ import annotations

import datetime
import re
import unicodedata

from mnemosyne.store.model import Memory

DECAY_IDLE_DAYS = 90
ARCHIVE_IDLE_DAYS = 90
_NOT_WORD = re.compile(r"[\W_]+")


def normalise(content: str) -> str:
    """Return the text duplicates are compared by (see the module docstring)."""
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", content).casefold()).strip()


def survivor_rank(memory: Memory) -> tuple[int, int, str, str]:
    """Sort key: the survivor of a group of duplicates sorts first."""
    return (-memory.importance, -memory.access_count, memory.created_at, memory.id)


def idle_before(now: datetime.datetime, days: int) -> str:
    """Return the timestamp (model format) *days* before *now*: idle since before it."""
    moment = now - datetime.timedelta(days=days)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
