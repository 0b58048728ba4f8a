"""Waterfall test fixtures and shared helpers: the harness, custom-error assertions, hypothesis strategies
for random deals and collection paths (used by the property tests and the differential test)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from eth_abi import encode
from hypothesis import strategies as st
from web3 import Web3

from chainabs.model import waterfall as wf

# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def waterfall_harness(WaterfallHarness, admin):
    """The harness that exposes the (internal) Waterfall library."""
    return WaterfallHarness.deploy({"from": admin})


def chain_close(
    harness: Any, p: wf.DealParams, s: wf.DealState, r: wf.PeriodReport
) -> tuple[wf.PeriodResult, wf.DealState]:
    """One period close computed by the Solidity library (an eth_call), decoded into the model's types."""
    res, nxt = harness.closePeriod(p.as_abi(), s.as_abi(), r.as_abi())
    return wf.PeriodResult.from_abi(res), wf.DealState.from_abi(nxt)


# --------------------------------------------------------------------------------------------------
# Custom errors
# --------------------------------------------------------------------------------------------------

_DATA = re.compile(r"'data': '(0x[0-9a-fA-F]*)'")


def error_data(name: str, *args: int) -> str:
    """ABI-encoded revert data of the ``IWaterfall`` custom error ``name(args)`` (hex, 0x-prefixed)."""
    sig = wf.ERROR_SIGNATURES[name]
    types = [t for t in sig[sig.index("(") + 1 : -1].split(",") if t]
    return "0x" + (Web3.keccak(text=sig)[:4] + encode(types, list(args))).hex()


def assert_custom_error(call: Callable[[], Any], name: str, *args: int) -> None:
    """Assert that ``call()`` reverts with exactly the custom error ``name(args)`` (selector and arguments)."""
    with pytest.raises(Exception) as info:
        call()
    match = _DATA.search(repr(info.value))
    assert match, f"no revert data in {info.value!r}"
    assert match.group(1).lower() == error_data(name, *args).lower(), (
        f"expected {name}{args}, reverted with {getattr(info.value, 'revert_msg', info.value)}"
    )


def assert_model_error(call: Callable[[], Any], name: str, *args: int) -> None:
    """Assert that the Python model raises the :class:`WaterfallError` ``name(args)``."""
    with pytest.raises(wf.WaterfallError) as info:
        call()
    assert (info.value.name, info.value.error_args) == (name, tuple(args))


# --------------------------------------------------------------------------------------------------
# Hypothesis strategies
# --------------------------------------------------------------------------------------------------

#: Amounts: small ones exercise rounding, large ones realistic 6-decimal balances.
amounts = st.one_of(st.integers(1, 2_000), st.integers(1, 10**15))


@st.composite
def deals(draw: Any, min_classes: int = 2, max_classes: int = 5) -> tuple[wf.DealParams, wf.DealState]:
    """A random valid deal and its closing state (reserve funded, nothing owed)."""
    n = draw(st.integers(min_classes, max_classes))
    sizes = [draw(amounts) for _ in range(n)]
    pool = sum(sizes)
    coupons = [draw(st.integers(0, 1_500)) for _ in range(n - 1)] + [0]
    fees = tuple(
        wf.FeeParams(draw(st.one_of(st.just(0), st.integers(0, max(pool // 500, 1)))), draw(st.integers(0, 200)))
        for _ in range(draw(st.integers(0, 3)))
    )
    target = draw(st.integers(0, 500))
    triggers = tuple(
        wf.TriggerParams(
            kind=draw(st.sampled_from(list(wf.TriggerKind))),
            threshold_bps=draw(st.integers(0, 15_000)),
            switches_to_sequential=draw(st.booleans()),
            steps_up_reserve=draw(st.booleans()),
            curable=draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 4)))
    )
    params = wf.DealParams(
        period_months=draw(st.sampled_from([1, 3, 6, 12])),
        original_pool_balance=pool,
        classes=tuple(wf.ClassParams(c, i == n - 1) for i, c in enumerate(coupons)),
        fees=fees,
        reserve_target_bps=target,
        reserve_step_up_target_bps=draw(st.integers(target, 1_000)),
        reserve_floor=draw(st.integers(0, pool // 50)),
        reserve_covered_classes=draw(st.integers(0, n - 1)),
        principal_mode=draw(st.sampled_from(list(wf.PrincipalMode))),
        triggers=triggers,
        clean_up_call_bps=draw(st.integers(0, 2_000)),
    )
    state = wf.DealState(
        periods_closed=0,
        pool_balance=pool,
        class_balances=tuple(sizes),
        interest_shortfalls=(0,) * n,
        pdl=(0,) * n,
        fee_shortfalls=(0,) * len(fees),
        reserve_balance=draw(st.integers(0, pool // 20)),
        cumulative_defaults=0,
        cumulative_recoveries=0,
        triggers_breached=0,
    )
    return params, state


#: A period's collections as shares (bps) of the beginning pool balance; edge values included.
_share = st.one_of(st.sampled_from([0, 10_000]), st.integers(0, 10_000))
period_shapes = st.tuples(
    st.integers(0, 300),  # interest collections, bps of beginning pool (can be short of what is due)
    _share,  # scheduled principal, bps of the beginning pool
    _share,  # prepayments, bps of what is left after scheduled principal
    _share,  # defaults, bps of what is left after prepayments
    st.integers(0, 3_000),  # recoveries, bps of cumulative defaults (+ a few units)
    st.integers(0, 10_000),  # delinquent (all buckets), bps of the ending pool
    st.integers(0, 10_000),  # of which 60+, bps of delinquent
)


def report_from_shape(s: wf.DealState, shape: tuple[int, ...]) -> wf.PeriodReport:
    """A reconciled report for state ``s`` from a :data:`period_shapes` draw."""
    interest, sched, prepay, default, recov, delinquent, over60 = shape
    b = s.pool_balance
    scheduled = b * sched // wf.BPS
    prepayments = (b - scheduled) * prepay // wf.BPS
    defaults = (b - scheduled - prepayments) * default // wf.BPS
    end = b - scheduled - prepayments - defaults
    total_delinquent = end * delinquent // wf.BPS
    late = total_delinquent * over60 // wf.BPS
    return wf.PeriodReport(
        interest_collections=b * interest // wf.BPS + interest,
        scheduled_principal=scheduled,
        prepayments=prepayments,
        recoveries=(s.cumulative_defaults + defaults) * recov // wf.BPS + (recov % 3),
        defaults=defaults,
        delinquent_30=total_delinquent - late,
        delinquent_60=late // 2,
        delinquent_90_plus=late - late // 2,
        pool_ending_balance=end,
    )


paths = st.lists(period_shapes, min_size=1, max_size=6)


def example_deal(mode: wf.PrincipalMode = wf.PrincipalMode.SEQUENTIAL, triggers=()) -> wf.DealParams:
    """The small three-class deal of the hand-worked examples and the error-parity tests."""
    return wf.DealParams(
        period_months=1,
        original_pool_balance=1_000,
        classes=(wf.ClassParams(1_200, False), wf.ClassParams(2_400, False), wf.ClassParams(0, True)),
        fees=(wf.FeeParams(3, 0), wf.FeeParams(0, 120)),
        reserve_target_bps=200,
        reserve_step_up_target_bps=400,
        reserve_floor=10,
        reserve_covered_classes=1,
        principal_mode=mode,
        triggers=tuple(triggers),
        clean_up_call_bps=1_000,
    )
