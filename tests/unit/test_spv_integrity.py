"""Deal integrity at the SPV: each finding of the attacker's review, reproduced and shown fixed. No holder,
operator, controller, blocked recipient or wrong report can freeze, drain or strand a deal."""

from __future__ import annotations

from dataclasses import replace

from brownie import chain, web3
from eth_abi import decode as abi_decode

from chainabs.chain import spv as spvlib
from chainabs.chain import tokens as tokenlib
from chainabs.chain.contracts import LOCKED
from chainabs.model.deal import DealModelError, Phase, TermsRule, add_months
from chainabs.dev.sandbox import books, roll_rate_reports, serve_tape, subscribe_all
from chainabs.model import servicing as sv
from chainabs.model.waterfall import PeriodReport
from plugins.spvtests import assert_reconciled, close, fund, run_period, submit
from plugins.token import access_denied, assert_error, b32, blocked

DAY = 86_400


def _books_in_sync(d) -> None:
    """Every class: the token's principal and write-down equal the SPV's book (plus what is held for it)."""
    state = spvlib.read_state(d.spv)
    for i, token in enumerate(d.tokens):
        held_principal = int(d.spv.heldForClass(i)[1])
        assert token.currentPrincipal() == state.class_balances[i] - state.pdl[i] + held_principal, i
        assert token.cumulativeWriteDown() == state.pdl[i], i


# ------------------------------------------------------------------------------------------ finding 1


def test_a_one_unit_redemption_can_no_longer_freeze_the_deal(deal, investors, originator, trustee, stranger):
    """Before: any holder's redeem(1) left the token's principal below the SPV's class book, and the next
    principal payment reverted in every close for ever. Now every redemption path is refused while the deal
    owes principal, and the deal closes its periods."""
    d = deal
    senior, equity = d.tokens[0], d.tokens[-1]
    blocked(senior.redeem, 1, b"", sender=investors[0], frm=investors[0], to=None, code=0x55, reason="PRINCIPAL_OWED")
    blocked(equity.redeemByPartition, LOCKED, equity.balanceOf(originator), b"", sender=originator,
            frm=originator, to=None, code=0x55, reason="PRINCIPAL_OWED")  # a whole class: no NoTokensOutstanding
    equity.grantRole(equity.CONTROLLER_ROLE(), trustee, {"from": d.roles["arranger"]})
    blocked(equity.controllerRedeem, originator, 1, b"", b"", sender=trustee, frm=originator, to=None, code=0x55,
            reason="PRINCIPAL_OWED")
    for report in roll_rate_reports(d, months=3):
        run_period(d, report, stranger)
        _books_in_sync(d)
    assert_reconciled(d.spv, d.model, "after three periods")


def test_issuance_closes_at_closing(deal, admin):
    """Finding 6: issuance stayed open between closing and the first distribution."""
    d = deal
    assert not any(t.isIssuable() for t in d.tokens)
    for t in d.tokens:
        assert_error(t.issue, admin, 1, b"", sender=admin, error="NotDeal(address,address)")


# ------------------------------------------------------------------------------------------ finding 4


