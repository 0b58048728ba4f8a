"""Monte Carlo on a Dask cluster: speedup of a 2-worker ``LocalCluster`` over a 1-worker one, and the large run.

``mc_dask_speedup_2w`` (in ``make bench``; alone: ``python -m chainabs.dev.bench mc_dask``): the same seeded
run (``SPEEDUP_LOANS`` loans x ``SPEEDUP_MONTHS`` months x ``SPEEDUP_PATHS`` paths) on a ``LocalCluster`` of
1 worker process, then of 2 (one thread each), median wall seconds of ``REPEATS`` runs after a warm-up run;
speedup = 1-worker seconds / 2-worker seconds. The two results are checked equal.

The large run is not part of ``make bench`` (minutes): ``python -m chainabs.dev.benchmarks.mc_dask large
[--workers N] [--loans 1000000] [--months 120] [--paths 1000] [--scheduler tcp://HOST:8786]`` runs it on a
``LocalCluster`` of N workers (or an existing cluster) and merges ``mc_dask_large_*`` into
``reports/bench.json``. Every figure is recorded with the machine's load average (``os.getloadavg``) at
the start and end of the measurement: on a shared machine the wall time says little without it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from chainabs.dev.benchmarks import benchmark

SPEEDUP_LOANS, SPEEDUP_MONTHS, SPEEDUP_PATHS = 65_536, 36, 240
ASSUMPTIONS = dict(cpr=0.15, cdr=0.08, severity=0.85, recovery_lag=3, servicing_fee=0.01,
                   default_vol=0.5, prepay_vol=0.3, factor_corr=-0.3)
REPEATS = 3


@contextmanager
def local_executor(workers: int, scheduler: str | None = None) -> Iterator[object]:
    """A Dask executor: on ``scheduler`` if given, else on a fresh ``LocalCluster`` of ``workers`` processes."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client.get_executor()
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        yield client.get_executor()


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def timed_runs(workers: int, loans: int, months: int, paths: int, repeats: int,
               scheduler: str | None = None) -> tuple[float, np.ndarray, dict[str, float]]:
    """Median wall seconds of ``repeats`` runs (after a warm-up run), the result cube and the load averages."""
    from chainabs.model import montecarlo

    tape = montecarlo.synthetic_tape(loans, seed=2024, term=months)
    load = {"load_start": _load()}
    with local_executor(workers, scheduler) as executor:
        montecarlo.simulate(tape.head(2_000), paths=4, seed=1, executor=executor, **ASSUMPTIONS)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            result = montecarlo.simulate(tape, paths=paths, seed=7, executor=executor, **ASSUMPTIONS)
            times.append(time.perf_counter() - start)
    load["load_end"] = _load()
    return statistics.median(times), result.cashflows, load


@benchmark("mc_dask", needs_chain=False)
def mc_dask_speedup_2w() -> dict[str, float]:
    """Wall seconds on 1 and 2 Dask workers of one machine, their ratio, loan-months per second on 2."""
    one, cube1, load1 = timed_runs(1, SPEEDUP_LOANS, SPEEDUP_MONTHS, SPEEDUP_PATHS, REPEATS)
    two, cube2, load2 = timed_runs(2, SPEEDUP_LOANS, SPEEDUP_MONTHS, SPEEDUP_PATHS, REPEATS)
    if not np.array_equal(cube1, cube2):
        raise AssertionError("the 1-worker and 2-worker runs differ: results must not depend on the workers")
    return {
        "mc_dask_1w_seconds": round(one, 3),
        "mc_dask_2w_seconds": round(two, 3),
        "mc_dask_speedup_2w": round(one / two, 3),
        "mc_dask_2w_loan_months_per_s": round(SPEEDUP_LOANS * SPEEDUP_MONTHS * SPEEDUP_PATHS / two),
        "mc_dask_load_start": load1["load_start"],
        "mc_dask_load_end": load2["load_end"],
    }


def large(argv: list[str] | None = None) -> dict[str, float]:
    """The large run (default 1,000,000 loans x 120 months x 1,000 paths), once; merged into bench.json."""
    from chainabs.paths import PROJECT_ROOT

    parser = argparse.ArgumentParser(prog="python -m chainabs.dev.benchmarks.mc_dask large")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--paths", type=int, default=1_000)
    parser.add_argument("--scheduler", default=None)
    args = parser.parse_args(argv)
    from chainabs.model import montecarlo

    tape = montecarlo.synthetic_tape(args.loans, seed=2024, term=args.months)
    with local_executor(args.workers, args.scheduler) as executor:
        workers = len(executor._client.scheduler_info()["workers"])  # type: ignore[attr-defined]
        load_start = _load()
        start = time.perf_counter()
        result = montecarlo.simulate(tape, paths=args.paths, seed=7, executor=executor, **ASSUMPTIONS)
        seconds = time.perf_counter() - start
    loan_months = args.loans * args.months * args.paths
    metrics = {
        "mc_dask_large_loans": args.loans, "mc_dask_large_months": args.months, "mc_dask_large_paths": args.paths,
        "mc_dask_large_workers": workers, "mc_dask_large_seconds": round(seconds, 1),
        "mc_dask_large_loan_months_per_s": round(loan_months / seconds),
        "mc_dask_large_loan_months_per_s_per_worker": round(loan_months / seconds / workers),
        "mc_dask_large_load_start": load_start, "mc_dask_large_load_end": _load(),
        "mc_dask_large_mean_loss_rate": round(float(result.loss_rates.mean()), 6),
    }
    out = PROJECT_ROOT / "reports" / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(out.read_text()) if out.exists() else {}
    merged.update(metrics)
    out.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    print(json.dumps(metrics, indent=2))
    return metrics


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["large"]:
        large(sys.argv[2:])
    else:
        print(json.dumps(mc_dask_speedup_2w(), indent=2))
