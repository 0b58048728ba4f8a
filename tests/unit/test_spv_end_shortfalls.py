"""The end of the deal applies the cash the deal still holds in the deal's priority (a post-enforcement order):
the fees' carried shortfalls in fee order, then each note class, senior first, its carried interest shortfall and
then its unpaid principal; the rest to the equity class. Before, that cash paid the notes' principal only and the
equity class, ahead of the carried shortfalls, which were never paid.

The deal: the sample consumer deal whose interest stops (the reserve pays the fees and the senior interest until it
is empty; the mezzanine's interest is never covered), then a period without interest whose prepayments repay all
but about 1 % of each note: the fees, the senior and the mezzanine carry shortfalls and a little principal, the
equity class holds the rest of the pool. The servicer stops reporting; loans bought back after the last report
bring the only cash (a fee shortfall empties the reserve, so at the end it is the buy-backs, or the court's cash
in a revolving deal, that pay the shortfalls). The trustee ends the deal at legal final.

Each case buys back loans for a price that stops in a different place of the order and checks every figure
against the order itself (the buckets, paid one after the other), then chain == model to the unit, and that the
SPV is left holding exactly what its fee recipients withdraw."""

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


def _shortfalls(d, stranger) -> None:
    """Periods without interest until the reserve cannot pay the next fees, then one without interest whose
    prepayments repay all but about 1 % of the notes: the fees, the senior and the mezzanine carry shortfalls."""
    reports = roll_rate_reports(d, months=6)
    k = 0
    while d.model.state.reserve_balance >= _fees_due(d):
        run_period(d, replace(reports[k], interest_collections=0), stranger)
        k += 1
        assert k < 5, "the reserve does not run out"
    notes = sum(d.model.state.class_balances[:-1])
    report = replace(reports[k], interest_collections=0)
    # the prepayments leave about 1 % of the notes (pro-rata: of each); the loan-level allocation realises the
    # projection loan by loan, so the figures are checked after the close
    extra = notes - notes // 100 - report.scheduled_principal - report.prepayments
    report = replace(report, prepayments=report.prepayments + extra, pool_ending_balance=report.pool_ending_balance - extra,
                     delinquent_30=0, delinquent_60=0, delinquent_90_plus=0)
    run_period(d, report, stranger)
    s = d.model.state
    assert s.reserve_balance == 0 and s.class_balances[0] > 0 and s.class_balances[1] > 0, s
    assert sum(s.fee_shortfalls) > 0 and s.interest_shortfalls[0] > 0 and s.interest_shortfalls[1] > 0, s
    assert sum(s.pdl[:-1]) == 0, s


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


def _buckets(d) -> list[tuple[str, int, int]]:
    """The end's order, written out: (what, index, amount due) — each fee's shortfall, then per note class its
    interest shortfall and its unpaid principal."""
    s = d.model.state
    out = [("fee", k, v) for k, v in enumerate(s.fee_shortfalls) if v]
    for i in range(len(s.class_balances) - 1):
        out += [("interest", i, s.interest_shortfalls[i]), ("principal", i, s.class_balances[i] - s.pdl[i])]
    return out


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
    return tx, released, final


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


#: Where the cash runs out: inside the fees, the senior's interest, the senior's principal, the mezzanine's
#: interest, or never (everything paid, the rest to the equity class). The cash is bought back for a price
#: between the buckets before that one and the end of it.
STOPS = {"fees": "fees", "senior interest": 0, "senior principal": 1, "mezzanine interest": 2, "everything": None}


