"""Hand-worked waterfall examples, each checked against the Python model AND the Solidity library.

The base deal ``D`` (all amounts in base units, monthly periods, 30/360):

* pool 1,000; classes A 800 @ 1,200 bps (12% p.a. = 1% a month -> 8), B 100 @ 2,400 bps (2% a month -> 2),
  E 100 (equity, no coupon);
* fees: trustee 3 fixed per period; servicer 120 bps p.a. of the beginning pool (1,000 x 1% / 12... = 1);
* reserve: 20 at closing, target 200 bps of the pool ending balance, floor 10, covers class A's interest;
* clean-up call at 1,000 bps (10%) of the original pool.
"""

from __future__ import annotations

import dataclasses

import pytest
from plugins.waterfall import chain_close, example_deal as deal

from chainabs.model import waterfall as wf

A, B, E = 0, 1, 2


def closing(**changes) -> wf.DealState:
    s = wf.DealState(0, 1_000, (800, 100, 100), (0, 0, 0), (0, 0, 0), (0, 0), 20, 0, 0, 0)
    return dataclasses.replace(s, **changes)


def report(s: wf.DealState, interest=0, sched=0, prepay=0, defaults=0, recoveries=0, d60=0, d90=0) -> wf.PeriodReport:
    end = s.pool_balance - sched - prepay - defaults
    return wf.PeriodReport(interest, sched, prepay, recoveries, defaults, 0, d60, d90, end)


@pytest.fixture(params=["model", "chain"])
def close(request, waterfall_harness):
    """close(p, s, r) -> (result, next state) by the Python model or by the library on anvil."""
    if request.param == "model":
        def run(p, s, r):
            res, nxt = wf.close_period(p, s, r)
            wf.check_identities(s, r, res, nxt)
            return res, nxt
        return run
    return lambda p, s, r: chain_close(waterfall_harness, p, s, r)


def test_sequential_period_all_paid(close):
    """Interest 20, scheduled 50, prepayments 10 -> pool 940.

    fees 3 + 1,000*120*1/120,000 = 1 -> 4 (revenue 16); interest A 8 (8 left), B 2 (6 left);
    reserve target max(940*200/10,000 = 18, floor 10) = 18 < 20 -> release 2 (revenue 8);
    principal 60 sequential -> A 60 (A 740); no PDL -> residual 8.
    cash in 80 = 4 + 10 + 60 + 0 - 0 - 2 + 8.
    """
    s = closing()
    res, nxt = close(deal(), s, report(s, interest=20, sched=50, prepay=10))
    assert res.sequential and not res.reserve_step_up
    assert res.fee_due == (3, 1) and res.fee_paid == (3, 1)
    assert res.interest_due == (8, 2, 0) and res.interest_paid == (8, 2, 0)
    assert (res.reserve_target, res.reserve_release, res.reserve_deposit, res.reserve_draw) == (18, 2, 0, 0)
    assert res.principal_paid == (60, 0, 0)
    assert res.residual == 8
    assert nxt.class_balances == (740, 100, 100) and nxt.reserve_balance == 18 and nxt.pool_balance == 940
    assert nxt.periods_closed == 1


def test_pro_rata_shares_and_dust_to_most_senior(close):
    """Principal 61 pro-rata over A 800 / B 100 (debt 900): A 61*800/900 = 54.2 -> 54, B 6.8 -> 6;
    dust 1 to the most senior class with balance left -> A 55, B 6. Equity gets nothing while notes remain.
    Reserve target 939*200/10,000 = 18 -> release 2; residual 8 as in the sequential example."""
    s = closing()
    res, nxt = close(deal(wf.PrincipalMode.PRO_RATA), s, report(s, interest=20, sched=50, prepay=11))
    assert not res.sequential
    assert res.principal_paid == (55, 6, 0)
    assert res.residual == 8
    assert nxt.class_balances == (745, 94, 100)


