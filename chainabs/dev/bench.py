"""``make bench``: run every registered benchmark and write ``reports/bench.json``.

``python -m chainabs.dev.bench [name ...]`` runs all benchmarks or the named ones (names: the first argument
of each ``@benchmark`` in ``chainabs/dev/benchmarks/*.py``, e.g. ``spv_period_close``). Benchmarks live in
``chainabs.dev.benchmarks.<topic>`` modules and register themselves with
:func:`chainabs.dev.benchmarks.benchmark`.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from chainabs.dev import benchmarks
from chainabs.dev.benchmarks import REGISTRY, machine
from chainabs.paths import PROJECT_ROOT


def _discover() -> None:
    for mod in pkgutil.iter_modules(benchmarks.__path__):
        importlib.import_module(f"chainabs.dev.benchmarks.{mod.name}")


def run(only: list[str] | None = None, out: Path | None = None) -> dict[str, float]:
    """Run the registered benchmarks (all, or those whose name is in ``only``); write and return metrics."""
    warnings.filterwarnings("ignore", category=FutureWarning)  # brownie's own deprecation notices
    _discover()
    selected = [b for b in REGISTRY if not only or b[0] in only]
    console = Console()
    metrics: dict[str, float] = {}
    if any(needs_chain for _, _, needs_chain in selected):
        from brownie import chain

        from chainabs.chain import connection

        connection.configure_local_chain(gas_limit=30_000_000, accounts=20)  # port: CHAINABS_PORT
        connection.connect()
        chain.snapshot()
    for name, fn, needs_chain in selected:
        console.print(f"[bold]bench[/] {name} ...")
        if needs_chain:
            # Every benchmark starts from the chain as it was (its clock included), as when run alone: one that
            # moved the clock by years (a deal's whole life) would leave the next one's deal past its dates.
            chain.revert()
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
    run(sys.argv[1:] or None)