@pytest.mark.parametrize("stop", list(STOPS))
def test_the_end_pays_the_shortfalls_and_principal_in_order(deal, trustee, stranger, stop):
    d = deal
    s = d.model.state
    buckets = _buckets(d)
    fees = sum(1 for b in buckets if b[0] == "fee")
    bounds = [0]
    for _, _, due in buckets:
        bounds.append(bounds[-1] + due)
    if STOPS[stop] is None:
        low, high = bounds[-1] + 1, bounds[-1] * 3
    elif STOPS[stop] == "fees":
        low, high = 1, bounds[fees]
    else:
        j = fees + STOPS[stop]  # the bucket the cash ends in (the note buckets come after the fees')
        low, high = bounds[j] + 1, bounds[j + 1]
    tokens = d.tokens
    interest0 = [int(t.totalInterestDistributed()) for t in tokens]
    principal0 = [int(t.totalPrincipalDistributed()) for t in tokens]
    owed0 = [int(d.spv.feeOwed(k)) for k in range(len(s.fee_shortfalls))]
    equity_unpaid = s.class_balances[-1] - s.pdl[-1]
    cash = _buy_backs_for(d, low, high)
    tx, released, final = _end(d, trustee, stranger)

    # the oracle: the buckets paid one after the other from the cash
    left, paid = cash, []
    for _, _, due in buckets:
        paid.append(min(left, due))
        left -= paid[-1]
    assert released == left and (left > 0) == (STOPS[stop] is None)
    fee_paid = {k: p for (what, k, _), p in zip(buckets, paid, strict=True) if what == "fee"}
    assert [int(d.spv.feeOwed(k)) - owed0[k] for k in range(len(owed0))] == [fee_paid.get(k, 0) for k in range(len(owed0))]
    n = len(tokens)
    got_interest = [int(t.totalInterestDistributed()) - b for t, b in zip(tokens, interest0, strict=True)]
    got_principal = [int(t.totalPrincipalDistributed()) - b for t, b in zip(tokens, principal0, strict=True)]
    want_interest = [p for (what, _, _), p in zip(buckets, paid, strict=True) if what == "interest"] + [released]
    want_principal = [p for (what, _, _), p in zip(buckets, paid, strict=True) if what == "principal"] + [0]
    assert (got_interest, got_principal) == (want_interest, want_principal)
    unpaid_principal = sum(due - p for (what, _, due), p in zip(buckets, paid, strict=True) if what == "principal")
    assert final == unpaid_principal + equity_unpaid
    # a shortfall not paid is lost with the deal and stays as the record: the SPV's books and the class tokens
    lost = {(what, k): due - p for (what, k, due), p in zip(buckets, paid, strict=True)}
    after = spvlib.read_state(d.spv)
    assert after.fee_shortfalls == tuple(lost.get(("fee", k), 0) for k in range(len(owed0)))
    assert after.interest_shortfalls == tuple(lost.get(("interest", i), 0) for i in range(n))
    assert [int(t.interestShortfall()) for t in tokens] == list(after.interest_shortfalls)
    assert d.model.end_settlements == [
        ("FeeShortfallSettled" if what == "fee" else "InterestShortfallSettled", k, p, due - p)
        for (what, k, due), p in zip(buckets, paid, strict=True) if what != "principal"]
    assert after.class_balances == (0,) * n and all(t.isSettled() for t in tokens)
    _all_withdrawn(d, stranger)


def test_interest_for_a_blocked_token_is_held_and_counts_as_paid(deal, trustee, stranger):
    """The senior token cannot receive (the currency blocks it): what the end pays it (its interest shortfall and
    part of its principal) is held for it, as a close's payment is, and counts as paid (its shortfall is cleared);
    the class is settled once it is released."""
    d = deal
    s = d.model.state
    fees, senior = sum(s.fee_shortfalls), s.interest_shortfalls[0]
    unpaid = s.class_balances[0] - s.pdl[0]
    cash = _buy_backs_for(d, fees + senior + 1, fees + senior + unpaid)
    arranger = d.roles["arranger"]
    transact(d.currency.setBlocked, d.tokens[0], True, sender=arranger)
    tx, released, _ = _end(d, trustee, stranger, refused=(0,))
    held = tx.event("ClassPaymentHeld")
    assert (int(held["classIndex"]), int(held["interest"]), int(held["principal"])) == (0, senior, cash - fees - senior)
    assert released == 0 and int(d.tokens[0].interestShortfall()) == 0
    assert [bool(t.isSettled()) for t in d.tokens] == [False, True, True]
    transact(d.currency.setBlocked, d.tokens[0], False, sender=arranger)
    transact(d.spv.releaseHeld, 0, sender=stranger)
    assert d.model.release_held(0) == (senior, cash - fees - senior)
    assert d.tokens[0].isSettled()
    assert_reconciled(d.spv, d.model, "held payment released")
    _all_withdrawn(d, stranger)


def test_the_end_operation_reports_the_shortfalls_settled(deal, trustee):
    """``chainabs end`` (``operations.end``) says what the end paid of the carried shortfalls and what was lost."""
    from chainabs.chain import operations as ops
    from chainabs.chain.connection import connected_web3
    from chainabs.chain.sender import Signer

    d = deal
    s = d.model.state
    fees, senior = sum(s.fee_shortfalls), s.interest_shortfalls[0]
    cash = _buy_backs_for(d, fees + 1, fees + senior)
    advance_to(d.times.legal_final)
    r = ops.end(ops.find_deal(connected_web3(), spv=d.spv.address), Signer.of(trustee))
    released, final = d.model.end_deal(legal_final=True, periods_outstanding=True, trustee=True)
    settled = d.model.end_settlements
    assert sum(e[2] for e in settled) == cash and sum(e[2] + e[3] for e in settled) == sum(s.fee_shortfalls) + sum(
        s.interest_shortfalls)
    assert r == {"period": s.periods_closed, "released_to_equity": released, "final_write_down": final,
                 "legal_final": True, "shortfalls_paid": cash, "shortfalls_lost": sum(e[3] for e in settled)}
    assert_reconciled(d.spv, d.model, "ended by the operation")
