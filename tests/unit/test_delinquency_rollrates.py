"""Roll-rate delinquency model: hand-checked month, identities, cures, triggers and matrix validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.model import delinquency as dq
from chainabs.model.cashflows import AssumptionError

MATRIX = dq.roll_rate_matrix(
    current_to_30=0.03, roll_30_60=0.4, roll_60_90=0.5, roll_90_default=0.6, cure_30=0.3, cure_60=0.2, cure_90=0.1
)


def test_roll_rate_matrix_shape():
    assert MATRIX.shape == (5, 5)
    np.testing.assert_allclose(MATRIX.sum(axis=1), 1.0)
    assert MATRIX[1, 1] == pytest.approx(0.3) and MATRIX[3, 3] == pytest.approx(0.3)
    assert MATRIX[4, 4] == 1.0


def test_first_months_by_hand():
    df = dq.project_delinquency(1000.0, 0.12, 12, MATRIX, cpr=0.1, severity=0.5, recovery_lag=2)
    a = 0.01 / (1.01**12 - 1)
    smm = 1 - 0.9 ** (1 / 12)
    m1 = df.iloc[0]
    assert m1.dq30 == pytest.approx(30.0)
    assert m1.scheduled_principal == pytest.approx(970 * a)
    assert m1.interest_collections == pytest.approx(9.70)
    assert m1.voluntary_prepayments == pytest.approx(970 * (1 - a) * smm)
    assert m1.current == pytest.approx(970 * (1 - a) * (1 - smm))
    m2 = df.iloc[1]
    a2 = 0.01 / (1.01**11 - 1)  # month 2: 11 payments left
    # 30 % of dq30 cures (two payments), 30 % stays (one payment), 40 % rolls to dq60 (none).
    assert m2.dq60 == pytest.approx(12.0)
    assert m2.dq30 == pytest.approx(m1.current * 0.03 + 30 * 0.3 * (1 - a2))
    assert m2.interest_collections == pytest.approx(0.01 * (m1.current * 0.97 + 30 * 0.3 * 2 + 30 * 0.3))
    # dq90 first appears in month 3, defaults first in month 4 (0.6 * dq90), liquidated 2 months later.
    assert df.new_defaults[:3].sum() == 0.0
    assert df.new_defaults[3] == pytest.approx(0.6 * df.dq90[2])
    assert df.principal_loss[5] == pytest.approx(0.5 * df.new_defaults[3])
    assert df.principal_recovery[5] == pytest.approx(0.5 * df.new_defaults[3])
    assert a2 > a


def test_roll_forward_and_pool_runs_off():
    df = dq.project_delinquency(5000.0, 0.2, 24, MATRIX, psa=150, severity=0.8, recovery_lag=3)
    prior = np.concatenate([[5000.0], df.pool_balance[:-1]])
    np.testing.assert_allclose(prior - df.pool_balance,
                               df.scheduled_principal + df.voluntary_prepayments + df.new_defaults, atol=1e-9)
    assert df.pool_balance.iloc[-1] == pytest.approx(0.0, abs=1e-9)
    assert df.foreclosure_balance.iloc[-1] == pytest.approx(0.0, abs=1e-9)
    total_out = df.scheduled_principal.sum() + df.voluntary_prepayments.sum() + df.principal_recovery.sum() + df.principal_loss.sum()
    assert total_out == pytest.approx(5000.0)
    assert df.cumulative_loss.iloc[-1] == pytest.approx(df.principal_loss.sum())
    assert ((df.delinquency_60p <= df.delinquency_30p + 1e-12) & (df.delinquency_30p <= 1)).all()


def test_no_delinquency_is_plain_amortization():
    identity = dq.roll_rate_matrix(current_to_30=0, roll_30_60=0, roll_60_90=0, roll_90_default=0)
    df = dq.project_delinquency(1200.0, 0.0, 12, identity)
    np.testing.assert_allclose(df.scheduled_principal[:12], 100.0)
    assert df.dq30.sum() == 0 and df.new_defaults.sum() == 0


def test_initial_buckets_and_full_cure():
    cure_all = dq.roll_rate_matrix(current_to_30=0, roll_30_60=0, roll_60_90=0, roll_90_default=0,
                                   cure_30=1, cure_60=1, cure_90=1)
    df = dq.project_delinquency(400.0, 0.0, 40, cure_all, initial=[100, 100, 100, 100])
    # Everyone pays: current 1 payment, dq30 2, dq60 3, dq90 4 (of 1/40 each).
    assert df.scheduled_principal[0] == pytest.approx(100 * (1 + 2 + 3 + 4) / 40)
    assert df.dq30[0] == 0 and df.delinquency_30p[0] == 0


def test_per_month_matrices_and_trigger():
    calm = dq.roll_rate_matrix(current_to_30=0.01, roll_30_60=0.2, roll_60_90=0.3, roll_90_default=0.5, cure_30=0.5)
    storm = dq.roll_rate_matrix(current_to_30=0.15, roll_30_60=0.7, roll_60_90=0.8, roll_90_default=0.9)
    mats = np.stack([calm] * 6 + [storm] * 6 + [calm] * 12)
    df = dq.project_delinquency(1000.0, 0.1, 12, mats, months=24)
    assert dq.first_breach(df, "delinquency_30p", 0.10) == 7
    assert dq.first_breach(df, "delinquency_30p", 0.10, window=3) == 8
    assert dq.first_breach(df, "delinquency_30p", 2.0) is None
    with pytest.raises(AssumptionError, match="3 monthly matrices but the projection has 24 months"):
        dq.project_delinquency(1000.0, 0.1, 12, mats[:3], months=24)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.__setitem__((0, 0), 0.5), "row current sums to 0.53, not 1"),
        (lambda m: m.__setitem__((1, 1), -0.1), "dq30 -> dq30 = -0.1 is outside [0, 1]"),
        (lambda m: (m.__setitem__((0, 2), 0.01), m.__setitem__((0, 0), 0.96)), "current -> dq60 is not allowed"),
        (lambda m: (m.__setitem__((4, 0), 0.5), m.__setitem__((4, 4), 0.5)), "default -> current is not allowed"),
    ],
)
def test_bad_matrices_rejected(edit, message):
    m = MATRIX.copy()
    edit(m)
    with pytest.raises(AssumptionError) as err:
        dq.project_delinquency(1000.0, 0.1, 12, m)
    assert message in str(err.value)


def test_other_bad_inputs():
    with pytest.raises(AssumptionError, match="expected shape"):
        dq.check_transitions(np.eye(4))
    with pytest.raises(AssumptionError, match="initial: buckets sum to 10"):
        dq.project_delinquency(1000.0, 0.1, 12, MATRIX, initial=[10, 0, 0, 0])
    with pytest.raises(AssumptionError, match="column 'x'"):
        dq.first_breach(dq.project_delinquency(1000.0, 0.1, 12, MATRIX), "x", 0.1)


@settings(max_examples=60, deadline=None)
@given(
    rates=st.lists(st.floats(0, 1), min_size=7, max_size=7),
    balance=st.floats(1, 1e7),
    term=st.integers(1, 120),
    severity=st.floats(0, 1),
    lag=st.integers(0, 6),
    cpr=st.floats(0, 1),
)
def test_conservation_property(rates, balance, term, severity, lag, cpr):
    c30, r3060, r6090, r90d, k30, k60, k90 = rates
    m = dq.roll_rate_matrix(current_to_30=c30, roll_30_60=r3060 * (1 - k30), roll_60_90=r6090 * (1 - k60),
                            roll_90_default=r90d * (1 - k90), cure_30=k30, cure_60=k60, cure_90=k90)
    df = dq.project_delinquency(balance, 0.1, term, m, cpr=cpr, severity=severity, recovery_lag=lag)
    out = (df.scheduled_principal + df.voluntary_prepayments + df.principal_recovery + df.principal_loss).sum()
    left = df.pool_balance.iloc[-1] + df.foreclosure_balance.iloc[-1]
    assert out + left == pytest.approx(balance, rel=1e-9)
    assert (df.drop(columns=["month"]).to_numpy() >= -1e-9 * balance).all()
