"""The list of doctor checks, in the order they run, with what each is for.

Per-root checks run once for each coordination root examined; the others once per run, after
them (the systemd check compares units with the entries the roots hold). The stale-side
checks are what `--cleanup-stale` alone runs: fast, registry-side only, for the timer.
Must not: hold check logic (each check has its own module).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType

from mnemosyne.doctor import (
    api_check,
    branches_check,
    config_check,
    database_check,
    queue_check,
    registry_check,
    reviews_check,
    root_check,
    systemd_check,
    worktrees_check,
)
from mnemosyne.doctor.context import Context
from mnemosyne.doctor.findings import Finding


@dataclasses.dataclass(frozen=True)
class Check:
    """A named check: its purpose, its function, and when it runs."""

    name: str
    purpose: str
    run: Callable[[Context], list[Finding]]
    per_root: bool
    stale_side: bool


def _check(module: ModuleType, per_root: bool, stale_side: bool = False) -> Check:
    return Check(module.NAME, module.PURPOSE, module.run, per_root, stale_side)


CHECKS: tuple[Check, ...] = (
    _check(root_check, per_root=True),
    _check(registry_check, per_root=True, stale_side=True),
    _check(branches_check, per_root=True, stale_side=True),
    _check(queue_check, per_root=True, stale_side=True),
    _check(worktrees_check, per_root=True),
    _check(reviews_check, per_root=True),
    _check(api_check, per_root=True),
    _check(systemd_check, per_root=False),
    _check(database_check, per_root=False),
    _check(config_check, per_root=False),
)
CHECKS_BY_NAME = {check.name: check for check in CHECKS}
