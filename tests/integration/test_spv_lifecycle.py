"""The deal from closing to final payment on chain, equal to the Python model to the unit every period."""

from __future__ import annotations

from dataclasses import replace

import pytest
from brownie import chain

from chainabs.chain.sender import transact
from chainabs.chain import spv as spvlib
from chainabs.dev.sandbox import roll_rate_reports
from chainabs.chain.connection import advance_to
from plugins.spvtests import submit
from plugins.token import assert_error


def _close(d, projected, caller):
    """The servicer's loan-level period for ``projected`` (registry, commitment, report), then the close."""
    report = submit(d, projected)
    period = d.model.state.periods_closed + 1
    advance_to(int(d.spv.paymentDate(period)))
    tx = spvlib.close_period(d.spv, caller, report)
    closed = d.model.close_period()
    assert spvlib.result_of(tx) == closed.result
    return tx, closed


def _assert_reconciled(d):
    table = spvlib.reconcile(d.spv, d.model)
    bad = table[~table["match"]]
    assert bad.empty, bad.to_string()
    spvlib.read_ledger(d.spv).check()


def _withdraw_fees_to_empty(d, caller):
    """After the end only earned fees are left in the SPV; once withdrawn, nothing is."""
    owed = [d.model.fee_owed(k) for k in range(len(d.model.fees_paid))]
    assert d.currency.balanceOf(d.spv) == sum(owed) > 0
    assert spvlib.withdraw_all_fees(d.spv, caller) == [d.model.withdraw_fees(k) for k in range(len(owed))] == owed
    assert d.currency.balanceOf(d.spv) == 0


def test_every_period_equals_the_model_and_investors_claim(deal, investors, stranger):
    d = deal
    reports = roll_rate_reports(d, months=14)
    for report in reports:
        tx, closed = _close(d, report, stranger)  # anyone may close once the payment date has come
        _assert_reconciled(d)
        rows = spvlib.payment_rows(tx, closed)
        assert len(rows) == len(d.tokens) and all(r["match"] for r in rows), rows
    # Investors claim: what they receive is exactly their pro-rata share of what the token received.
    senior = d.tokens[0]
    holder = investors[0]
    before = d.currency.balanceOf(holder)
    claimable = senior.withdrawableFundsOf(holder)
    transact(senior.claim, sender=holder)
    assert d.currency.balanceOf(holder) - before == claimable > 0
    supply = senior.totalSupply()
    exact = d.model.distributed[0] * senior.balanceOf(holder) // supply
    assert exact - 1 <= claimable <= exact


def test_close_checks_the_report_and_the_payment_date(deal, servicer, stranger):
    d = deal
    projected = roll_rate_reports(d, months=1)[0]
    assert_error(d.spv.closePeriod, projected.as_abi(), sender=stranger, error="NoReportPending(uint256)", values=(1,))
    report = submit(d, projected)
    assert_error(d.spv.submitReport, report.as_abi(), spvlib.EMPTY_COMMITMENT, "", sender=servicer,
                 error="ReportPending(uint256)", values=(1,))
    forged = replace(report, interest_collections=report.interest_collections + 1)
    assert_error(d.spv.closePeriod, forged.as_abi(), sender=stranger, error="ReportMismatch(uint256,bytes32,bytes32)")
    due = d.spv.paymentDate(1)
    if chain.time() < due - 5:
        assert_error(d.spv.closePeriod, report.as_abi(), sender=stranger, error="PaymentDateNotReached(uint256,uint256,uint256)")


def test_inconsistent_report_is_refused_before_any_money_moves(deal, servicer):
    d = deal
    report = roll_rate_reports(d, months=1)[0]
    bad = replace(report, pool_ending_balance=report.pool_ending_balance + 1)
    assert_error(d.spv.submitReport, bad.as_abi(), spvlib.EMPTY_COMMITMENT, "", sender=servicer,
                 error="PoolBalanceMismatch(uint256,uint256)")


def test_losses_trip_triggers_and_alerts(deal, stranger):
    d = deal
    reports = roll_rate_reports(d, cpr=0.02, severity=0.9, months=12, current_to_30=0.08)
    breached, alerts = [], []
    for report in reports:
        tx, closed = _close(d, report, stranger)
        breached += [ev["triggerIndex"] for ev in tx.events["TriggerBreached"]] if "TriggerBreached" in tx.events else []
        alerts += list(tx.events["DelinquencyAlert"]) if "DelinquencyAlert" in tx.events else []
    _assert_reconciled(d)
    assert breached, "a 35% CDR must breach the cumulative net loss trigger"
    assert alerts
    assert d.model.state.triggers_breached != 0
    assert d.spv.dealState()[9] == d.model.state.triggers_breached


