"""A cancelled report of a deal whose dilutions the originator repurchases (the attacker's review): the
originator's repurchase cash the servicing court passed with the report stays with the deal for the report
submitted again (the court pays each repurchase once), instead of going back to the cancelled report's servicer.

Worked out on paper first (T: a report's collections, C: the court's cash in it, P: purchases paid from it, D:
the servicer's deposit = T - P - C):

- cancel: the deal keeps ``kept = min(C, T - P)`` (purchases spend the servicer's deposit first); the depositor
  is owed ``T - P - kept`` (never more than it deposited);
- the report submitted again (T', new court cash c'): ``court = kept + c'``, ``owed = T' - P``; the depositor
  deposits ``owed - court`` or, if ``court > owed`` (smaller collections than the cancelled report's), nothing,
  and the cancelled report's depositor is owed ``court - owed`` (``DepositOverpaid``).

Each step on chain and in :class:`chainabs.model.deal.DealModel`, reconciled to the unit (ledger identity, the
SPV's currency balance, every figure), with every party's net payment checked: a replaced servicer, purchases
spending part of the court's cash, a dilution recorded after the cancel, a smaller report submitted again,
several cancels in a row by different servicers, a cancel with a pending clean-up call."""

from __future__ import annotations

import dataclasses

import pytest

from chainabs.chain import spv as spvlib
from chainabs.chain.orchestration import close as close_deal
from chainabs.chain.revolving import court_of, dilute, sell_into_pool
from chainabs.chain.sender import transact
from chainabs.chain.servicing import service_period
from chainabs.dev.sandbox import (
    books,
    onboarded_pool,
    revolving_offer,
    roll_rate_reports,
    sandbox_deal,
    serve_tape,
    subscribe_all,
    with_revolving_period,
)
from chainabs.model.assets import asset_id
from chainabs.model.servicing import allocate_period, period_report
from plugins.spvtests import assert_reconciled, check_close_events, end_terms, sleep_to_payment_date
from plugins.token import access_denied


