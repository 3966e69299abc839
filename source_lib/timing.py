"""Timing for bench/ scripts: median of N runs and ratio tables. (Defined in chapter 1.)

Machines here are shared and noisy, so benchmarks compare methods measured in the
same run and report ratios, never absolute targets in tests.
"""
from __future__ import annotations

import statistics
import time
from typing import Callable


def median_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of `fn()` over `repeat` runs after `warmup` runs."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ratio_table(times: dict[str, float], baseline: str) -> str:
    """A text table of times and speed-ups relative to `baseline` (baseline time / time)."""
    if baseline not in times:
        raise KeyError(f"baseline {baseline!r} not among {sorted(times)}")
    base = times[baseline]
    width = max(len(k) for k in times)
    lines = [f"{'method':<{width}}  {'time (s)':>10}  {'speed-up vs ' + baseline:>20}"]
    for name, t in times.items():
        lines.append(f"{name:<{width}}  {t:>10.4f}  {base / t:>19.1f}x")
    return "\n".join(lines)
