"""Waterfall benchmarks: gas of one period close of the consumer-loan deal computed by the library, and the
speed of the Python reference model."""

from __future__ import annotations

from chainabs import chain
from chainabs import waterfall as wf
from chainabs.bench import benchmark, median_seconds
from chainabs.spec import load_deal


def _consumer_period() -> tuple[wf.DealParams, wf.DealState, wf.PeriodReport]:
    """The consumer deal at closing and a first month with losses, delinquencies and prepayments."""
    spec = load_deal("consumer_loan")
    p, s = wf.params_from_spec(spec), wf.initial_state(spec)
    unit = 10**spec.currency.decimals
    sched, prepay, defaults = 15_000_000 * unit, 3_000_000 * unit, 500_000 * unit
    r = wf.PeriodReport(
        interest_collections=4_100_000 * unit,
        scheduled_principal=sched,
        prepayments=prepay,
        recoveries=100_000 * unit,
        defaults=defaults,
        delinquent_30=4_000_000 * unit,
        delinquent_60=2_000_000 * unit,
        delinquent_90_plus=1_000_000 * unit,
        pool_ending_balance=s.pool_balance - sched - prepay - defaults,
    )
    return p, s, r


@benchmark("waterfall", needs_chain=True)
def waterfall_close_gas() -> dict[str, float]:
    """Gas of `Waterfall.closePeriod` (3 classes, 2 fees, reserve, 4 triggers), inlined and linked.

    Figures are eth_estimateGas of a call to the test harness, so they include the 21,000 base cost and the
    calldata of the structs; an SPV reading its storage pays for that instead.
    """
    proj = chain.load_project()
    admin = chain.deployer()
    proj.Waterfall.deploy(chain.tx(admin))
    harness = proj.WaterfallHarness.deploy(chain.tx(admin))
    p, s, r = _consumer_period()
    args = (p.as_abi(), s.as_abi(), r.as_abi())
    return {
        "waterfall_close_gas": harness.closePeriod.estimate_gas(*args),
        "waterfall_close_gas_linked": harness.closePeriodLinked.estimate_gas(*args),
    }


@benchmark("waterfall_model")
def waterfall_model_speed() -> dict[str, float]:
    """Median seconds of 1,000 period closes of the consumer deal by the Python model."""
    p, s, r = _consumer_period()
    return {"waterfall_model_1000_closes_seconds": median_seconds(lambda: [wf.close_period(p, s, r) for _ in range(1000)])}