@pytest.fixture(scope="module")
def repurchasing(accounts, currency, originator, admin, servicer, investors, tmp_path_factory):
    """The consumer deal revolving for three periods, its dilutions repurchased by the originator, callable
    (clean-up call) at any pool balance so that a call can be pending in the revolving period; closed."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, track_obligors=True)
    spec = with_revolving_period(spec, days=70, dilution="repurchase").model_copy(update={"clean_up_call_bps": 10_000})
    d = sandbox_deal(spec, accounts, currency, registry, pool_id, proj, tmp_path_factory.mktemp("cancel"), tape)
    subscribe_all(d, investors, admin)
    close_deal(d, admin)
    return d


@pytest.fixture
def deal(repurchasing):
    import copy

    return dataclasses.replace(repurchasing, model=copy.deepcopy(repurchasing.model),
                               book=copy.deepcopy(repurchasing.book))


def _check(d, context: str) -> None:
    """Chain == model to the unit (every figure, the ledger, the SPV's currency balance), both ledgers balance."""
    assert_reconciled(d.spv, d.model, context)
    d.model.ledger.check()


def _tape(d, period: int, rows: int, amount: int, wac: float = 0.01):
    """Period ``period``'s tape (interest at ``wac``: little interest, so that dilutions outweigh it) with
    ``amount`` of each of ``rows`` performing receivables prepaid (as a credit note repurchased will be).
    Returns (tape, the asset ids of those rows)."""
    book = books(d)
    projected = roll_rate_reports(d, wac=wac, cpr=0.3, months=period)[period - 1]
    tape = allocate_period(book.last, book.rates, projected, period, default_period=book.default_period, seed=book.seed)
    live = tape.index[(tape["status"] == "Performing") & (tape["ending_principal"] > 2 * amount)]
    assert len(live) >= rows, f"{len(live)} receivables above {2 * amount}"
    ids = []
    for i in live[:rows]:
        tape.loc[i, ["prepaid_principal", "ending_principal"]] += [amount, -amount]
        ids.append(asset_id(d.roles["originator"].address, str(tape.loc[i, "loan_id"])))
    return tape, ids


def _dilute(d, aid: int, amount: int, tag: int) -> None:
    """The originator repurchases a credit note of ``amount`` on ``aid`` (paid to the court at once)."""
    principal = int(d.registry.assetInfo(aid)["principal"])
    dilute(d.spv, aid, amount, bytes([tag]) * 32, d.roles["originator"], currency=d.currency)
    d.model.dilute(amount, principal)


def _submit(d, tape, servicer) -> tuple[int, object]:
    """``servicer`` submits ``tape``'s report, given exactly the deposit the model expects (so that its currency
    balance tells what it paid net); the model too. Returns the deposit (chain == model) and the receipt."""
    report = period_report(tape)
    deposit = d.model.submit(report)
    if deposit:
        transact(d.currency.mint, servicer, deposit, sender=d.roles["arranger"])
    served = service_period(d.spv, tape, servicer, state=books(d).registry)
    books(d).registry = served.registry
    assert served.report == report
    assert served.submitted.event("ReportSubmitted")["collections"] == deposit
    return deposit, served.submitted


def _cancel(d) -> tuple[int, object]:
    tx = spvlib.cancel_report(d.spv, d.roles["trustee"])
    collections, price = d.model.cancel_report()
    ev = tx.event("ReportCancelled")
    assert (ev["collections"], ev["cleanUpPrice"]) == (collections, price)
    return collections, tx


def _close(d):
    period = d.model.state.periods_closed + 1
    sleep_to_payment_date(d, period)
    tx = spvlib.close_period(d.spv, d.roles["arranger"], d.model.pending)
    before = d.model.state.triggers_breached
    closed = d.model.close_period()
    check_close_events(d, tx, closed, before)
    _check(d, f"period {period} closed")
    return closed


def _buy(d, budget: int, seed: int) -> int:
    batch = revolving_offer(d, seed, budget, prefix=f"CX{seed}")
    price = int(batch["principal"].sum())
    sell_into_pool(d.registry, d.pool_id, batch, d.roles["originator"])
    d.model.purchase(price)
    books(d).add(batch)
    return price


def _new_servicer(d, account) -> None:
    """The arranger replaces the deal's servicer (SPV role) by ``account``."""
    role = d.spv.SERVICER_ROLE()
    transact(d.spv.revokeRole, role, d.roles["servicer"], sender=d.roles["arranger"])
    transact(d.spv.grantRole, role, account, sender=d.roles["arranger"])


def _withdraw(d, who) -> int:
    owed = int(d.spv.returnable(who))
    if owed:
        assert spvlib.withdraw_returned(d.spv, who) == owed
        d.model.withdraw_returned(owed)
    return owed


def test_a_replaced_servicer_neither_keeps_nor_pays_the_originators_cash(deal, accounts):
    """The attack: the servicer's report takes the court's cash C, the trustee cancels it, the servicer is
    replaced. Before the fix the old servicer was owed C with its own deposit and the new one deposited C again.
    Now the old servicer is owed exactly its deposit, the deal keeps C, the new servicer deposits T - C, and the
    originator paid C once."""
    d = deal
    old, new, court = d.roles["servicer"], accounts[17], court_of(d.spv)
    start = {who: int(d.currency.balanceOf(who)) for who in (old, new)}
    amount = 2_000 * 10**6
    tape, ids = _tape(d, 1, 2, amount)
    originator_before = int(d.currency.balanceOf(d.roles["originator"]))
    for k, aid in enumerate(ids):
        _dilute(d, aid, amount, 0x30 + k)
    c = 2 * amount
    t = period_report(tape).cash_in
    deposit, tx = _submit(d, tape, old)
    assert tx.event("DilutionTaken")["cash"] == c and deposit == t - c
    _check(d, "submitted")
    access_denied(d.spv.cancelReport, sender=accounts[19], role="TRUSTEE_ROLE")
    returned, tx = _cancel(d)
    assert returned == deposit == int(d.spv.returnable(old))  # the servicer's own deposit, not the court's cash
    assert spvlib.read_ledger(d.spv).pending_collections == c == d.model.ledger.pending_collections
    _check(d, "cancelled")
    _new_servicer(d, new)
    deposit2, tx = _submit(d, tape, new)
    assert tx.event("DilutionTaken")["cash"] == 0 and deposit2 == t - c  # the court pays each repurchase once
    assert not tx.events.get("DepositOverpaid")
    _check(d, "submitted again by the new servicer")
    assert _withdraw(d, old) == deposit
    _close(d)
    assert int(d.currency.balanceOf(court)) == 0
    assert originator_before - int(d.currency.balanceOf(d.roles["originator"])) == c
    # the old servicer is square (given its deposit, it holds it again), the new one paid the report's collections
    # less the originator's cash (given it, it holds nothing)
    assert int(d.currency.balanceOf(old)) - start[old] == deposit and int(d.currency.balanceOf(new)) == start[new]


def test_purchases_spending_the_court_cash_a_later_dilution_and_a_smaller_report(deal):
    """The cancelled report's purchases spend its whole deposit and part of the court's cash (kept: what is
    left, nothing owed back); a credit note is repurchased after the cancel in the same period; the report
    submitted again collects less than the cancelled one (which overstated its interest by X), so the deal holds
    more court cash than it needs: the servicer deposits nothing and is owed back what it overpaid, never a
    negative deposit nor a revert; the purchases stay counted and the period closes."""
    d = deal
    servicer = d.roles["servicer"]
    start = int(d.currency.balanceOf(servicer))
    amount = 4_000 * 10**6
    tape, ids = _tape(d, 1, 11, amount, wac=0.0)  # no interest: the court's cash outweighs it
    for k, aid in enumerate(ids[:10]):
        _dilute(d, aid, amount, 0x40 + k)
    c = 10 * amount
    overstated = tape.copy()
    x = 1_500 * 10**6
    overstated.loc[overstated.index[0], "interest_collected"] += x
    t1 = period_report(overstated).cash_in
    deposit, _ = _submit(d, overstated, servicer)
    assert deposit == t1 - c
    first = period_report(overstated)
    budget = deposit + c * 3 // 4
    assert first.scheduled_principal + first.prepayments >= budget, "too little principal to spend the court's cash"
    bought = _buy(d, budget, seed=41)
    assert deposit < bought <= budget  # the whole deposit and part of the court's cash
    _check(d, "purchases")
    returned, _ = _cancel(d)
    kept = t1 - bought
    assert returned == 0 == int(d.spv.returnable(servicer)) and 0 < kept < c
    assert d.model.ledger.pending_collections == kept
    _check(d, "cancelled")
    # the fifth receivable's prepayment in the tape is a credit note, repurchased now (new court cash)
    _dilute(d, ids[10], amount, 0x4A)
    _check(d, "diluted after the cancel")
    t2 = period_report(tape).cash_in
    assert t2 == t1 - x
    deposit2, tx = _submit(d, tape, servicer)
    assert tx.event("DilutionTaken")["cash"] == amount
    overpaid = kept + amount - (t2 - bought)
    ev = tx.event("DepositOverpaid")
    assert (ev["period"], ev["depositor"], ev["amount"]) == (1, servicer.address, overpaid) \
        and overpaid == d.model.overpaid == x + amount > 0
    assert deposit2 == 0 and int(d.spv.returnable(servicer)) == overpaid
    _check(d, "submitted again, smaller")
    _withdraw(d, servicer)
    # the servicer paid its own collections net: the report's less all the court's cash (given its deposit, it
    # holds what it overpaid)
    assert deposit - overpaid == t2 - c - amount and int(d.currency.balanceOf(servicer)) - start == overpaid
    closed = _close(d)
    assert closed.state.pool_balance == period_report(tape).pool_ending_balance + bought


def test_several_cancels_by_different_servicers_and_a_pending_clean_up_call(deal, accounts):
    """Three reports of one period: cancelled plain, cancelled with the originator's clean-up call pending
    (its price owed back to the originator), the third closed; the servicer replaced twice. The court's cash
    stays with the deal throughout; every depositor is owed back exactly what it deposited."""
    d = deal
    a, b = d.roles["servicer"], accounts[16]
    originator = d.roles["originator"]
    start = {who: int(d.currency.balanceOf(who)) for who in (a, b)}
    amount = 3_000 * 10**6
    tape, ids = _tape(d, 1, 1, amount, wac=0.18)
    _dilute(d, ids[0], amount, 0x50)
    t = period_report(tape).cash_in
    paid_a, _ = _submit(d, tape, a)
    assert paid_a == t - amount
    returned, _ = _cancel(d)
    assert returned == paid_a
    _check(d, "first cancel")
    _new_servicer(d, b)
    paid_b, tx = _submit(d, tape, b)
    assert paid_b == t - amount and tx.event("DilutionTaken")["cash"] == 0
    report = d.model.pending
    live, defaulted = spvlib.clean_up_price(d.spv, report)
    transact(d.currency.mint, originator, live + defaulted, sender=d.roles["arranger"])
    spvlib.exercise_clean_up_call(d.spv, originator, report)
    d.model.exercise_clean_up_call(live, defaulted)
    _check(d, "clean-up call pending")
    returned, tx = _cancel(d)
    assert returned == paid_b and tx.event("ReportCancelled")["cleanUpPrice"] == live + defaulted
    assert int(d.spv.returnable(originator)) == live + defaulted
    assert d.model.ledger.pending_collections == amount  # the court's cash, still the deal's
    _check(d, "second cancel")
    d.roles = {**d.roles, "servicer": b}
    _new_servicer(d, a)
    paid_again, _ = _submit(d, tape, a)
    assert paid_again == t - amount
    for who in (a, b, originator):
        _withdraw(d, who)
    _check(d, "deposits withdrawn")
    _close(d)
    # each depositor holds again what a cancel owed it; the report closed was paid by the last servicer alone
    assert int(d.currency.balanceOf(a)) - start[a] == paid_a and int(d.currency.balanceOf(b)) - start[b] == paid_b


def test_the_kept_court_cash_is_not_stranded_when_the_trustee_ends_the_deal(deal):
    """A cancelled report's court cash, and a loan bought back before it (held for the report, moved back by the
    cancel), wait for a report that never comes: the trustee ends the deal at legal final, and both, with the
    reserve, pay the notes' unpaid principal senior first (the rest would go to the equity class,
    ``DealEnded.releasedToEquity``), nothing left in the SPV's books. (The buy-back comes before the report: after
    a report's registry updates and before the first close, the court cannot prove a loan's balance,
    ``BalanceNotProven``.)"""
    from brownie import chain

    from chainabs.chain import court as courtlib

    d = deal
    amount = 2_500 * 10**6
    last = books(d).last
    loan = str(last.loc[last["status"] == "Performing", "loan_id"].iloc[-1])
    principal = int(d.registry.assetInfo(asset_id(d.roles["originator"].address, loan))["principal"])
    transact(d.currency.mint, d.roles["originator"], 2 * principal, sender=d.roles["arranger"])
    ev = courtlib.buy_back(d.spv, d.roles["originator"], loan).event("LoanBoughtBack")
    bought = d.model.buy_back(int(ev["principal"]), int(ev["interest"]))
    books(d).remove(loan)
    _check(d, "bought back before the report")
    tape, ids = _tape(d, 1, 1, amount, wac=0.18)
    _dilute(d, ids[0], amount, 0x60)
    _submit(d, tape, d.roles["servicer"])
    _cancel(d)
    _withdraw(d, d.roles["servicer"])
    assert d.model.ledger.pending_collections == amount
    _check(d, "cancelled with a buy-back held")
    chain.sleep(max(0, d.times.legal_final - chain.time()) + 3_600)  # a margin: reverted snapshots shift time
    chain.mine()
    terms = end_terms(d)
    assert terms["legal_final"] and terms["periods_outstanding"]
    reserve = d.model.state.reserve_balance
    senior = d.tokens[0]
    before = int(senior.totalPrincipalDistributed())
    unpaid = d.model.state.class_balances[0] - d.model.state.pdl[0]
    assert reserve + amount + bought < unpaid  # the senior class is owed more than all of it
    tx = spvlib.end_deal(d.spv, d.roles["trustee"])
    released, final = d.model.end_deal(**terms, trustee=True)
    ev = tx.event("DealEnded")
    assert (ev["releasedToEquity"], ev["finalWriteDown"]) == (released, final)
    assert released == 0 and tx.event("BuyBackProceedsApplied")["amount"] == bought
    assert int(senior.totalPrincipalDistributed()) - before == reserve + amount + bought
    ledger = spvlib.read_ledger(d.spv)
    assert ledger.pending_collections == 0 == ledger.reserve_balance == ledger.buy_back_proceeds
    _check(d, "ended")


def test_the_model_when_purchases_spend_all_the_court_cash(deal):
    """The model alone (the chain runs the same rule, ``min(C, T - P)``, in the tests above): purchases spend a
    report's whole collections, the court's cash included. The cancel keeps nothing and owes nothing; the report
    submitted again deposits nothing, and with a credit note repurchased after the cancel its new cash exactly
    covers what it adds; the close runs and every ledger balances."""
    import copy

    from chainabs.model.waterfall import PeriodReport

    m = copy.deepcopy(deal.model)
    pool = m.state.pool_balance
    c, c2, scheduled, prepaid = 5_000 * 10**6, 700 * 10**6, 90_000 * 10**6, 10_000 * 10**6
    m.dilute(c, 10 * c)

    def report(extra: int) -> PeriodReport:
        principal = scheduled + prepaid + c + extra
        return PeriodReport(interest_collections=0, scheduled_principal=scheduled, prepayments=prepaid + c + extra,
                            recoveries=0, defaults=0, delinquent_30=0, delinquent_60=0, delinquent_90_plus=0,
                            pool_ending_balance=pool - principal)

    first = report(0)
    assert m.submit(first) == first.cash_in - c
    assert m.purchase(first.cash_in) == 0  # the whole principal, the court's cash included
    assert m.cancel_report() == (0, 0)
    assert (m.ledger.pending_collections, m.ledger.deposits_returnable) == (0, 0)
    m.ledger.check()
    m.dilute(c2, 10 * c2)
    again = report(c2)
    assert m.submit(again) == 0 and m.overpaid == 0
    assert m.ledger.pending_collections == c2 == m.court_cash
    m.ledger.check()
    closed = m.close_period()
    assert closed.state.pool_balance == again.pool_ending_balance + first.cash_in
    m.ledger.check()


def test_a_dilution_repurchased_after_the_last_report_is_not_stranded_in_the_court(deal):
    """The originator pays a repurchased dilution to the court at once; the SPV takes it with the next report.
    When none comes (the trustee ends the deal at legal final), ``endDeal`` takes it from the court itself and,
    with the reserve, pays the notes' unpaid principal senior first; the court keeps nothing of the deal's;
    chain == model."""
    from brownie import chain

    d = deal
    amount = 1_500 * 10**6
    _, ids = _tape(d, 1, 1, amount)
    court = court_of(d.spv)
    held = int(d.currency.balanceOf(court))
    _dilute(d, ids[0], amount, 0x61)
    assert int(d.currency.balanceOf(court)) == held + amount
    chain.sleep(max(0, d.times.legal_final - chain.time()) + 3_600)
    chain.mine()
    terms = end_terms(d)
    reserve = d.model.state.reserve_balance
    senior = d.tokens[0]
    before = int(senior.totalPrincipalDistributed())
    tx = spvlib.end_deal(d.spv, d.roles["trustee"])
    released, final = d.model.end_deal(**terms, trustee=True)
    assert (tx.event("DealEnded")["releasedToEquity"], tx.event("DealEnded")["finalWriteDown"]) == (released, final)
    assert int(tx.event("DilutionTaken")["cash"]) == amount
    assert int(d.currency.balanceOf(court)) == held  # nothing of the deal's left in the court
    assert int(senior.totalPrincipalDistributed()) - before == reserve + amount
    _check(d, "ended with a dilution repurchased after the last report")
