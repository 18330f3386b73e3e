"""Copy every memory and link from one store to another (e.g. SQLite to PostgreSQL).

Engine-neutral: it uses only the backends' `export`, `import_lines` and `count`. The source
is exported once into a temporary file (one consistent snapshot), then imported in chunks of
CHUNK_LINES so that progress can be shown. A memory whose links point to one of a later chunk
is held back and imported at the end, when everything it refers to is there. Memories already
in the target are kept as they are, so an interrupted copy can simply be run again. At the
end, the count is checked: every exported memory must be in the target.
Must not: open stores by URL (the caller opens both) or print (the caller shows progress).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any

from mnemosyne.errors import MnemosyneError, UsageError

CHUNK_LINES = 5000
DEFERRED_REASON = "refers to unknown memory"


@dataclasses.dataclass
class CopyReport:
    """What a copy did: memories exported, newly imported, already there, and links."""

    exported: int = 0
    imported: int = 0
    already_present: int = 0
    links: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the stable JSON form."""
        return dataclasses.asdict(self)


def _chunks(stream: IO[str], size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for number, line in enumerate(stream, start=1):
        chunk.append((number, line))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def copy_store(source: Any, target: Any,
               progress: Callable[[int, int], None] | None = None) -> CopyReport:
    """Copy every memory of *source* into *target*; return what was done.

    *progress(done, total)* is called after each chunk. Raises MnemosyneError if a memory
    cannot be imported or the target holds fewer of them than were exported, and what the
    backends raise (UnavailableError...) if a store fails.
    """
    report = CopyReport()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        report.exported = source.export(spool)
        spool.seek(0)
        deferred: list[str] = []
        done = 0
        for chunk in _chunks(spool, CHUNK_LINES):
            result = target.import_lines([line for _, line in chunk], continue_on_error=True)
            for index, reason in result.rejected:
                if DEFERRED_REASON not in reason:
                    raise MnemosyneError(f"memory {chunk[index - 1][0]} of the export cannot "
                                         f"be copied: {reason}")
                deferred.append(chunk[index - 1][1])
            _add(report, result)
            done += len(chunk)
            if progress is not None:
                progress(done - len(deferred), report.exported)
        if deferred:
            try:
                _add(report, target.import_lines(deferred))
            except UsageError as error:
                raise MnemosyneError(f"cannot copy every memory: {error}") from None
            if progress is not None:
                progress(report.exported, report.exported)
    copied = report.imported + report.already_present
    if copied != report.exported or target.count() < report.exported:
        raise MnemosyneError(f"copy incomplete: {report.exported} memories exported, "
                             f"{copied} in the target")
    return report


def _add(report: CopyReport, result: Any) -> None:
    report.imported += result.imported
    report.already_present += result.already_present
    report.links += result.links
