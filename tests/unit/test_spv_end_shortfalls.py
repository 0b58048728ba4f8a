"""The end of the deal applies the cash the deal still holds in the deal's priority (a post-enforcement order):
the fees' carried shortfalls in fee order, then each note class, senior first, its carried interest shortfall and
then its unpaid principal; the rest to the equity class. Before, that cash paid the notes' principal only and the
equity class, ahead of the carried shortfalls, which were never paid.

The deal: the sample consumer deal whose interest stops (the reserve pays the fees and the senior interest until it
is empty; the mezzanine's interest is never covered), then a period whose prepayments repay every note with no
interest at all: the fees, the senior and the mezzanine carry shortfalls, the notes are repaid, the equity class
still holds the rest of the pool. The servicer stops reporting; loans bought back after the last report bring the
only cash (a fee shortfall empties the reserve, so at the end it is the buy-backs, or the court's cash in a
revolving deal, that pay the shortfalls). The trustee ends the deal at legal final. Chain == model to the unit,
every unit accounted for."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chainabs.chain import court as courtlib
from chainabs.chain import spv as spvlib
from chainabs.chain.connection import advance_to
from chainabs.chain.sender import transact
from chainabs.dev.sandbox import books, roll_rate_reports
from chainabs.model import servicing as sv
from chainabs.model.deal import DealModelError
from plugins.spvtests import assert_reconciled, end_settlements, expect_model_error, fund, run_period

def _fees_due(d) -> int:
    """What the fees accrue in the next period (the carried shortfalls not included)."""
    p, s = d.model.params, d.model.state
    return sum(f.fixed_amount + s.pool_balance * f.pool_bps * p.period_months // 120_000 for f in p.fees)


@pytest.fixture(scope="module")
def carried(closed, stranger):
    """The closed deal of this module with the shortfalls carried (:func:`_shortfalls`), once for the module."""
    _shortfalls(closed, stranger)
    return closed


@pytest.fixture
def deal(carried):
    """The deal with its shortfalls and a model copy this test may advance (the chain is reverted after each
    test)."""
    import copy
    import dataclasses

    return dataclasses.replace(carried, model=copy.deepcopy(carried.model), book=copy.deepcopy(carried.book))


def _shortfalls(d, stranger) -> None:
    """Periods without interest until the reserve cannot pay the next fees, then one without interest whose
    prepayments repay every note: the fees, the senior and the mezzanine carry shortfalls."""
    reports = roll_rate_reports(d, months=6)
    k = 0
    while d.model.state.reserve_balance >= _fees_due(d):
        run_period(d, replace(reports[k], interest_collections=0), stranger)
        k += 1
        assert k < 5, "the reserve does not run out"
    s = d.model.state
    notes = sum(s.class_balances[:-1])
    report = replace(reports[k], interest_collections=0)
    # prepayments: every note's balance and a margin (the loan-level allocation realises the projection loan by loan)
    extra = notes + notes // 20 - report.scheduled_principal - report.prepayments
    ending = report.pool_ending_balance - extra
    assert ending > 0
    report = replace(report, prepayments=report.prepayments + extra, pool_ending_balance=ending, delinquent_30=0,
                     delinquent_60=0, delinquent_90_plus=0)
    run_period(d, report, stranger)
    s = d.model.state
    assert sum(s.class_balances[:-1]) == 0 and s.reserve_balance == 0, s
    assert sum(s.fee_shortfalls) > 0 and s.interest_shortfalls[0] > 0 and s.interest_shortfalls[1] > 0, s


def _buy_backs_for(d, low: int, high: int) -> int:
    """The originator buys back performing loans after the last report (at their balance in its committed tape)
    for a price in [low, high): the largest loans first, each taken if it keeps the total below ``high``; chain
    and model. Returns the total price."""
    originator = d.roles["originator"]
    tape = books(d).last
    last = sv.commit_tape(tape, originator.address, d.model.state.periods_closed)
    performing = tape.loc[tape["status"] == "Performing"].sort_values("ending_principal", ascending=False)
    fund(d, originator, 2 * high)
    total = 0
    for loan, principal in zip(performing["loan_id"].astype(str), performing["ending_principal"].astype(int)):
        # the price is the principal and the interest accrued since the last payment date (well below 5 % of it)
        if total >= low or total + principal * 105 // 100 >= high:
            continue
        ev = courtlib.buy_back(d.spv, originator, loan, last).event("LoanBoughtBack")
        assert int(ev["principal"]) == principal
        d.model.buy_back(principal, int(ev["interest"]))
        total += principal + int(ev["interest"])
    assert low <= total < high, (low, total, high)
    return total


def _end(d, trustee, stranger, refused: tuple[int, ...] = ()):
    """The trustee ends the deal at legal final (a stranger may not: a period due is still open); chain and
    model (``refused``: classes whose token the currency blocks), the settlement events checked against the
    model's."""
    advance_to(d.times.legal_final)
    error = pytest.raises(DealModelError, d.model.end_deal, legal_final=True, periods_outstanding=True).value
    expect_model_error(error, d.spv.endDeal, sender=stranger)
    tx = spvlib.end_deal(d.spv, trustee)
    released, final = d.model.end_deal(legal_final=True, periods_outstanding=True, trustee=True, refused=refused)
    ended = tx.event("DealEnded")
    assert (int(ended["releasedToEquity"]), int(ended["finalWriteDown"])) == (released, final)
    assert end_settlements(tx) == d.model.end_settlements
    assert_reconciled(d.spv, d.model, "ended")
    return tx, released


