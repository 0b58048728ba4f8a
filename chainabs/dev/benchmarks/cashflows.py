"""Cash-flow benchmarks: loan-level Monte Carlo throughput and memory, standard-formula projection time.

``mc_loan_months_per_s``: 10,000-loan, 36-month consumer pool over 1,000 paths (360 million loan-months),
median of 3 runs. The run happens in a fresh child process so that ``mc_peak_rss_mb`` is the peak resident
memory of the Monte Carlo itself (interpreter and libraries included), not of whatever ran before it.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time

from chainabs.dev.benchmarks import benchmark, median_seconds

MC_LOANS, MC_MONTHS, MC_PATHS = 10_000, 36, 1_000
MC_ASSUMPTIONS = dict(
    cpr=0.15, cdr=0.08, severity=0.85, recovery_lag=3, servicing_fee=0.01,
    default_vol=0.5, prepay_vol=0.3, factor_corr=-0.3,
)


def _mc_child(repeats: int = 3) -> dict[str, float]:
    """Run the Monte Carlo benchmark in this process; return median seconds and peak RSS."""
    from chainabs.model import montecarlo

    tape = montecarlo.synthetic_tape(MC_LOANS, seed=2024, term=MC_MONTHS)
    times, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = montecarlo.simulate(tape, paths=MC_PATHS, seed=7, **MC_ASSUMPTIONS)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert result.cashflows.shape == (MC_PATHS, MC_MONTHS, len(result.columns))
    seconds = statistics.median(times)
    return {
        "mc_seconds": seconds,
        "mc_cpu_seconds": statistics.median(cpu),
        "mc_loan_months_per_s": MC_LOANS * MC_MONTHS * MC_PATHS / seconds,
        "mc_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


@benchmark("cashflows_mc", needs_chain=False)
def mc_loan_months_per_s() -> dict[str, float]:
    """Loan-level Monte Carlo: loan-months per second, wall seconds and peak RSS (MB) of a fresh process."""
    out = subprocess.run(
        [sys.executable, "-m", "chainabs.dev.benchmarks.cashflows", "--mc-child"],
        capture_output=True, text=True, check=True,
    )
    metrics = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: round(v, 3) if k.endswith("seconds") else round(v) for k, v in metrics.items()}


@benchmark("cashflows_projection", needs_chain=False)
def project_pool_ms() -> dict[str, float]:
    """A 360-month standard-formula projection (PSA, SDA, lag, advancing), median milliseconds."""
    from chainabs.model.cashflows import project_pool

    def run() -> None:
        project_pool(100_000_000.0, 0.08, 360, psa=150, sda=200, severity=0.35, recovery_lag=12, servicing_fee=0.0025)

    run()  # warm-up
    return {"project_pool_ms": round(median_seconds(run, repeats=7) * 1000.0, 2)}


if __name__ == "__main__" and "--mc-child" in sys.argv:
    print(json.dumps(_mc_child()))