def test_trigger_breach_switches_to_sequential_next_period(close):
    """Pro-rata deal, trigger: cumulative net loss > 100 bps -> sequential, not curable.

    Period 1: interest 20, sched 50, prepay 10, defaults 20 -> pool 920.
      loss 20 -> equity PDL 20 (write-down E 20); fees 4, interest 8 + 2 -> revenue 6;
      target 920*2% = 18 -> release 2 -> revenue 8; principal 60 pro-rata: A 53 + dust 1 = 54, B 6
      (A 746, B 94); PDL cure min(8, 20) = 8 credited to E (PDL 12) and paid pro-rata over 840:
      A 8*746/840 = 7 + dust 1 = 8, B 0 -> A 738; residual 0.
      CNL = 20*10,000/1,000 = 200 bps > 100: breached, applies from period 2.
    Period 2: interest 20, sched 40 -> pool 880.
      fees 3 + 920*120/120,000 = 0 -> 3; interest A 738*1,200/120,000 = 7, B 94*2,400/120,000 = 1 -> 9 left;
      target 17 -> release 1 -> 10; principal 40 SEQUENTIAL -> A; cure min(10, 12) = 10 -> A;
      A 738 - 50 = 688, E PDL 2; trigger stays breached (not curable, CNL still 200).
    """
    trig = wf.TriggerParams(wf.TriggerKind.CUMULATIVE_NET_LOSS, 100, True, False, False)
    p = deal(wf.PrincipalMode.PRO_RATA, [trig])
    s0 = closing()
    res1, s1 = close(p, s0, report(s0, interest=20, sched=50, prepay=10, defaults=20))
    assert not res1.sequential
    assert res1.write_down == (0, 0, 20)
    assert res1.principal_paid == (62, 6, 0) and res1.pdl_cure_paid == 8
    assert res1.pdl_cured == (0, 0, 8) and s1.pdl == (0, 0, 12)
    assert res1.residual == 0
    assert res1.trigger_values == (200,) and s1.triggers_breached == 1
    assert s1.class_balances == (738, 94, 100)

    res2, s2 = close(p, s1, report(s1, interest=20, sched=40))
    assert res2.sequential
    assert res2.fee_due == (3, 0)
    assert res2.interest_due == (7, 1, 0)
    assert res2.reserve_release == 1
    assert res2.principal_paid == (50, 0, 0) and res2.pdl_cure_paid == 10
    assert s2.class_balances == (688, 94, 100) and s2.pdl == (0, 0, 2)
    assert s2.triggers_breached == 1


def test_curable_trigger_cures_and_steps_up_reserve(close):
    """60+ delinquency > 100 bps steps the reserve target up to 400 bps; curable.

    Period 1: pool stays 1,000; d60 5 + d90 6 -> 11*10,000/1,000 = 110 bps: breached. Target (this period,
      no step-up yet) 20: reserve unchanged. Interest 20 - 4 - 10 -> residual 6.
    Period 2: step-up target 1,000*400/10,000 = 40: deposit min(6, 20) = 6 -> reserve 26, residual 0;
      delinquency back to 0: trigger cured.
    """
    trig = wf.TriggerParams(wf.TriggerKind.DELINQUENCY_60_PLUS, 100, False, True, True)
    p = deal(triggers=[trig])
    s0 = closing()
    res1, s1 = close(p, s0, report(s0, interest=20, d60=5, d90=6))
    assert res1.trigger_values == (110,) and res1.triggers_breached == 1
    assert not res1.reserve_step_up and res1.reserve_target == 20 and res1.residual == 6
    res2, s2 = close(p, s1, report(s1, interest=20))
    assert res2.reserve_step_up and res2.reserve_target == 40
    assert res2.reserve_deposit == 6 and s2.reserve_balance == 26 and res2.residual == 0
    assert res2.trigger_values == (0,) and s2.triggers_breached == 0


def test_reserve_draw_then_replenish(close):
    """Period 1: interest 5, nothing else (pool 1,000). Fees 4 from revenue (1 left); A's interest 8:
    1 from revenue + 7 drawn from the reserve (13 left); B's 2 is not covered by the reserve -> shortfall 2.
    Target 20 but no revenue left: no deposit.
    Period 2: interest 30. Fees 4 (26), A 8 (18), B 2 carried + 2 = 4 (14); reserve 13 -> 20: deposit 7;
    residual 7."""
    s0 = closing()
    res1, s1 = close(deal(), s0, report(s0, interest=5))
    assert res1.fee_paid == (3, 1)
    assert res1.interest_paid == (8, 0, 0) and res1.reserve_draw == 7
    assert s1.interest_shortfalls == (0, 2, 0) and s1.reserve_balance == 13
    assert res1.reserve_deposit == 0 and res1.residual == 0
    res2, s2 = close(deal(), s1, report(s1, interest=30))
    assert res2.interest_paid == (8, 4, 0) and s2.interest_shortfalls == (0, 0, 0)
    assert res2.reserve_deposit == 7 and s2.reserve_balance == 20
    assert res2.residual == 7


def test_shortfalls_carry_forward_without_interest_on_interest(close):
    """Reserve 2, interest 1: trustee fee 3 = 1 revenue + 2 reserve; servicer 1 unpaid (shortfall 1);
    A 8 and B 2 unpaid (reserve empty). Next period, interest 100: servicer 1 + 1 = 2, A exactly 8 + 8 = 16
    (no interest on the unpaid 8), B 2 + 2 = 4 -> 100 - 3 - 2 - 16 - 4 = 75; reserve 0 -> target 20:
    deposit 20; residual 55."""
    s0 = closing(reserve_balance=2)
    res1, s1 = close(deal(), s0, report(s0, interest=1))
    assert res1.fee_paid == (3, 0) and res1.reserve_draw == 2
    assert s1.fee_shortfalls == (0, 1) and s1.interest_shortfalls == (8, 2, 0)
    res2, s2 = close(deal(), s1, report(s1, interest=100))
    assert res2.fee_paid == (3, 2) and res2.interest_paid == (16, 4, 0)
    assert s2.fee_shortfalls == (0, 0) and s2.interest_shortfalls == (0, 0, 0)
    assert res2.reserve_deposit == 20 and res2.residual == 55