def _all_withdrawn(d, stranger) -> None:
    """What the SPV still holds is exactly what its fee recipients can withdraw: after they do, nothing."""
    currency = d.currency
    owed = [int(d.spv.feeOwed(k)) for k in range(len(d.model.fees_paid))]
    led = spvlib.read_ledger(d.spv)
    assert int(currency.balanceOf(d.spv)) == sum(owed) == led.fees_owed
    assert led.held_for_classes == led.deposits_returnable == led.reserve_balance == led.pending_collections == 0
    for k, amount in enumerate(owed):
        if amount:
            transact(d.spv.withdrawFees, k, sender=stranger)
            d.model.withdraw_fees(k)
    assert int(currency.balanceOf(d.spv)) == 0
    assert_reconciled(d.spv, d.model, "fees withdrawn")


def test_cash_enough_for_every_shortfall_pays_them_all_before_the_equity(deal, trustee, stranger):
    d = deal
    s = d.model.state
    fees, senior, mezz = sum(s.fee_shortfalls), s.interest_shortfalls[0], s.interest_shortfalls[1]
    due = fees + senior + mezz
    interest_before = [int(t.totalInterestDistributed()) for t in d.tokens]
    owed_before = [int(d.spv.feeOwed(k)) for k in range(len(s.fee_shortfalls))]
    cash = _buy_backs_for(d, due + 1, due * 4)
    tx, released = _end(d, trustee, stranger)
    # every shortfall paid and cleared, on the SPV and on the tokens; the rest to the equity class
    assert released == cash - due > 0
    assert d.model.end_settlements == [
        *(("FeeShortfallSettled", k, v, 0) for k, v in enumerate(s.fee_shortfalls) if v),
        ("InterestShortfallSettled", 0, senior, 0), ("InterestShortfallSettled", 1, mezz, 0)]
    after = spvlib.read_state(d.spv)
    assert sum(after.fee_shortfalls) == sum(after.interest_shortfalls) == 0
    assert [int(t.interestShortfall()) for t in d.tokens] == [0, 0, 0]
    paid = [int(t.totalInterestDistributed()) - b for t, b in zip(d.tokens, interest_before, strict=True)]
    assert paid == [senior, mezz, released]
    assert [int(d.spv.feeOwed(k)) - b for k, b in enumerate(owed_before)] == list(s.fee_shortfalls)
    assert all(t.isSettled() for t in d.tokens)
    _all_withdrawn(d, stranger)


def test_cash_for_part_pays_the_fees_first_then_the_senior_interest(deal, trustee, stranger):
    """Also: the senior token cannot receive (the currency blocks it): its part is held for it, as a close's,
    and counts as paid; the class is settled once it is released."""
    d = deal
    s = d.model.state
    fees, senior, mezz = sum(s.fee_shortfalls), s.interest_shortfalls[0], s.interest_shortfalls[1]
    cash = _buy_backs_for(d, fees + 1, fees + senior)
    arranger = d.roles["arranger"]
    transact(d.currency.setBlocked, d.tokens[0], True, sender=arranger)
    tx, released = _end(d, trustee, stranger, refused=(0,))
    part = cash - fees
    assert released == 0
    assert d.model.end_settlements == [
        *(("FeeShortfallSettled", k, v, 0) for k, v in enumerate(s.fee_shortfalls) if v),
        ("InterestShortfallSettled", 0, part, senior - part), ("InterestShortfallSettled", 1, 0, mezz)]
    held = tx.event("ClassPaymentHeld")
    assert (int(held["classIndex"]), int(held["interest"]), int(held["principal"])) == (0, part, 0)
    # what is not paid is lost with the deal and stays as the record: the SPV's books and the tokens
    after = spvlib.read_state(d.spv)
    assert (after.fee_shortfalls, after.interest_shortfalls) == ((0,) * len(s.fee_shortfalls), (senior - part, mezz, 0))
    assert [int(t.interestShortfall()) for t in d.tokens] == [senior - part, mezz, 0]
    assert [bool(t.isSettled()) for t in d.tokens] == [False, True, True]
    transact(d.currency.setBlocked, d.tokens[0], False, sender=arranger)
    transact(d.spv.releaseHeld, 0, sender=stranger)
    assert d.model.release_held(0) == (part, 0)
    assert d.tokens[0].isSettled()
    assert_reconciled(d.spv, d.model, "held interest released")
    _all_withdrawn(d, stranger)


def test_cash_for_part_of_the_fees_pays_them_in_fee_order(deal, trustee, stranger):
    d = deal
    s = d.model.state
    fees, senior, mezz = sum(s.fee_shortfalls), s.interest_shortfalls[0], s.interest_shortfalls[1]
    cash = _buy_backs_for(d, 1, fees)
    _end(d, trustee, stranger)
    expected, left = [], cash
    for k, due in enumerate(s.fee_shortfalls):
        if due:
            paid = min(left, due)
            left -= paid
            expected.append(("FeeShortfallSettled", k, paid, due - paid))
    assert d.model.end_settlements == [*expected, ("InterestShortfallSettled", 0, 0, senior),
                                       ("InterestShortfallSettled", 1, 0, mezz)]
    assert spvlib.read_state(d.spv).fee_shortfalls == tuple(e[3] if e[2] + e[3] else 0 for e in
                                                            _by_fee(expected, len(s.fee_shortfalls)))
    assert [int(t.interestShortfall()) for t in d.tokens] == [senior, mezz, 0]
    _all_withdrawn(d, stranger)


def _by_fee(settled: list[tuple[str, int, int, int]], fees: int) -> list[tuple[str, int, int, int]]:
    """The settlements per fee index (a fee without a shortfall: zeros)."""
    by = {e[1]: e for e in settled}
    return [by.get(k, ("FeeShortfallSettled", k, 0, 0)) for k in range(fees)]