def test_clean_up_call_then_end_leaves_nothing_in_the_spv(deal, originator, stranger):
    """Loan-level servicing keeps the registry in line with every report; the call is priced from it."""
    d = deal
    reports = roll_rate_reports(d, cpr=0.3, severity=0.5)
    level = d.model.clean_up_level()
    for projected in reports:
        report = submit(d, projected)
        if 0 < report.pool_ending_balance <= level:
            live, defaulted = spvlib.clean_up_price(d.spv, report)
            assert live == report.pool_ending_balance and defaulted == int(d.book.last.loc[
                d.book.last["status"].isin(("Defaulted", "InRecovery", "Repossessed")), "ending_principal"].sum())
            d.currency.mint(originator, live + defaulted, {"from": d.roles["arranger"]})
            tx = spvlib.exercise_clean_up_call(d.spv, originator, report)
            price = d.model.exercise_clean_up_call(live, defaulted)
            assert tx.event("CleanUpCallExercised")["price"] == price == live + defaulted
            assert d.registry.poolOwner(d.pool_id) == d.spv  # until the close books the price
            advance_to(int(d.spv.paymentDate(d.model.state.periods_closed + 1)))
            tx = spvlib.close_period(d.spv, stranger, report)
            assert spvlib.result_of(tx) == d.model.close_period().result
            assert d.registry.poolOwner(d.pool_id) == originator
            break
        advance_to(int(d.spv.paymentDate(d.model.state.periods_closed + 1)))
        assert spvlib.result_of(spvlib.close_period(d.spv, stranger, report)) == d.model.close_period().result
        assert_error(d.spv.exerciseCleanUpCall, report.as_abi(), sender=originator, error="NoReportPending(uint256)")
    else:
        raise AssertionError("the pool never reached the clean-up call level")
    assert d.model.state.pool_balance == 0
    tx = spvlib.end_deal(d.spv, stranger)
    released, final = d.model.end_deal()
    assert tx.event("DealEnded")["releasedToEquity"] == released
    assert tx.event("DealEnded")["finalWriteDown"] == final
    _withdraw_fees_to_empty(d, stranger)
    _assert_reconciled(d)
    assert d.spv.phase() == 2
    assert all(t.isSettled() for t in d.tokens)


def test_legal_final_writes_off_what_is_unpaid(deal, stranger, trustee):
    """Finding 6: anyone could end the deal at legal final ahead of the last report. At legal final anyone may
    end it once every period due by then is closed; before that only the trustee (a servicer that stopped
    reporting cannot keep the deal open)."""
    d = deal
    reports = roll_rate_reports(d, cpr=0.0, severity=1.0, months=6)
    for report in reports:
        _close(d, report, stranger)
    assert_error(d.spv.endDeal, sender=stranger, error="CannotEnd(uint256,uint256,uint256)")
    advance_to(d.times.legal_final)
    next_due = d.spv.paymentDate(7)
    assert next_due <= d.times.legal_final
    assert_error(d.spv.endDeal, sender=stranger, error="PeriodsOutstanding(uint256,uint256)", values=(6, next_due))
    tx = spvlib.end_deal(d.spv, trustee)
    released, final = d.model.end_deal(legal_final=True, periods_outstanding=True, trustee=True)
    assert final > 0 and tx.event("DealEnded")["finalWriteDown"] == final
    _withdraw_fees_to_empty(d, stranger)
    _assert_reconciled(d)


