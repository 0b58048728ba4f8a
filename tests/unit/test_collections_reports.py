"""Projected cash flows -> integer period reports the waterfall accepts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.model import delinquency
from chainabs.model.cashflows import project_pool, to_collections
from chainabs.model.collections import CollectionsError, period_reports
from chainabs.model.waterfall import validate_report, DealState

DEC = 6


def _state(balance: int) -> DealState:
    return DealState(0, balance, (balance,), (0,), (0,), (), 0, 0, 0, 0)


def _check_chain(reports, begin):
    for r in reports:
        validate_report(_state(begin), r)  # raises unless ending = begin - sched - prepay - defaults
        assert min(r.scheduled_principal, r.prepayments, r.defaults, r.recoveries, r.interest_collections) >= 0
        assert r.delinquent_30 + r.delinquent_60 + r.delinquent_90_plus <= r.pool_ending_balance
        begin = r.pool_ending_balance
    return begin


def test_sifma_projection_runs_off_to_zero_and_flows_match_the_projection():
    df = project_pool(1_000_000, 0.18, 24, cpr=0.10, cdr=0.05, severity=0.6, recovery_lag=3)
    reports = period_reports(df, DEC)
    assert len(reports) == len(df)
    assert reports[0].pool_ending_balance + reports[0].scheduled_principal + reports[0].prepayments + reports[0].defaults == 1_000_000 * 10**DEC
    assert _check_chain(reports, 1_000_000 * 10**DEC) == 0
    assert [r.interest_collections for r in reports] == to_collections(df, DEC, "interest_collections")
    assert [r.defaults for r in reports] == to_collections(df, DEC, "new_defaults")
    # Advanced principal on loans in foreclosure counts as recovery of the defaulted balance.
    expected_rec = (df["principal_recovery"] + df["amortization_from_defaults"]).sum() * 10**DEC
    assert abs(sum(r.recoveries for r in reports) - expected_rec) < 1


def test_roll_rate_projection_reports_delinquency_buckets():
    m = delinquency.roll_rate_matrix(current_to_30=0.03, roll_30_60=0.4, roll_60_90=0.5, roll_90_default=0.6,
                                     cure_30=0.4, cure_60=0.2, cure_90=0.1)
    df = delinquency.project_delinquency(500_000, 0.2, 12, m, cpr=0.05, severity=0.7, recovery_lag=2)
    reports = period_reports(df, DEC)
    assert _check_chain(reports, reports[0].pool_ending_balance + reports[0].scheduled_principal
                        + reports[0].prepayments + reports[0].defaults) == 0
    assert any(r.delinquent_60 > 0 for r in reports) and any(r.delinquent_90_plus > 0 for r in reports)
    assert reports[2].delinquent_30 == int(df["dq30"].iloc[2] * 10**DEC)


def test_given_beginning_balance_is_the_start_of_the_chain():
    df = project_pool(1234.567891, 0.12, 6, cpr=0.2)
    reports = period_reports(df, DEC, beginning_balance=1_234_567_891)
    assert _check_chain(reports, 1_234_567_891) == 0


def test_missing_column_is_named():
    df = project_pool(1000, 0.1, 3).drop(columns=["new_defaults"])
    with pytest.raises(CollectionsError, match="new_defaults"):
        period_reports(df, DEC)


@settings(max_examples=25, deadline=None, derandomize=True)  # pure: no chain, no brownie isolation
@given(
    balance=st.integers(1, 10**7),
    wac=st.floats(0.0, 0.36),
    term=st.integers(1, 48),
    cpr=st.floats(0.0, 0.5),
    cdr=st.floats(0.0, 0.5),
    severity=st.floats(0.0, 1.0),
    lag=st.integers(0, 6),
)
def test_any_projection_gives_a_valid_report_chain(balance, wac, term, cpr, cdr, severity, lag):
    df = project_pool(balance / 100, wac, term, cpr=cpr, cdr=cdr, severity=severity, recovery_lag=lag)
    reports = period_reports(df, 2, beginning_balance=balance)
    assert _check_chain(reports, balance) == 0  # the pool runs off to exactly zero
