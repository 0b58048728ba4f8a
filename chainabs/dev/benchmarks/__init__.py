"""Benchmark modules: each registers its functions with :func:`benchmark`; ``chainabs.dev.bench`` runs them.

Each benchmark returns ``{metric: number}``. Gas figures are exact and repeatable; timings are the median of
several runs (:func:`median_seconds`) and ``reports/bench.json`` records the machine they ran on.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

Benchmark = Callable[[], dict[str, float]]
REGISTRY: list[tuple[str, Benchmark, bool]] = []


def benchmark(name: str, *, needs_chain: bool = False) -> Callable[[Benchmark], Benchmark]:
    """Register a benchmark function under ``name``; ``needs_chain`` connects brownie first."""

    def register(fn: Benchmark) -> Benchmark:
        REGISTRY.append((name, fn, needs_chain))
        return fn

    return register


def median_seconds(fn: Callable[[], object], repeats: int = 5) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def machine() -> dict[str, str | int]:
    """What the timings were measured on."""
    return {
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count() or 0,
        "python": sys.version.split()[0],
    }
