"""Scenario analytics through the deal model: tranche metrics, grids, breakeven CDR."""

from __future__ import annotations

import math

import pytest

from chainabs.model.analytics import PoolProfile, Scenario, breakeven_cdr, run_deal, scenario_grid, tranche_metrics, trigger_dates
from chainabs.model.spec import load_deal

SPEC = load_deal("consumer_loan").sized_to(10_000_000)
POOL = PoolProfile(10_000_000 * 10**6, 0.16, 24)


def test_a_clean_scenario_repays_every_note_and_conserves_cash():
    run = run_deal(SPEC, POOL, Scenario(cpr=0.1, cdr=0.0, severity=0.0))
    m = tranche_metrics(SPEC, run)
    assert (m["write_down_pct"] == 0).all()
    notes = m.iloc[:-1]
    assert (notes["wal_years"] > 0).all() and (notes["wal_years"] < 2).all()
    # Notes paid their coupon on the balance at par: the yield (compounded monthly) is the coupon.
    assert math.isclose(m.loc[0, "yield_pct"], 4.20, abs_tol=1e-6)
    assert math.isclose(m.loc[1, "yield_pct"], 5.50, abs_tol=1e-6)
    run.model.ledger.check()
    assert run.model.ledger.held == 0


def test_losses_hit_the_equity_first_then_the_mezzanine():
    mild = tranche_metrics(SPEC, run_deal(SPEC, POOL, Scenario(cpr=0.05, cdr=0.10, severity=0.6)))
    severe = tranche_metrics(SPEC, run_deal(SPEC, POOL, Scenario(cpr=0.05, cdr=0.60, severity=1.0)))
    assert mild.loc[0, "write_down_pct"] == 0
    assert severe.loc[2, "write_down_pct"] >= severe.loc[1, "write_down_pct"] >= severe.loc[0, "write_down_pct"]
    assert severe.loc[2, "write_down_pct"] > 0


def test_grid_has_one_row_per_scenario_and_class():
    grid = scenario_grid(SPEC, POOL, [0.05, 0.2], [0.0, 0.1], [0.5])
    assert len(grid) == 2 * 2 * 1 * 3
    assert set(grid["cpr"]) == {0.05, 0.2}


def test_breakeven_cdr_is_the_edge_of_principal_loss():
    be = breakeven_cdr(SPEC, POOL, 1, cpr=0.1, severity=0.6, tol=1e-3)
    assert 0 < be < 1
    at = run_deal(SPEC, POOL, Scenario(0.1, be, 0.6))
    above = run_deal(SPEC, POOL, Scenario(0.1, min(be + 0.01, 1.0), 0.6))
    assert at.model.tranches[1].cumulative_write_down == 0
    assert above.model.tranches[1].cumulative_write_down > 0


def test_trigger_dates_follow_the_breaches():
    run = run_deal(SPEC, POOL, Scenario(cpr=0.02, cdr=0.4, severity=0.9))
    dates = trigger_dates(run)
    assert 0 in dates  # cumulative net loss
    first = run.periods.set_index("period")["triggers_breached"]
    assert first.loc[dates[0]] & 1 and (dates[0] == 1 or not first.loc[dates[0] - 1] & 1)


@pytest.mark.parametrize("months", [None, 6])
def test_the_class_flows_hold_everything_the_classes_received_the_end_included(months):
    """Each class's rows add up to what its token received, the end of the deal's payments included (they belong
    to the last period), and its last row shows the shortfall the class is left with. A path cut after
    ``months`` ends at legal final with the pool and notes outstanding: the end pays the reserve to the senior."""
    from chainabs.model.analytics import run_projection
    from chainabs.model.cashflows import project_pool

    scenario = Scenario(cpr=0.02, cdr=0.4, severity=0.9)
    projection = project_pool(POOL.balance / 10**6, POOL.wac, POOL.term, scenario.assumptions())
    run = run_projection(SPEC, projection.head(months) if months else projection, POOL.balance, scenario)
    if months:
        assert run.model.state.periods_closed == months and run.model.tranches[0].cumulative_write_down > 0
    for i, t in enumerate(run.model.tranches):
        rows = run.classes[run.classes["class"] == i].sort_values("period")
        assert int(rows["interest_paid"].sum()) == t.interest_distributed
        assert int(rows["principal_paid"].sum()) == t.principal_distributed
        assert int(rows["interest_shortfall"].iloc[-1]) == t.interest_shortfall
