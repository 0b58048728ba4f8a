"""Deal simulation benchmark: a 5 x 5 x 3 scenario grid of rep-line projections through the waterfall."""

from __future__ import annotations

from chainabs.model import analytics
from chainabs.dev.benchmarks import benchmark, median_seconds
from chainabs.model.spec import load_deal


@benchmark("scenario_grid")
def scenario_grid_seconds() -> dict[str, float]:
    """Median seconds of the 75-scenario grid for the consumer deal (target: under 5 s)."""
    spec = load_deal("consumer_loan")
    pool = analytics.PoolProfile(spec.units(spec.pool.original_balance), 0.16, 24)
    cprs, cdrs, sevs = [0.05, 0.1, 0.15, 0.2, 0.3], [0.0, 0.02, 0.05, 0.1, 0.2], [0.4, 0.6, 0.8]
    seconds = median_seconds(lambda: analytics.scenario_grid(spec, pool, cprs, cdrs, sevs), repeats=3)
    return {"scenario_grid_s": round(seconds, 3)}