def test_write_down_reverse_seniority_cure_and_recovery(close):
    """Period 1: defaults 150, interest 20 -> pool 850. Loss 150: E absorbs 100 (its whole balance), B 50.
    Fees 4, interest 10 -> 6; target 850*2% = 17 -> release 3 -> 9; cure min(9, 150) = 9 credited
    senior first (B 50 -> 41) and paid sequentially to A (791).
    Period 2: recoveries 60 (no new defaults): net recoveries credit the PDL senior first: B 41 -> 0, E 100
    -> 81; the 60 are principal -> A 731. Fees 3 + 850*120/120,000 = 0 -> 3; interest A 791*1% = 7,
    B 2 -> 20 - 12 = 8; target 17: no change; cure min(8, 81) = 8 -> E 73, A 723."""
    s0 = closing()
    res1, s1 = close(deal(), s0, report(s0, interest=20, defaults=150))
    assert res1.write_down == (0, 50, 100) and res1.loss_unallocated == 0
    assert res1.pdl_cure_paid == 9 and res1.pdl_cured == (0, 9, 0)
    assert s1.pdl == (0, 41, 100) and s1.class_balances == (791, 100, 100)
    res2, s2 = close(deal(), s1, report(s1, interest=20, recoveries=60))
    assert res2.write_down == (0, 0, 0)
    assert res2.pdl_cured == (0, 41, 27)
    assert res2.principal_paid == (68, 0, 0) and res2.pdl_cure_paid == 8
    assert s2.pdl == (0, 0, 73) and s2.class_balances == (723, 100, 100)
    assert s2.cumulative_defaults == 150 and s2.cumulative_recoveries == 60


def test_loss_beyond_every_class_is_unallocated(close):
    """Classes A 5 / B 0 / E 5 against a pool of 100 (over-collateralised); defaults 100 -> E 5, A 5 written
    down, the other 90 have no class to absorb them: loss_unallocated 90 (no cash involved)."""
    s = closing(class_balances=(5, 0, 5), pool_balance=100, reserve_balance=0)
    res, nxt = close(deal(), s, report(s, defaults=100))
    assert res.write_down == (5, 0, 5) and res.loss_unallocated == 90
    assert nxt.pdl == (5, 0, 5)


def test_repayment_below_pdl_releases_the_excess_debit(close):
    """Pro-rata, A 100 / B 100 (B PDL 80) / E 10, principal 190 < debt 200: A 95, B 95 -> B's balance 5 is
    below its debit 80: the excess 75 is cured (repaid in cash), B's PDL becomes 5."""
    s = closing(class_balances=(100, 100, 10), pdl=(0, 80, 0), pool_balance=300, reserve_balance=0)
    res, nxt = close(deal(wf.PrincipalMode.PRO_RATA), s, report(s, sched=190))
    assert res.principal_paid == (95, 95, 0)
    assert res.pdl_cured == (0, 75, 0) and nxt.pdl == (0, 5, 0)


def test_excess_principal_goes_to_residual_and_reserve_released_at_run_off(close):
    """Pool 100 paid off in full (sched 100, no interest) with classes A 10 / B 0 / E 5.
    Fees 3 + 100*120/120,000 = 0 -> 3, drawn from the reserve (20 -> 17); interest A 10*1% = 0, B 0.
    Pool end 0 -> target 0 -> the reserve's 17 are released into revenue. Principal: A 10, E 5 (equity
    last), 85 no class can take -> residual 85 + 17 = 102. Clean-up call available (pool 0)."""
    s = closing(class_balances=(10, 0, 5), pool_balance=100)
    res, nxt = close(deal(), s, report(s, sched=100))
    assert res.reserve_draw == 3 and res.fee_paid == (3, 0)
    assert res.principal_paid == (10, 0, 5)
    assert res.reserve_target == 0 and res.reserve_release == 17 and nxt.reserve_balance == 0
    assert res.residual == 102
    assert res.clean_up_call_available


def test_coverage_trigger_values(close):
    """Triggers measured on the closing figures of the sequential example (pool 940, A 740, B 100):
    OC 940*10,000/840 = 11,190 bps (< 11,200: breached); IC 20*10,000/(4 + 8 + 2) = 14,285 bps
    (not below 14,285: not breached); delinquency 60+ (d60 5 + d90 5) 10*10,000/940 = 106 bps (not
    above 106: not breached).
    Clean-up: 940 > 10% of 1,000 -> not available."""
    triggers = [
        wf.TriggerParams(wf.TriggerKind.OVERCOLLATERALISATION, 11_200, True, False, True),
        wf.TriggerParams(wf.TriggerKind.INTEREST_COVERAGE, 14_285, False, True, True),
        wf.TriggerParams(wf.TriggerKind.DELINQUENCY_60_PLUS, 106, False, True, True),
    ]
    s = closing()
    res, _ = close(deal(triggers=triggers), s, report(s, interest=20, sched=50, prepay=10, d60=5, d90=5))
    assert res.trigger_values == (11_190, 14_285, 106)
    assert res.triggers_breached == 0b001
    assert not res.clean_up_call_available
