"""``make bench``: run every registered benchmark and write ``reports/bench.json``.

Benchmarks live in ``chainabs.benchmarks.<topic>`` modules and register themselves with :func:`benchmark`.
Each returns ``{metric: number}``. Gas figures are exact and repeatable; timings are the median of several
runs (see :func:`median_seconds`) and the file records the machine they ran on.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chainabs.chain import PROJECT_ROOT

Benchmark = Callable[[], dict[str, float]]
_REGISTRY: list[tuple[str, Benchmark, bool]] = []


def benchmark(name: str, *, needs_chain: bool = False) -> Callable[[Benchmark], Benchmark]:
    """Register a benchmark function under ``name``; ``needs_chain`` connects brownie first."""

    def register(fn: Benchmark) -> Benchmark:
        _REGISTRY.append((name, fn, needs_chain))
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


def _discover() -> None:
    from chainabs import benchmarks

    for mod in pkgutil.iter_modules(benchmarks.__path__):
        importlib.import_module(f"chainabs.benchmarks.{mod.name}")


def run(only: list[str] | None = None, out: Path | None = None) -> dict[str, float]:
    """Run the registered benchmarks (all, or those whose name is in ``only``); write and return metrics."""
    _discover()
    selected = [b for b in _REGISTRY if not only or b[0] in only]
    console = Console()
    metrics: dict[str, float] = {}
    if any(needs_chain for _, _, needs_chain in selected):
        from chainabs import chain, testing

        testing.configure_local_chain(port=int(os.environ.get("CHAINABS_PORT", "8545")))
        chain.ensure_connected()
    for name, fn, _ in selected:
        console.print(f"[bold]bench[/] {name} ...")
        metrics.update(fn())
    out = out or PROJECT_ROOT / "reports" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() and only else {}
    previous.update(metrics)
    previous["machine"] = machine()  # type: ignore[assignment]
    out.write_text(json.dumps(previous, indent=2, sort_keys=True) + "\n")
    table = Table(title=f"ChainABS benchmarks -> {out.relative_to(PROJECT_ROOT) if out.is_relative_to(PROJECT_ROOT) else out}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in sorted(metrics):
        value = metrics[key]
        table.add_row(key, f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}")
    console.print(table)
    return metrics


if __name__ == "__main__":
    # Run through the importable module so that benchmark modules register into the same registry.
    from chainabs import bench as _bench

    _bench.run(sys.argv[1:] or None)
