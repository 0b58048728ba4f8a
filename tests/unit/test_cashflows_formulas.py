"""Standard-formula projection: hand-checked worked examples, edge cases and rejected assumptions."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from chainabs.model import cashflows as cf
from chainabs.model.cashflows import AssumptionError, project_loans, project_pool


# --- worked examples -------------------------------------------------------------------------------------------


def test_mortgage_amortization_schedule_100k_30y_8pct():
    assert cf.level_payment(100_000, 0.08, 360) == pytest.approx(733.76, abs=0.005)
    sched = cf.amortization_schedule(100_000, 0.08, 360)
    first = sched.iloc[0]
    assert first.interest == pytest.approx(666.67, abs=0.005)
    assert first.principal == pytest.approx(67.10, abs=0.005)
    assert first.balance == pytest.approx(99_932.90, abs=0.005)
    assert sched.iloc[1].principal == pytest.approx(67.55, abs=0.005)
    assert sched.balance.iloc[-1] == pytest.approx(0.0, abs=1e-6)
    # The projection with no prepayments or defaults is that schedule.
    df = project_pool(100_000, 0.08, 360)
    assert len(df) == 360
    np.testing.assert_allclose(df.actual_amortization, sched.principal, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(df.expected_interest, sched.interest, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(df.total_collections, 733.764574, atol=1e-6)
    assert df.performing_balance.iloc[-1] == 0.0


def test_psa_curve_month_by_month():
    months = np.arange(0, 41)
    cpr = cf.psa_cpr(months)
    assert cpr[0] == 0.0
    assert cpr[1] == pytest.approx(0.002)
    assert cpr[15] == pytest.approx(0.03)
    assert cpr[30] == pytest.approx(0.06)
    assert cpr[40] == pytest.approx(0.06)
    np.testing.assert_allclose(cpr[1:31], 0.002 * months[1:31])
    assert cf.psa_cpr(10, 150) == pytest.approx(0.03)
    # SMM = 1 - (1 - CPR) ** (1/12); month 1 of a new pool at 100 PSA.
    smm = cf.monthly_rates("psa", 100, 36)[0]
    assert smm[0] == pytest.approx(1 - (1 - 0.002) ** (1 / 12))
    assert smm[29] == pytest.approx(1 - 0.94 ** (1 / 12))
    assert smm[29] == pytest.approx(0.00514301, abs=1e-8)


def test_sda_curve_points():
    cdr = cf.sda_cdr(np.arange(0, 200))
    assert cdr[0] == 0.0
    assert cdr[1] == pytest.approx(0.0002)
    assert cdr[29] == pytest.approx(0.0058)
    assert cdr[30] == pytest.approx(0.006)
    assert cdr[45] == pytest.approx(0.006)
    assert cdr[60] == pytest.approx(0.006)
    assert cdr[61] == pytest.approx(0.006 - 0.000095)
    assert cdr[90] == pytest.approx(0.006 - 30 * 0.000095)
    assert cdr[120] == pytest.approx(0.0003)
    assert cdr[121] == pytest.approx(0.0003)
    assert cdr[199] == pytest.approx(0.0003)
    assert cf.sda_cdr(30, 200) == pytest.approx(0.012)


def test_rate_conversions_roundtrip():
    assert cf.annual_to_monthly(0.06) == pytest.approx(0.005143, abs=1e-6)
    assert cf.monthly_to_annual(cf.annual_to_monthly(0.23)) == pytest.approx(0.23)


# Cumulative defaults (% of original balance) of the standard's numerical SDA example: 8 % WAC 30-year
# pool, 12 months to liquidation; rows %PSA, columns %SDA 50..300 (Uniform Practices SF-22 ff.).
SIFMA_CUMULATIVE_DEFAULTS = {
    100: [1.56, 3.09, 4.59, 6.08, 7.53, 8.97],
    150: [1.40, 2.78, 4.13, 5.47, 6.79, 8.08],
    200: [1.26, 2.51, 3.74, 4.95, 6.14, 7.32],
    300: [1.05, 2.08, 3.10, 4.11, 5.10, 6.08],
}


@pytest.mark.parametrize("psa", sorted(SIFMA_CUMULATIVE_DEFAULTS))
def test_sda_cumulative_default_matrix_of_the_standard(psa):
    for sda, expected in zip((50, 100, 150, 200, 250, 300), SIFMA_CUMULATIVE_DEFAULTS[psa]):
        df = project_pool(100.0, 0.08, 360, psa=psa, sda=sda, severity=0.35, recovery_lag=12)
        assert round(df.new_defaults.sum(), 2) == pytest.approx(expected), (psa, sda)


def test_defaults_hit_prior_performing_balance_and_prepayments_follow_scheduled_amortization():
    df = project_pool(1_000.0, 0.12, 12, smm=0.02, mdr=0.01)
    a1 = 0.01 / (1.01**12 - 1)
    assert df.new_defaults[0] == pytest.approx(10.0)
    assert df.actual_amortization[0] == pytest.approx(990.0 * a1)
    assert df.voluntary_prepayments[0] == pytest.approx(1000.0 * (1 - a1) * 0.02)
    assert df.performing_balance[0] == pytest.approx(1000 - 10 - 990 * a1 - 1000 * (1 - a1) * 0.02)
    assert df.new_defaults[1] == pytest.approx(df.performing_balance[0] * 0.01)
    assert df.smm[0] == pytest.approx(0.02) and df.mdr[0] == pytest.approx(0.01)
    assert df.expected_interest[0] == pytest.approx(10.0)
    assert df.interest_lost[0] == pytest.approx(0.1)
    assert df.actual_interest[0] == pytest.approx(9.9)


def test_recovery_lag_timing_without_advancing():
    df = project_pool(1_200.0, 0.0, 12, mdr=0.1, severity=0.4, recovery_lag=2, advancing=False)
    # Month 1: 120 defaults; liquidated in month 3 at 40 % loss of the defaulted balance.
    assert df.new_defaults[0] == pytest.approx(120.0)
    assert df.actual_amortization[0] == pytest.approx(1080.0 / 12)
    assert df.amortization_from_defaults[0] == 0.0
    assert df.foreclosure_balance[0] == pytest.approx(120.0)
    assert df.principal_loss[:2].sum() == 0.0 and df.principal_recovery[:2].sum() == 0.0
    assert df.liquidated_balance[2] == pytest.approx(120.0)
    assert df.principal_loss[2] == pytest.approx(48.0)
    assert df.principal_recovery[2] == pytest.approx(72.0)
    assert df.principal_loss[3] == pytest.approx(0.4 * df.new_defaults[1])
    # Defaults stop in the last `recovery_lag` months so everything is liquidated by maturity (SF-17 i).
    assert df.new_defaults[10:].sum() == 0.0 and df.new_defaults[9] > 0
    assert df.foreclosure_balance.iloc[-1] == pytest.approx(0.0, abs=1e-9)
    assert df.performing_balance.iloc[-1] == pytest.approx(0.0, abs=1e-9)


def test_recovery_lag_with_advancing_amortizes_the_defaulted_balance():
    df = project_pool(1_200.0, 0.0, 12, mdr=0.1, severity=0.4, recovery_lag=2, advancing=True)
    # The defaulted 120 keeps amortizing (advanced) in months 1 and 2: 120 * 11/12 * 10/11 = 100.
    assert df.amortization_from_defaults[0] == pytest.approx(10.0)
    assert df.expected_amortization[0] == pytest.approx(100.0)
    assert df.liquidated_balance[2] == pytest.approx(100.0)
    assert df.principal_loss[2] == pytest.approx(48.0)
    assert df.principal_recovery[2] == pytest.approx(52.0)
    assert df.principal_collections[0] == pytest.approx(df.expected_amortization[0])


def test_interest_lost_covers_default_month_and_foreclosure_months():
    df = project_pool(1_200.0, 0.12, 12, mdr=[0.1] + [0.0] * 11, severity=0.5, recovery_lag=2, advancing=False)
    r = 0.01
    assert df.interest_lost[0] == pytest.approx(120 * r)
    assert df.interest_lost[1] == pytest.approx(120 * r)
    assert df.interest_lost[2] == pytest.approx(120 * r)  # liquidated this month: interest was still due
    assert df.interest_lost[3] == 0.0
    assert df.interest_collections[0] == pytest.approx(df.actual_interest[0])
    adv = project_pool(1_200.0, 0.12, 12, mdr=[0.1] + [0.0] * 11, severity=0.5, recovery_lag=2, advancing=True)
    np.testing.assert_allclose(adv.interest_collections, adv.expected_interest)


def test_full_severity_loses_everything_and_cap_at_liquidated_balance():
    df = project_pool(1_000.0, 0.1, 24, cdr=0.2, severity=1.0, recovery_lag=0)
    assert df.principal_recovery.sum() == 0.0
    assert df.principal_loss.sum() == pytest.approx(df.new_defaults.sum())
    adv = project_pool(1_000.0, 0.1, 24, cdr=0.2, severity=1.0, recovery_lag=6, advancing=True)
    # Loss is capped at the (amortized) liquidated balance: nothing is recovered, nothing goes negative.
    assert (adv.principal_recovery >= 0).all()
    np.testing.assert_allclose(adv.principal_loss, adv.liquidated_balance)


def test_zero_rates_term_one_and_zero_interest():
    one = project_pool(500.0, 0.06, 1, cpr=0.5, cdr=0.5, severity=0.5)
    assert len(one) == 1
    assert one.actual_amortization[0] + one.new_defaults[0] == pytest.approx(500.0)
    assert one.voluntary_prepayments[0] == 0.0  # nothing left to prepay after the final payment
    zero = project_pool(1_200.0, 0.0, 12)
    np.testing.assert_allclose(zero.actual_amortization, 100.0)
    assert zero.expected_interest.sum() == 0.0
    quiet = project_pool(1_000.0, 0.07, 60, smm=0.0, mdr=0.0)
    pd.testing.assert_frame_equal(quiet, project_pool(1_000.0, 0.07, 60))


def test_bullet_receivable_pays_principal_at_maturity():
    df = project_pool(10_000.0, 0.06, 6, amortization="bullet")
    np.testing.assert_allclose(df.actual_amortization[:5], 0.0)
    assert df.actual_amortization[5] == pytest.approx(10_000.0)
    np.testing.assert_allclose(df.expected_interest, 50.0)
    pre = project_pool(10_000.0, 0.0, 6, amortization="bullet", smm=0.1)
    assert pre.voluntary_prepayments[0] == pytest.approx(1_000.0)


def test_seasoning_applies_curves_by_loan_age():
    seasoned = project_pool(1_000.0, 0.08, 360, age=29, psa=100, sda=100)
    assert len(seasoned) == 331
    assert seasoned.smm[0] == pytest.approx(1 - 0.94 ** (1 / 12))  # age 30
    assert seasoned.mdr[0] == pytest.approx(1 - (1 - 0.006) ** (1 / 12))
    # Its schedule is the remaining part of the original 30-year schedule.
    full = cf.amortization_schedule(1.0, 0.08, 360)
    a = project_pool(1.0, 0.08, 360, age=29)
    assert a.actual_amortization[0] == pytest.approx(full.principal[29] / full.balance[28])


def test_vector_rates_per_month():
    cprs = np.linspace(0.0, 0.3, 24)
    df = project_pool(1_000.0, 0.1, 24, cpr=cprs)
    np.testing.assert_allclose(df.smm[:-1], 1 - (1 - cprs[:-1]) ** (1 / 12), rtol=1e-9)


def test_loan_level_sums_lines_and_returns_detail():
    tape = pd.DataFrame(
        {"balance": [1000.0, 2500.0, 800.0], "wac": [0.08, 0.12, 0.05], "term": [24, 12, 36], "age": [0, 3, 10]},
        index=["a", "b", "c"],
    )
    kw = dict(cpr=0.1, cdr=0.05, severity=0.3, recovery_lag=2)
    pool, detail = project_loans(tape, detail=True, **kw)
    assert len(pool) == 26  # the longest remaining term
    singles = [project_pool(r.balance, r.wac, r.term, age=r.age, **kw) for r in tape.itertuples()]
    for col in cf.SUM_COLUMNS:
        expected = np.zeros(26)
        for s in singles:
            expected[: len(s)] += s[col].to_numpy()
        np.testing.assert_allclose(pool[col], expected, rtol=1e-12, atol=1e-9, err_msg=col)
    assert set(detail.loan) == {"a", "b", "c"}
    b = detail[detail.loan == "b"]
    # Loan b matures mid-run (9 months left): nothing after month 9.
    assert b[b.month > 9][list(cf.SUM_COLUMNS)].abs().to_numpy().sum() == 0.0
    np.testing.assert_allclose(b.voluntary_prepayments[:9], singles[1].voluntary_prepayments)
    np.testing.assert_allclose(detail.groupby("month").principal_loss.sum(), pool.principal_loss)


# --- rejected assumptions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cpr": -0.01}, "cpr: rate -0.01 at month 1 is negative"),
        ({"cdr": 1.2}, "cdr: rate 1.2 at month 1 is over 100 %"),
        ({"smm": [0.01] * 11 + [-0.1]}, "smm: rate -0.1 at month 12 is negative"),
        ({"mdr": [0.01] * 5}, "mdr: vector has 5 values but the projection has 12 months"),
        ({"cpr": 0.1, "psa": 100}, "give at most one prepayment measure (smm, cpr, psa); got cpr and psa"),
        ({"mdr": 0.01, "sda": 100}, "give at most one default measure (mdr, cdr, sda); got mdr and sda"),
        ({"psa": -5}, "psa: speed -5 at month 1 is negative"),
        ({"cpr": float("nan")}, "cpr: value at month 1 is not a finite number"),
        ({"severity": 1.5}, "severity: 1.5 must be between 0 and 1"),
        ({"recovery_lag": -1}, "recovery_lag: -1 must be a whole number"),
        ({"servicing_fee": 0.2}, "servicing_fee: 0.2 exceeds the coupon 0.1"),
        ({"amortization": "balloon"}, "amortization 'balloon' is not one of level, bullet"),
        ({"age": 12}, "age 12 must be below the term"),
    ],
)
def test_bad_assumptions_are_rejected_with_clear_errors(kwargs, message):
    with pytest.raises(AssumptionError) as err:
        project_pool(1_000.0, 0.1, 12, **kwargs)
    assert message in str(err.value)


def test_psa_speed_that_exceeds_100pct_cpr_is_rejected():
    with pytest.raises(AssumptionError, match=r"psa: 2000 % of the curve gives CPR 1.04 \(over 100 %\) at month 26"):
        project_pool(1_000.0, 0.1, 60, psa=2000)


def test_unknown_curve_is_rejected():
    with pytest.raises(AssumptionError, match="unknown curve 'abs'; expected one of smm, cpr, psa, mdr, cdr, sda"):
        cf.monthly_rates("abs", 1.5, 12)


@pytest.mark.parametrize(
    "tape, message",
    [
        (pd.DataFrame({"balance": [1.0], "wac": [0.1]}), "missing column(s) term"),
        (pd.DataFrame({"balance": [-1.0], "wac": [0.1], "term": [12]}), "loans row 0: balance -1 is negative"),
        (pd.DataFrame({"balance": [1.0, 1.0], "wac": [0.1, 8.0], "term": [12, 12]}), "loans row 1: wac 8 is over 100 %"),
        (pd.DataFrame({"balance": [1.0], "wac": [0.1], "term": [12.5]}), "term 12.5 is not a whole number"),
        (pd.DataFrame({"balance": ["x"], "wac": [0.1], "term": [12]}), "balance 'x' is not a number"),
        (pd.DataFrame({"balance": [1.0], "wac": [0.1], "term": [0]}), "term 0 must be at least 1 month"),
    ],
)
def test_bad_loan_tapes_are_rejected(tape, message):
    with pytest.raises(AssumptionError) as err:
        project_loans(tape)
    assert message in str(err.value)


# --- integer collections ----------------------------------------------------------------------------------------


def test_to_collections_rounds_down_cumulatively_and_reconciles_exactly():
    df = pd.DataFrame({"month": [1, 2, 3], "total_collections": [0.4, 0.4, 0.4]})
    assert cf.to_collections(df, 0) == [0, 0, 1]
    assert cf.collections_remainder(df, 0) == Fraction(0.4) * 3 - 1
    proj = project_pool(1_234_567.891, 0.0799, 60, cpr=0.12, cdr=0.03, severity=0.45, recovery_lag=3)
    units = cf.to_collections(proj, 6)
    assert all(isinstance(u, int) and u >= 0 for u in units)
    exact = sum(Fraction(float(v)) for v in proj.total_collections) * 10**6
    assert sum(units) == int(exact)  # floor of the exact total, to the unit
    running = np.cumsum([Fraction(float(v)) * 10**6 for v in proj.total_collections])
    assert all(0 <= r - s < 1 for r, s in zip(running, np.cumsum(units)))
    table = cf.to_collection_table(proj, 6)
    assert list(table.columns) == ["month", "interest_collections", "principal_collections", "principal_loss"]
    assert sum(table.principal_collections) == int(sum(Fraction(float(v)) for v in proj.principal_collections) * 10**6)
    assert all(0 <= r < 1 for r in table.attrs["remainder"].values())


def test_to_collections_rejects_bad_input():
    df = pd.DataFrame({"month": [1, 2], "total_collections": [1.0, -2.0]})
    with pytest.raises(AssumptionError, match="period 2 amount -2 is negative"):
        cf.to_collections(df, 6)
    with pytest.raises(AssumptionError, match="decimals"):
        cf.to_collections(df, -1)
    with pytest.raises(AssumptionError, match="column 'nope'"):
        cf.to_collections(df, 6, "nope")
