"""What a doctor check reports, and how a whole report becomes an exit status and a document.

A finding has a status: ok; warn (worth knowing, nothing broken); problem (something to
repair); fixed (a problem this run repaired); kept (left on purpose, with why: a dirty
worktree, a hung instance's files); skipped (the check could not apply here, e.g. no user
manager). Exit status: 0 when everything is ok, skipped or fixed; 1 when the worst left is a
warning or something kept; 4 when a problem remains.
The JSON document (`--json`) is stable: {"status", "checks": [{"name", "status", "message",
"details", "fixed", "root"}], "summary": {status: count}}; "status" is healthy, warnings or
problems; "root" is the coordination root a finding is about (null for the user-wide checks).
Must not: run checks or touch files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from mnemosyne.errors import ExitCode

STATUSES = ("ok", "skipped", "fixed", "warn", "kept", "problem")
SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing a check found."""

    check: str
    status: str
    message: str
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    root: str | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown finding status {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as the JSON document has it."""
        return {"name": self.check, "status": self.status, "message": self.message,
                "details": dict(self.details), "fixed": self.status == "fixed",
                "root": self.root}


def exit_code(findings: Iterable[Finding]) -> ExitCode:
    """Return 0 if all is well or fixed, 1 for warnings or kept things, 4 for problems."""
    statuses = {finding.status for finding in findings}
    if "problem" in statuses:
        return ExitCode.PROBLEMS
    if statuses & {"warn", "kept"}:
        return ExitCode.ERROR
    return ExitCode.OK


def overall_status(findings: Iterable[Finding]) -> str:
    """Return healthy, warnings or problems."""
    return {ExitCode.OK: "healthy", ExitCode.ERROR: "warnings",
            ExitCode.PROBLEMS: "problems"}[exit_code(findings)]


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    """Return how many findings there are of each status (every status listed)."""
    counts = dict.fromkeys(STATUSES, 0)
    for finding in findings:
        counts[finding.status] += 1
    return counts


def report_document(findings: list[Finding]) -> dict[str, Any]:
    """Return the `--json` document."""
    return {"version": SCHEMA_VERSION, "status": overall_status(findings),
            "checks": [finding.to_dict() for finding in findings],
            "summary": summary(findings)}


def listed(names: list[str], most: int = 5) -> str:
    """Return the first *most* of *names*, comma-separated, and how many more there are."""
    shown = ", ".join(names[:most])
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


COLOURS = {"ok": "32", "fixed": "32", "skipped": "2", "warn": "33", "kept": "33",
           "problem": "31"}


def report_lines(findings: list[Finding], verbose: bool = False,
                 colour: bool = False) -> list[str]:
    """Return the text report: a line per finding (details under it), then a summary line."""
    lines = []
    for finding in findings:
        status = finding.status.ljust(7)
        if colour:
            status = f"\033[{COLOURS[finding.status]}m{status}\033[0m"
        lines.append(f"{status} {finding.check:<9} {finding.message}")
        if verbose:
            details = {"root": finding.root, **finding.details} if finding.root else \
                finding.details
            lines += [f"{'':17} {key}: {value}" for key, value in details.items()]
    counts = ", ".join(f"{count} {status}" for status, count in summary(findings).items()
                       if count)
    lines.append(f"doctor: {overall_status(findings)} ({counts})")
    return lines
