"""Percentiles and summaries of nanosecond samples (nearest-rank on the sorted samples)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any


def percentile_ms(sorted_ns: Sequence[int], q: float) -> float:
    if not sorted_ns:
        return float("nan")
    index = min(len(sorted_ns) - 1, round(q * (len(sorted_ns) - 1)))
    return sorted_ns[index] / 1e6


def summary(samples_ns: Sequence[int]) -> dict[str, Any]:
    data = sorted(samples_ns)
    return {
        "samples": len(data),
        "p50_ms": percentile_ms(data, 0.50),
        "p95_ms": percentile_ms(data, 0.95),
        "p99_ms": percentile_ms(data, 0.99),
        "mean_ms": statistics.fmean(data) / 1e6 if data else float("nan"),
        "min_ms": data[0] / 1e6 if data else float("nan"),
    }


def added(row: dict[str, Any], direct: dict[str, Any]) -> dict[str, float]:
    """Contender minus direct at each percentile, and the p50 ratio."""
    return {
        "added_p50_ms": row["p50_ms"] - direct["p50_ms"],
        "added_p95_ms": row["p95_ms"] - direct["p95_ms"],
        "added_p99_ms": row["p99_ms"] - direct["p99_ms"],
        "ratio_p50": row["p50_ms"] / direct["p50_ms"] if direct["p50_ms"] else float("nan"),
    }
