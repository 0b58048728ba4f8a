"""Waterfall benchmarks: gas of one period close of the consumer-loan deal computed by the library, and the
speed of the Python reference model."""

from __future__ import annotations

from chainabs.chain import connection as chain
from chainabs.chain import signers
from chainabs.chain.sender import deploy
from chainabs.model import waterfall as wf
from chainabs.dev.benchmarks import benchmark, median_seconds
from chainabs.model.spec import load_deal
from chainabs.model import terms


def _consumer_period() -> tuple[wf.DealParams, wf.DealState, wf.PeriodReport]:
    """The consumer deal at closing and a first month with losses, delinquencies and prepayments."""
    spec = load_deal("consumer_loan")
    p, s = terms.params_from_spec(spec), terms.initial_state(spec)
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
    """Gas of `Waterfall.closePeriod` (3 classes, 2 fees, reserve, 4 triggers), inlined as the SPV runs it.

    `waterfall_close_gas` is the eth_estimateGas of a call to the test harness, so it includes the 21,000 base
    cost, the calldata and ABI decoding of the structs and the encoding of the results; an SPV reading its
    storage pays for that instead. `waterfall_close_only_gas` is the gas spent inside `closePeriod` alone
    (`gasleft()` before and after, in the harness). `waterfall_harness_bytes` is the deployed code size of the
    harness, which inlines `closePeriod` (limit 24,576). (The linked entry point `closePeriodLinked`, used by
    nothing but its own benchmark, was removed with the integrity work.)
    """
    proj = chain.load_project()
    admin = signers.deployer()
    harness = deploy(proj.WaterfallHarness, sender=admin)[0]
    p, s, r = _consumer_period()
    args = (p.as_abi(), s.as_abi(), r.as_abi())
    return {
        "waterfall_close_gas": harness.closePeriod.estimate_gas(*args, {"from": admin}),
        "waterfall_close_only_gas": harness.closePeriodGas(*args),
        "waterfall_harness_bytes": _code_size(harness.address),
    }


def _code_size(address: str) -> int:
    """Runtime code size in bytes of the contract deployed at ``address``."""
    from brownie import web3

    return len(web3.eth.get_code(address))


@benchmark("waterfall_model")
def waterfall_model_speed() -> dict[str, float]:
    """Median seconds of 1,000 period closes of the consumer deal by the Python model."""
    p, s, r = _consumer_period()
    return {"waterfall_model_1000_closes_seconds": median_seconds(lambda: [wf.close_period(p, s, r) for _ in range(1000)])}
