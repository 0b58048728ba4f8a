"""Bad input is rejected by the model and the library with the same custom error and the same arguments."""

from __future__ import annotations

import dataclasses

import pytest
from plugins.waterfall import assert_custom_error, assert_model_error, chain_close, example_deal

from chainabs.model import waterfall as wf

BASE_P = example_deal()
BASE_S = wf.DealState(0, 1_000, (800, 100, 100), (0, 0, 0), (0, 0, 0), (0, 0), 20, 0, 0, 0)
BASE_R = wf.PeriodReport(20, 50, 10, 0, 5, 1, 1, 1, 935)
TRIGGER = wf.TriggerParams(wf.TriggerKind.CUMULATIVE_NET_LOSS, 100, True, False, True)

P = dataclasses.replace
CASES = [
    ("no classes", P(BASE_P, classes=()), BASE_S, BASE_R, "InvalidClassCount", (0,)),
    ("nine classes", P(BASE_P, classes=(wf.ClassParams(0, False),) * 8 + (wf.ClassParams(0, True),)),
     BASE_S, BASE_R, "InvalidClassCount", (9,)),
    ("no equity class", P(BASE_P, classes=(wf.ClassParams(100, False), wf.ClassParams(100, False))),
     BASE_S, BASE_R, "InvalidEquityClass", (1,)),
    ("equity not last", P(BASE_P, classes=(wf.ClassParams(0, True), wf.ClassParams(0, True))),
     BASE_S, BASE_R, "InvalidEquityClass", (0,)),
    ("coupon above 100%", P(BASE_P, classes=(wf.ClassParams(10_001, False), wf.ClassParams(0, True))),
     BASE_S, BASE_R, "InvalidCoupon", (0, 10_001)),
    ("equity coupon", P(BASE_P, classes=(wf.ClassParams(100, False), wf.ClassParams(5, True))),
     BASE_S, BASE_R, "InvalidCoupon", (1, 5)),
    ("nine fees", P(BASE_P, fees=(wf.FeeParams(1, 0),) * 9), BASE_S, BASE_R, "InvalidFeeCount", (9,)),
    ("fee bps", P(BASE_P, fees=(wf.FeeParams(1, 0), wf.FeeParams(0, 10_001))), BASE_S, BASE_R,
     "InvalidFeeBps", (1, 10_001)),
    ("nine triggers", P(BASE_P, triggers=(TRIGGER,) * 9), BASE_S, BASE_R, "InvalidTriggerCount", (9,)),
    ("zero months", P(BASE_P, period_months=0), BASE_S, BASE_R, "InvalidPeriodMonths", (0,)),
    ("13 months", P(BASE_P, period_months=13), BASE_S, BASE_R, "InvalidPeriodMonths", (13,)),
    ("reserve bps", P(BASE_P, reserve_step_up_target_bps=10_001), BASE_S, BASE_R,
     "InvalidReserveBps", (200, 10_001)),
    ("reserve covers equity", P(BASE_P, reserve_covered_classes=3), BASE_S, BASE_R,
     "InvalidReserveCover", (3, 2)),
    ("zero pool", P(BASE_P, original_pool_balance=0), BASE_S, BASE_R, "ZeroOriginalPool", ()),
    ("balances length", BASE_P, P(BASE_S, class_balances=(800, 100)), BASE_R, "InvalidStateLength", (0, 3, 2)),
    ("shortfalls length", BASE_P, P(BASE_S, interest_shortfalls=(0,)), BASE_R,
     "InvalidStateLength", (1, 3, 1)),
    ("pdl length", BASE_P, P(BASE_S, pdl=(0, 0, 0, 0)), BASE_R, "InvalidStateLength", (2, 3, 4)),
    ("fee shortfalls length", BASE_P, P(BASE_S, fee_shortfalls=()), BASE_R, "InvalidStateLength", (3, 2, 0)),
    ("pdl above balance", BASE_P, P(BASE_S, pdl=(0, 101, 0)), BASE_R, "PdlExceedsBalance", (1, 101, 100)),
    ("reduction above pool", BASE_P, BASE_S, P(BASE_R, scheduled_principal=990, pool_ending_balance=0),
     "PoolReductionExceedsBalance", (1_000, 1_005)),
    ("pool mismatch", BASE_P, BASE_S, P(BASE_R, pool_ending_balance=936), "PoolBalanceMismatch", (935, 936)),
    ("delinquency above pool", BASE_P, BASE_S, P(BASE_R, delinquent_90_plus=934), "DelinquencyExceedsPool",
     (936, 935)),
]


