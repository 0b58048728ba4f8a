"""Property tests: the standard-formula identities hold for any valid assumptions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.model.cashflows import project_pool

assumptions = st.fixed_dictionaries(
    {
        "balance": st.floats(1.0, 1e8),
        "wac": st.floats(0.0, 0.3),
        "term": st.integers(1, 360),
        "age_share": st.floats(0.0, 0.95),
        "cpr": st.floats(0.0, 1.0),
        "cdr": st.floats(0.0, 1.0),
        "severity": st.floats(0.0, 1.0),
        "recovery_lag": st.integers(0, 24),
        "advancing": st.booleans(),
        "fee_share": st.floats(0.0, 1.0),
        "amortization": st.sampled_from(["level", "bullet"]),
    }
)


def _project(a: dict):
    age = int(a["age_share"] * (a["term"] - 1))
    return project_pool(
        a["balance"], a["wac"], a["term"], age=age, cpr=a["cpr"], cdr=a["cdr"], severity=a["severity"],
        recovery_lag=a["recovery_lag"], advancing=a["advancing"], servicing_fee=a["wac"] * a["fee_share"],
        amortization=a["amortization"],
    )


@settings(max_examples=150, deadline=None)
@given(assumptions)
def test_identities_hold(a):
    df = _project(a)
    tol = 1e-9 * a["balance"]
    prior_perf = np.concatenate([[a["balance"]], df.performing_balance.to_numpy()[:-1]])
    prior_fcl = np.concatenate([[0.0], df.foreclosure_balance.to_numpy()[:-1]])
    # Performing balance roll-forward: PERF(i) = PERF(i-1) - NEW DEF - VOL PREPAY - ACT AM.
    np.testing.assert_allclose(
        df.performing_balance, prior_perf - df.new_defaults - df.voluntary_prepayments - df.actual_amortization, atol=tol
    )
    # Foreclosure roll-forward: FCL(i) = FCL(i-1) + NEW DEF - liquidated - AM DEF.
    np.testing.assert_allclose(
        df.foreclosure_balance,
        prior_fcl + df.new_defaults - df.liquidated_balance - df.amortization_from_defaults,
        atol=tol,
    )
    # Principal in = principal out + losses, and the pool is gone at maturity.
    out = (df.actual_amortization + df.amortization_from_defaults + df.voluntary_prepayments
           + df.principal_recovery + df.principal_loss).sum()
    assert abs(a["balance"] - out) <= 1e-8 * a["balance"]
    assert abs(df.performing_balance.iloc[-1]) <= tol and abs(df.foreclosure_balance.iloc[-1]) <= tol
    np.testing.assert_allclose(df.liquidated_balance, df.principal_loss + df.principal_recovery, atol=tol)
    np.testing.assert_allclose(df.expected_interest, df.actual_interest + df.interest_lost, atol=tol)
    np.testing.assert_allclose(df.total_collections, df.principal_collections + df.interest_collections, atol=tol)
    if a["advancing"]:
        np.testing.assert_allclose(df.expected_amortization, df.actual_amortization + df.amortization_from_defaults, atol=tol)
    else:
        assert (df.amortization_from_defaults == 0).all()
    # SF-19 c: amortization + defaults + prepayments never exceed the prior performing balance.
    assert (df.actual_amortization + df.new_defaults + df.voluntary_prepayments <= prior_perf + tol).all()
    flows = df.drop(columns=["month"]).to_numpy()
    assert (flows >= -tol).all()
    assert df.principal_loss.sum() <= a["severity"] * df.new_defaults.sum() + tol


@settings(max_examples=60, deadline=None)
@given(assumptions, st.floats(0.0, 0.5))
def test_more_defaults_never_lose_less(a, extra):
    a = dict(a, cdr=min(1.0, a["cdr"] * 0.5))
    base = _project(a)
    worse = _project(dict(a, cdr=min(1.0, a["cdr"] + extra)))
    assert worse.principal_loss.sum() >= base.principal_loss.sum() - 1e-9 * a["balance"]
