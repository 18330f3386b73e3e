"""Helpers shared by the benchmarks: percentiles, timing, JSON output."""

from __future__ import annotations

import json
import os
import platform
import sys
from typing import Any


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """Return p50/p99/max of *seconds* in milliseconds, rounded for reading."""
    ordered = sorted(seconds)
    return {"count": len(ordered),
            "p50_ms": round(percentile(ordered, 0.50) * 1000, 3),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 3),
            "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 3)}


def machine() -> dict[str, Any]:
    """Describe the machine the figures come from."""
    import apsw  # noqa: PLC0415

    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "sqlite": apsw.sqlitelibversion(), "apsw": apsw.apswversion()}


def emit(name: str, figures: dict[str, Any]) -> None:
    """Print one benchmark's figures as a JSON document on stdout."""
    json.dump({"benchmark": name, "machine": machine(), **figures}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    sys.stdout.flush()