def test_base_case_is_valid(waterfall_harness):
    res, nxt = wf.close_period(BASE_P, BASE_S, BASE_R)
    assert chain_close(waterfall_harness, BASE_P, BASE_S, BASE_R) == (res, nxt)


@pytest.mark.parametrize("label,p,s,r,name,args", CASES, ids=[c[0] for c in CASES])
def test_bad_input_same_error_in_model_and_library(waterfall_harness, label, p, s, r, name, args):
    assert_model_error(lambda: wf.close_period(p, s, r), name, *args)
    assert_custom_error(lambda: waterfall_harness.closePeriod(p.as_abi(), s.as_abi(), r.as_abi()), name, *args)


def test_validate_params_alone(waterfall_harness):
    bad = P(BASE_P, period_months=0)
    assert_model_error(lambda: wf.validate_params(bad), "InvalidPeriodMonths", 0)
    assert_custom_error(lambda: waterfall_harness.validateParams(bad.as_abi()), "InvalidPeriodMonths", 0)
    waterfall_harness.validateParams(BASE_P.as_abi())


def test_building_blocks_match(waterfall_harness):
    assert waterfall_harness.accrue(333, 1_000, 3) == wf.accrue(333, 1_000, 3) == 8
    for pool_end, debt, step_up in [(0, 900, False), (940, 900, False), (940, 900, True), (100, 5, False), (10, 900, False)]:
        assert waterfall_harness.reserveTarget(BASE_P.as_abi(), pool_end, debt, step_up) == wf.reserve_target(
            BASE_P, pool_end, debt, step_up
        )
    for amount, balances, seq in [(61, [800, 100, 100], False), (7, [3, 3, 3, 5], False), (1_000, [10, 0, 5], True)]:
        paid, left = waterfall_harness.allocatePrincipal(amount, balances, seq)
        assert (list(paid), left) == tuple(map(lambda x: x, wf.allocate_principal(amount, balances, seq)))


def test_error_assertion_helper_can_fail(waterfall_harness):
    """The helper compares selector AND arguments: a wrong argument or a wrong name is reported."""
    bad = P(BASE_R, pool_ending_balance=936)
    call = lambda: waterfall_harness.closePeriod(BASE_P.as_abi(), BASE_S.as_abi(), bad.as_abi())  # noqa: E731
    with pytest.raises(AssertionError):
        assert_custom_error(call, "PoolBalanceMismatch", 935, 937)
    with pytest.raises(AssertionError):
        assert_custom_error(call, "DelinquencyExceedsPool", 935, 936)


PANIC_OVERFLOW = "0x4e487b71" + f"{0x11:064x}"


@pytest.mark.parametrize(
    "label,s",
    [
        ("class interest accrual", P(BASE_S, class_balances=(2**255, 100, 100))),
        ("fee shortfall + due", P(BASE_S, fee_shortfalls=(2**256 - 1, 0))),
        ("interest shortfall + due", P(BASE_S, interest_shortfalls=(2**256 - 1, 0, 0))),
        ("cumulative defaults", P(BASE_S, cumulative_defaults=2**256 - 1)),
    ],
)
def test_amounts_beyond_uint256_revert_with_panic_not_wraparound(waterfall_harness, label, s):
    """Where a sum or product of inputs exceeds 2**256 the library reverts (Panic 0x11) instead of wrapping:
    its `unchecked` blocks are limited to differences and sums proven in range."""
    with pytest.raises(Exception) as info:
        waterfall_harness.closePeriod(BASE_P.as_abi(), s.as_abi(), BASE_R.as_abi())
    assert PANIC_OVERFLOW in repr(info.value).lower(), info.value
