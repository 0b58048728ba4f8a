"""Generic cash-flow analytics: hand-computed values, consistency, and the breakeven root search."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.model import metrics
from chainabs.model.cashflows import project_pool


def test_wal_window_final_and_factor():
    principal = [0, 0, 50, 50, 0]
    assert metrics.wal(principal) == pytest.approx(3.5 / 12)
    assert metrics.wal(principal, periods_per_year=1) == pytest.approx(3.5)
    assert metrics.principal_window(principal) == (3, 4)
    assert metrics.principal_window([0, 0]) is None
    assert metrics.final_payment_period([1, 0, 2, 0]) == 3
    np.testing.assert_allclose(metrics.factor_path([80, 40, 0], 100), [0.8, 0.4, 0.0])
    with pytest.raises(ValueError, match="no principal"):
        metrics.wal([0, 0])


def test_wal_of_the_30y_mortgage():
    df = project_pool(100_000, 0.08, 360)
    # Hand formula: sum(t * principal_t) / balance / 12.
    t = np.arange(1, 361)
    assert metrics.wal(df.actual_amortization) == pytest.approx((t * df.actual_amortization).sum() / 100_000 / 12)
    fast = project_pool(100_000, 0.08, 360, psa=300)
    assert metrics.wal(fast.principal_collections) < metrics.wal(df.principal_collections)


def test_yield_price_and_durations():
    # A 2-period annual bond: coupon 10, face 100, priced at par -> yield 10 %.
    cf = [10.0, 110.0]
    assert metrics.yield_at_price(cf, 100.0, periods_per_year=1) == pytest.approx(0.10, abs=1e-12)
    assert metrics.price_from_yield(cf, 0.10, periods_per_year=1) == pytest.approx(100.0)
    mac = (1 * 10 / 1.1 + 2 * 110 / 1.1**2) / 100
    assert metrics.macaulay_duration(cf, 0.10, 1) == pytest.approx(mac)
    assert metrics.modified_duration(cf, 0.10, 1) == pytest.approx(mac / 1.1)
    # Modified duration is the price sensitivity: -dP/dy / P.
    h = 1e-6
    slope = (metrics.price_from_yield(cf, 0.1 + h, 1) - metrics.price_from_yield(cf, 0.1 - h, 1)) / (2 * h)
    assert -slope / 100 == pytest.approx(metrics.modified_duration(cf, 0.10, 1), rel=1e-6)
    assert metrics.irr([-100.0, 10.0, 110.0], periods_per_year=1) == pytest.approx(0.10)
    # A mortgage bought at par yields its coupon (monthly compounding).
    df = project_pool(100_000, 0.08, 360, psa=150)
    assert metrics.yield_at_price(df.total_collections, 100_000) == pytest.approx(0.08, abs=1e-10)
    assert metrics.yield_at_price(df.total_collections, 95_000) > 0.08
    assert metrics.bond_equivalent_yield(0.08) == pytest.approx(2 * ((1 + 0.08 / 12) ** 6 - 1))
    with pytest.raises(ValueError, match="not reached"):
        metrics.yield_at_price([1.0], 1e9)


def test_write_down_and_shortfall():
    assert metrics.write_down_pct([0, 5, 10], 100) == pytest.approx(0.15)
    np.testing.assert_allclose(metrics.interest_shortfall([10, 10, 10], [10, 6, 14]), [0, 4, 0])
    with pytest.raises(ValueError, match="lengths differ"):
        metrics.interest_shortfall([1], [1, 2])


def test_breakeven_finds_the_highest_zero_loss_point():
    assert metrics.breakeven(lambda x: max(0.0, x - 0.0734), 0.0, 1.0, 1e-9) == pytest.approx(0.0734, abs=1e-9)
    assert metrics.breakeven(lambda x: 0.0, 0.0, 0.5) == 0.5
    with pytest.raises(ValueError, match="already exceeds"):
        metrics.breakeven(lambda x: 1.0, 0.0, 1.0)


def test_breakeven_cdr_of_a_subordinated_class():
    """Toy structure: a senior class protected by 10 % subordination takes losses above 10 % of the pool."""

    def senior_loss(cdr: float) -> float:
        df = project_pool(1_000_000.0, 0.09, 60, cpr=0.1, cdr=cdr, severity=0.6, recovery_lag=6)
        return max(0.0, df.principal_loss.sum() - 100_000.0)

    be = metrics.breakeven(senior_loss, 0.0, 1.0, 1e-7)
    assert senior_loss(be) == 0.0
    assert senior_loss(be + 1e-6) > 0.0
    assert 0.05 < be < 0.8


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.01, 1e6), min_size=1, max_size=60), st.floats(0.0, 0.5))
def test_yield_inverts_price(cashflows, y):
    price = metrics.price_from_yield(cashflows, y)
    assert metrics.yield_at_price(cashflows, price) == pytest.approx(y, abs=1e-8)