def test_a_fake_default_cannot_be_reported_so_the_pool_cannot_be_called_cheap(deal, servicer):
    """Before: a servicer reporting a fake 90 % default let the originator buy a performing pool for 10 % of
    par. Now a report's defaults must equal the loan-level defaults recorded in the registry: a tape that marks
    loans defaulted without the registry agreeing is refused, naming the figure; the clean-up call is priced
    from the accepted report and the registry's claims."""
    d = deal
    pool = d.model.state.pool_balance
    fake = sv.allocate_period(books(d).last, books(d).rates, PeriodReport(0, 0, 0, 0, pool * 91 // 100, 0, 0, 0, 0), 1)
    committed = sv.commit_tape(fake, d.roles["originator"].address, 1)
    report = committed.report
    assert report.defaults >= pool * 90 // 100 and report.pool_ending_balance <= d.model.clean_up_level()
    fund(d, servicer, report.cash_in)
    d.currency.approve(d.spv, report.cash_in, {"from": servicer})
    assert_error(d.spv.submitReport, report.as_abi(), committed.commitment, "", sender=servicer,
                 error="ReportDisagrees(uint8,uint256,uint256)",
                 values=(spvlib.REPORT_FIGURES.index("DefaultsOnChain"), report.defaults, 0))
    # The tape's own totals must be the report's: the first figure that differs is named.
    assert_error(d.spv.submitReport, replace(report, defaults=0, pool_ending_balance=pool).as_abi(), committed.commitment,
                 "", sender=servicer, error="ReportDisagrees(uint8,uint256,uint256)",
                 values=(spvlib.REPORT_FIGURES.index("PoolBalance"), pool, report.pool_ending_balance))


# ------------------------------------------------------------------------------------------ finding 6


def test_trustee_cancels_a_pending_report_and_the_deposit_goes_back(deal, servicer, trustee, investors, stranger):
    """Before: a pending report was final, so any revert in its close was permanent. The trustee can now cancel
    it: the collections become returnable to the servicer, the books reopen, the servicer submits again."""
    d = deal
    report = submit(d, roll_rate_reports(d, months=1)[0])
    access_denied(d.spv.cancelReport, sender=stranger, role="TRUSTEE_ROLE")
    tx = spvlib.cancel_report(d.spv, trustee)
    assert tx.event("ReportCancelled")["collections"] == report.cash_in
    assert d.model.cancel_report() == (report.cash_in, 0)
    assert str(d.spv.pendingReportHash()) == "0x" + "00" * 32 and d.spv.returnable(servicer) == report.cash_in
    d.tokens[0].transfer(investors[5], 1, {"from": investors[0]})  # books open again
    assert_reconciled(d.spv, d.model, "after the cancel")
    assert_error(d.spv.withdrawReturned, sender=stranger, error="NothingOwed()")
    before = d.currency.balanceOf(servicer)
    assert spvlib.withdraw_returned(d.spv, servicer) == report.cash_in
    d.model.withdraw_returned(report.cash_in)
    assert d.currency.balanceOf(servicer) == before + report.cash_in
    # The same tape again: the registry already agrees with it, only the report is sent.
    again = serve_tape(d, books(d).last)
    assert again.updates == [] and again.report == report
    d.model.submit(report)
    close(d, stranger)
    assert_reconciled(d.spv, d.model, "after the period, submitted again")


def test_a_token_the_currency_blocks_does_not_stop_the_close(deal, admin, investors, stranger):
    """Before: a class whose token call failed reverted the whole close. A class whose token cannot receive
    (the stablecoin issuer blocked its address) has its payment held by the SPV for it; the other classes are
    paid; once the token can receive again anyone delivers the held payment."""
    d = deal
    mezz = d.tokens[1]
    d.currency.setBlocked(mezz, True, {"from": admin})
    submit(d, roll_rate_reports(d, months=1)[0])
    tx, closed = close(d, stranger)
    ev = tx.event("ClassPaymentHeld")
    held = {k: int(ev[k]) for k in ("classIndex", "interest", "principal")}
    assert held["classIndex"] == 1 and held["interest"] == closed.class_interest[1]
    assert (held["interest"], held["principal"]) == tuple(int(v) for v in d.spv.heldForClass(1))
    assert mezz.distributionCount() == 0 and not mezz.booksClosed()  # nothing delivered, books open again
    assert d.tokens[0].distributionCount() == 1
    ledger = spvlib.read_ledger(d.spv)
    assert ledger.held_for_classes == held["interest"] + held["principal"] and ledger.received == ledger.accounted
    assert d.currency.balanceOf(d.spv) == ledger.held
    _books_in_sync(d)
    assert_error(d.spv.releaseHeld, 1, sender=stranger, error="AccountBlocked(address)")  # still blocked: no change
    d.currency.setBlocked(mezz, False, {"from": admin})
    tx = spvlib.release_held(d.spv, stranger, 1)
    assert int(tx.event("ClassPaymentReleased")["interest"]) == held["interest"]
    assert tuple(int(v) for v in d.spv.heldForClass(1)) == (0, 0) and mezz.distributionCount() == 1
    assert_error(d.spv.releaseHeld, 1, sender=stranger, error="NothingOwed()")
    assert_reconciled(d.spv, d.model, "after the release")
    _books_in_sync(d)


def test_a_release_while_a_report_is_pending_keeps_the_record_date(deal, admin, investors, stranger):
    """Attacker's review (session 29): `releaseHeld`, open to anyone, delivered a held payment while the next report
    was pending, and the token's distribution reopened that class's books between the record date and the payment
    date: a holder of record could sell the coming payment. The release now closes the books again; the holders
    of record at the report receive that period's payment, and the books reopen with it."""
    d = deal
    mezz = d.tokens[1]
    reports = roll_rate_reports(d, months=2)
    d.currency.setBlocked(mezz, True, {"from": admin})
    submit(d, reports[0])
    close(d, stranger)
    held = tuple(int(v) for v in d.spv.heldForClass(1))
    assert sum(held) > 0
    d.currency.setBlocked(mezz, False, {"from": admin})
    submit(d, reports[1])  # the record date of period 2: every class's books close
    holder = next(a for a in investors if mezz.balanceOf(a) > 0)
    buyer = next(a for a in investors if a != holder and mezz.balanceOf(a) == 0)
    tx = spvlib.release_held(d.spv, stranger, 1)
    assert int(tx.event("ClassPaymentReleased")["interest"]) == held[0] and "BooksClosed" in tx.events
    assert mezz.distributionCount() == 1 and mezz.booksClosed() and d.tokens[0].booksClosed()
    assert tuple(int(v) for v in mezz.withdrawableOf(holder)) != (0, 0)  # the held payment reached the holders
    assert mezz.canTransfer(buyer, 1, b"", {"from": holder})[0] == "0x54"
    assert_error(mezz.transfer, buyer, 1, sender=holder, error="TransferBlocked(address,address,bytes1,bytes32)")
    before = int(mezz.withdrawableFundsOf(holder))
    _, closed = close(d, stranger)  # period 2 is paid to the holders of record at its report
    paid = closed.class_interest[1] + closed.result.principal_paid[1]
    assert paid > 0 and not mezz.booksClosed()
    share = paid * int(mezz.balanceOf(holder)) // int(mezz.totalSupply())
    assert share - 1 <= int(mezz.withdrawableFundsOf(holder)) - before <= share + 1
    assert int(mezz.withdrawableFundsOf(buyer)) == 0
    assert_reconciled(d.spv, d.model, "after the release and the next close")
    _books_in_sync(d)


def test_currency_sent_straight_to_the_spv_is_in_no_book(deal, admin, stranger):
    """Finding 6: a gift sent to the SPV broke the documented balance equality. The ledger identity still holds
    and the balance is at least what is held; the gift is never paid out to anyone."""
    d = deal
    d.currency.mint(d.spv, 12_345, {"from": admin})
    run_period(d, roll_rate_reports(d, months=1)[0], stranger)
    ledger = spvlib.read_ledger(d.spv)
    ledger.check()
    assert ledger == d.model.ledger
    assert d.currency.balanceOf(d.spv) == ledger.held + 12_345


def test_early_end_waits_for_recoveries_on_defaulted_loans(deal, stranger):
    """Finding 6: the deal could end as soon as the pool reached zero while recoveries might still come. While
    the SPV owns the pool and the registry carries claims on defaulted loans, an early end is refused."""
    d = deal
    tape = sv.quiet_period(books(d).last, 1)
    claim = int(tape.at[0, "beginning_principal"])
    tape.loc[0, ["status", "defaulted_principal", "days_delinquent"]] = ["Defaulted", claim, 0]
    rest = tape.index[1:]
    tape.loc[rest, "prepaid_principal"] = tape.loc[rest, "beginning_principal"]
    tape.loc[rest, ["ending_principal", "days_delinquent"]] = 0
    tape.loc[rest, "status"] = "Prepaid"
    d.model.submit(serve_tape(d, tape).report)
    close(d, stranger)
    assert d.model.state.pool_balance == 0 and spvlib.defaulted_claims(d.spv) == claim
    assert_error(d.spv.endDeal, sender=stranger, error="RecoveriesOutstanding(uint256)", values=(claim,))
    # The recovery closes: the claim is charged off after collecting a part of it (by the disposal agent).
    tape = sv.quiet_period(books(d).last, 2)
    tape.loc[0, ["status", "ending_principal", "recoveries"]] = ["ChargedOff", 0, claim // 3]
    served = serve_tape(d, tape)
    assert [(u.status, u.recovered, u.recovery) for u in served.updates] == [("ChargedOff", claim // 3, True)]
    d.model.submit(served.report)
    close(d, stranger)
    spvlib.end_deal(d.spv, stranger)
    d.model.end_deal()
    assert d.spv.phase() == Phase.ENDED and all(t.isSettled() for t in d.tokens)
    assert_reconciled(d.spv, d.model, "ended after the recovery")


def test_a_buy_back_after_the_last_report_is_paid_out_when_the_trustee_ends_the_deal(deal, trustee, stranger):
    """A loan bought back after the last report waits for the next report to join the waterfall. When none comes
    (the servicer stopped reporting; the trustee ends the deal at legal final) its price used to stay in the SPV,
    owed to nobody, while the notes were written down. ``endDeal`` now pays it, with the reserve, to the notes as
    principal, senior first (``BuyBackProceedsApplied``), and writes off only the rest; chain == model, nothing
    left over."""
    from chainabs.chain import court as courtlib
    from chainabs.chain.connection import advance_to
    from chainabs.model.assets import asset_id

    d = deal
    originator = d.roles["originator"]
    tape = books(d).last
    loan = str(tape.loc[tape["status"] == "Performing", "loan_id"].iloc[0])
    principal = int(d.registry.assetInfo(asset_id(originator.address, loan))["principal"])
    fund(d, originator, 2 * principal)
    ev = courtlib.buy_back(d.spv, originator, loan).event("LoanBoughtBack")
    paid = int(ev["principal"]) + int(ev["interest"])
    d.model.buy_back(int(ev["principal"]), int(ev["interest"]))
    senior = d.tokens[0]
    before = int(senior.totalPrincipalDistributed())
    # the reserve and the buy-back pay the notes first (the senior class is owed far more than both)
    reserve, unpaid = d.model.state.reserve_balance, d.model.state.class_balances[0] - d.model.state.pdl[0]
    assert paid + reserve < unpaid
    advance_to(d.times.legal_final)
    tx = spvlib.end_deal(d.spv, trustee)
    released, final = d.model.end_deal(legal_final=True, periods_outstanding=True, trustee=True)
    assert tx.event("BuyBackProceedsApplied")["amount"] == paid
    assert (tx.event("DealEnded")["releasedToEquity"], tx.event("DealEnded")["finalWriteDown"]) == (released, final)
    assert int(senior.totalPrincipalDistributed()) - before == paid + reserve and released == 0
    assert spvlib.read_ledger(d.spv).buy_back_proceeds == 0
    assert_reconciled(d.spv, d.model, "ended with a buy-back after the last report")
    led = spvlib.read_ledger(d.spv)
    assert int(d.currency.balanceOf(d.spv)) == led.fees_owed + led.held_for_classes + led.deposits_returnable


def test_record_date_holders_of_the_report_get_the_period(deal, investors, stranger):
    """Finding 6: interest went to whoever held at the close transaction, so anyone could buy just before the
    close and take a full coupon. The report is the record date: transfers wait for the distribution."""
    d = deal
    senior = d.tokens[0]
    seller, buyer = investors[0], investors[9]
    report = roll_rate_reports(d, months=1)[0]
    submit(d, report)
    blocked(senior.transfer, buyer, 1_000, sender=seller, frm=seller, to=buyer, code=0x54, reason="BOOKS_CLOSED")
    assert all(t.booksClosed() for t in d.tokens)
    close(d, stranger)
    assert not any(t.booksClosed() for t in d.tokens)
    senior.transfer(buyer, senior.balanceOf(seller), {"from": seller})
    assert senior.withdrawableFundsOf(buyer) == 0 and senior.withdrawableFundsOf(seller) > 0


def test_payment_dates_follow_the_calendar(deal):
    """Finding 6: payment dates were first + n x 30 days and drifted from the spec's calendar dates."""
    d = deal
    first = int(d.spv.paymentDate(1))
    months = d.model.params.period_months
    for n in range(1, 61):
        assert int(d.spv.paymentDate(n)) == add_months(first, (n - 1) * months)
    assert int(d.spv.paymentDate(13)) - first in (365 * DAY, 366 * DAY)  # a calendar year, not 360 days


def _deploy_revert(SPV, args, sender) -> str:
    """Hex revert data of deploying SPV with constructor ``args`` (an eth_call: nothing is deployed)."""
    try:
        web3.eth.call({"from": str(sender), "data": SPV.deploy.encode_input(*args)})
    except Exception as exc:  # noqa: BLE001 - the revert data is in the exception
        data = getattr(exc, "data", None)
        if data is None and exc.args and isinstance(exc.args[0], dict):
            data = exc.args[0].get("data")
        return str(data)
    raise AssertionError("deployment did not revert")


def _decoded(data: str, signature: str) -> tuple:
    selector = "0x" + bytes(web3.keccak(text=signature))[:4].hex()
    assert data[:10] == selector, (signature, data)
    types = signature[signature.index("(") + 1 : -1].split(",")
    return tuple(abi_decode(types, bytes.fromhex(data[10:])))


def test_constructor_refuses_inconsistent_terms(SPV, TestStablecoin, deal, admin, originator):
    """Finding 6: the constructor did not check each token's currency, zero supply, open issuance, distinctness
    and class sizes. Each rule names itself and the class (or fee) concerned."""
    d = deal
    params = d.model.params.as_abi()
    terms = list(d.spv.terms())
    sizes = list(d.sizes())
    fees = list(d.spv.feeRecipients())
    part = LOCKED
    fresh = [tokenlib.deploy_tranche(name=f"T{i}", symbol=f"T{i}", currency=d.currency, registry=d.identity,
                                     admin=admin, coupon_bps=0, residual_recipient=originator) for i in range(3)]
    toks = [t.address for t in fresh]

    def err(t, s, k, f) -> tuple:
        return _decoded(_deploy_revert(SPV, [t, params, s, k, f, part, admin], admin), "InvalidTerms(uint8,uint256)")

    zero = "0x" + "00" * 20
    assert err(terms, sizes[:-1] + [sizes[-1] + 1], toks, fees) == (TermsRule.POOL_SIZE, 0)
    assert err(terms, sizes, toks[:-1], fees) == (TermsRule.CLASS_COUNT, 3)
    assert err(terms, sizes, toks, fees + [admin.address]) == (TermsRule.FEE_COUNT, len(fees))
    assert err([zero] + terms[1:], sizes, toks, fees) == (TermsRule.ZERO_ADDRESS, 0)
    assert err(terms[:9] + [zero] + terms[10:], sizes, toks, fees) == (TermsRule.ZERO_ADDRESS, 0)  # no servicing court
    assert err(terms[:8] + [terms[4]] + terms[9:], sizes, toks, fees) == (TermsRule.DATES, 0)  # deadline at the first payment
    assert err(terms, sizes, [toks[0], toks[1], toks[1]], fees) == (TermsRule.CLASS_TOKEN, 2)  # duplicate
    assert err(terms, sizes, [toks[0], d.tokens[1].address, toks[2]], fees) == (TermsRule.CLASS_TOKEN, 1)  # used
    other_currency = TestStablecoin.deploy("Other", "OTH", 6, {"from": admin})
    foreign = tokenlib.deploy_tranche(name="F", symbol="F", currency=other_currency, registry=d.identity, admin=admin,
                                      coupon_bps=0, residual_recipient=originator)
    assert err(terms, sizes, [toks[0], toks[1], foreign.address], fees) == (TermsRule.CLASS_TOKEN, 2)
    tiny = [sizes[0] + sizes[1] - 1, 1, sizes[2]]
    assert err(terms, tiny, toks, fees) == (TermsRule.CLASS_SIZE, 1)
    assert err(terms, sizes, toks, [fees[0], zero]) == (TermsRule.FEE_RECIPIENT, 1)
    assert err(terms[:3] + [admin.address] + terms[4:], sizes, toks, fees) == (TermsRule.POOL_ORIGINATOR, terms[2])
    data = _deploy_revert(SPV, [terms[:2] + [terms[2] + 7] + terms[3:], params, sizes, toks, fees, part, admin], admin)
    assert _decoded(data, "UnknownPool(uint256)") == (terms[2] + 7,)