def _called_owing_principal(d, originator, stranger):
    """Heavy losses, then the clean-up call, closed: the pool is the originator's and the notes still owe
    principal. Then the originator gives the pool back to the SPV (the registry lets a pool's owner transfer it):
    the SPV's own record of the sale, not the registry's owner, decides what follows (the second review's
    finding A)."""
    from chainabs.model.waterfall import BPS, PeriodReport

    # a 35% CDR recovering 10% after three months: losses beyond the excess spread and the reserve
    for report in roll_rate_reports(d, cpr=0.02, severity=0.9, months=14, current_to_30=0.25):
        _close(d, report, stranger)
    assert not spvlib.pool_sold(d.spv, d.roles["servicer"]), "a live deal's pool is not sold"
    level = d.model.clean_up_level()
    begin = d.model.state.pool_balance
    assert begin > level > 0
    sched = (begin - level) // 3
    report = submit(d, PeriodReport(begin * 40 // BPS, sched, begin - level - sched, 0, 0, level // 10, 0, 0, level))
    live, defaulted = spvlib.clean_up_price(d.spv, report)
    d.currency.mint(originator, live + defaulted, {"from": d.roles["arranger"]})
    spvlib.exercise_clean_up_call(d.spv, originator, report)
    d.model.exercise_clean_up_call(live, defaulted)
    advance_to(int(d.spv.paymentDate(d.model.state.periods_closed + 1)))
    assert spvlib.result_of(spvlib.close_period(d.spv, stranger, report)) == d.model.close_period().result
    assert d.registry.poolOwner(d.pool_id) == originator and d.model.pool_sold
    debt = sum(d.model.state.class_balances[:-1])
    assert d.model.state.pool_balance == 0 and debt > 0, "the call must leave principal unpaid for this test"


def _end_by_a_stranger(d, stranger, legal_final: bool):
    tx = spvlib.end_deal(d.spv, stranger)
    released, final = d.model.end_deal(legal_final=legal_final, periods_outstanding=legal_final)
    event = tx.event("DealEnded")
    assert (event["releasedToEquity"], event["finalWriteDown"], event["legalFinal"]) == (released, final, legal_final)
    assert all(int(t.currentPrincipal()) == 0 for t in d.tokens[:-1])  # paid or written off: nothing left open
    _withdraw_fees_to_empty(d, stranger)
    _assert_reconciled(d)
    assert d.spv.phase() == 2 and all(t.isSettled() for t in d.tokens)


def test_a_called_deal_that_still_owes_principal_ends_at_once(deal, originator, stranger):
    """Its close gave the pool to the originator with principal still owed to the notes, and nothing more can
    come in: a report on the sold pool is refused, even after the originator gives the pool back. Anyone may end
    the deal at once, before legal final: the cash the deal still holds pays in the end's priority, what stays
    unpaid is written off, every tranche is settled. (Before, the end was refused with CannotEnd until legal
    final, and then only the trustee could end it: the notes stayed open and unsettled, and the cash the deal
    held stayed in it, for the rest of the deal's legal life.) The same deal past legal final, whose periods can
    never close, is ended by anyone too, not only the trustee."""
    import copy
    from pathlib import Path

    from brownie import web3

    from chainabs.apps import servicing
    from chainabs.model.servicing import ServicingError

    d = deal
    _called_owing_principal(d, originator, stranger)
    # The servicer cannot keep the deal open with reports on the sold pool (the attacker review's finding 3),
    # nor once the originator has given the pool back (the SPV keeps its own record of the sale); `chainabs service`
    # says so before it sends anything, both times.
    for _ in range(2):
        assert spvlib.pool_sold(d.spv, d.roles["servicer"])
        with pytest.raises(ServicingError, match=f"pool {d.pool_id} was sold by the clean-up call .* anyone may end "
                                                 r"the deal now \(chainabs end\)"):
            servicing.service(d.spv.address, Path("no-tape-is-read.csv"))  # chainabs service: nothing to service
        assert_error(d.spv.submitReport, (0,) * 9, spvlib.EMPTY_COMMITMENT, "", sender=d.roles["servicer"],
                     error="PoolSold(uint256,address)", values=(d.pool_id, originator))
        if d.registry.poolOwner(d.pool_id) == originator:
            transact(d.registry.transferPool, d.pool_id, d.spv.address, sender=originator)
    assert d.registry.poolOwner(d.pool_id) == d.spv
    assert chain.time() < d.times.legal_final
    sold = web3.provider.make_request("evm_snapshot", [])["result"]
    model = copy.deepcopy(d.model)
    _end_by_a_stranger(d, stranger, legal_final=False)
    # The same sold deal, left until past legal final with periods outstanding.
    assert web3.provider.make_request("evm_revert", [sold])["result"]
    d.model = model
    advance_to(d.times.legal_final + 86_400)
    closed = d.model.state.periods_closed
    assert int(d.spv.paymentDate(closed + 1)) <= d.times.legal_final, "periods must be outstanding for this test"
    _end_by_a_stranger(d, stranger, legal_final=True)
