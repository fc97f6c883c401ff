"""What the benchmarks report of a list of times: nearest-rank percentiles, one definition."""

from __future__ import annotations

import statistics


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * (len(ordered) - 1) + 0.5))]


def latency(times_ms: list[float]) -> dict[str, float]:
    """p50, p95 and the slowest of a run's times, in milliseconds."""
    return {
        "p50_ms": statistics.median(times_ms),
        "p95_ms": percentile(times_ms, 0.95),
        "max_ms": max(times_ms),
    }
