"""What the benchmarks report of a list of times: nearest-rank percentiles, one definition."""

from __future__ import annotations

import platform
import statistics
from pathlib import Path


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


def cpu() -> dict[str, object]:
    """The processor a run was timed on: its name and the vector extensions ONNX Runtime's kernels
    choose between (the same model ran 4.3 ms a crop with AVX-512 and 11.9 ms with AVX2 alone)."""
    name, flags = platform.processor() or platform.machine(), set[str]()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return {"name": name, "extensions": [f for f in wanted if f in flags]}
