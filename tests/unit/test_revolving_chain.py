"""Revolving purchases on chain (issue 18): during the revolving period the originator sells new receivables
into the deal's sold pool (``AssetRegistry.sellIntoPool``) while a period's report is pending, the SPV pays them
at par from that report's principal collections in the same transaction, and the close nets them out of the
principal paid to the notes. Every close is checked against :class:`chainabs.model.deal.DealModel` to the unit
(waterfall result, events, ledger, tranche books, the SPV's currency balance), and the netting against
:mod:`chainabs.model.revolving`'s. Refusals: a stranger, no report pending, above the unspent principal, after
the revolving period, an obligor or region limit of the live pool broken. Dilutions recorded by the servicing
court: as a loss counted in the report's defaults, as a repurchase paid by the originator and counted in its
prepayments, and the dilution early-amortization test."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainabs.chain import spv as spvlib
from chainabs.chain.orchestration import close as close_deal
from chainabs.chain.registry import asset_history, replay_history
from chainabs.chain.revolving import sell_into_pool
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
from chainabs.model import terms
from chainabs.model.assets import asset_id
from chainabs.model.deal import DealModel, DealModelError
from chainabs.model.revolving import LivePool, Receivable, RevolvingDeal, RevolvingTerms
from chainabs.model.tape import onboarding_order, pack_records
from chainabs.model.waterfall import PeriodReport
from plugins.registry import log_range_cap
from plugins.spvtests import assert_reconciled, check_close_events, sleep_to_payment_date, submit
from plugins.token import assert_error

REVOLVING_PERIODS = 3
#: Early amortization: 60+ days delinquent principal above 0.50% of the pool ends the revolving period.
DELINQUENCY_LIMIT_BPS = 50
#: Early amortization: an annualised excess spread below 2.00% of the pool ends it.
EXCESS_SPREAD_LIMIT_BPS = 200


@pytest.fixture(scope="module")
def revolving(accounts, currency, originator, admin, servicer, investors, tmp_path_factory):
    """The consumer deal with a three-period revolving period and two early-amortization tests (60+
    delinquency, excess spread), closed (subscribed, pool bought)."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, track_obligors=True)
    spec = with_revolving_period(spec, days=70, delinquency_limit_bps=DELINQUENCY_LIMIT_BPS,
                                 excess_spread_limit_bps=EXCESS_SPREAD_LIMIT_BPS)
    assert terms.last_revolving_period(spec) == REVOLVING_PERIODS
    d = sandbox_deal(spec, accounts, currency, registry, pool_id, proj, tmp_path_factory.mktemp("rv"), tape)
    subscribe_all(d, investors, admin)
    close_deal(d, admin)
    return d


@pytest.fixture
def deal(revolving):
    import copy

    return dataclasses.replace(revolving, model=copy.deepcopy(revolving.model), book=copy.deepcopy(revolving.book))


def _projected(d, period: int, cpr: float, late: float = 0.0, wac: float = 0.18) -> PeriodReport:
    """Period ``period``'s projected report: prepayment speed ``cpr``, ``late`` of current loans going 30 days
    late each month (then rolling on), interest at ``wac``."""
    return roll_rate_reports(d, wac=wac, cpr=cpr, current_to_30=late, months=period)[period - 1]


def _buy(d, batch: pd.DataFrame):
    """Sell ``batch`` into the pool on chain and in the model; the books take the receivables."""
    price = int(batch["principal"].sum())
    before = int(d.currency.balanceOf(d.roles["originator"]))
    held = int(d.registry.balanceOf(d.spv))
    tx = sell_into_pool(d.registry, d.pool_id, batch, d.roles["originator"])
    unspent = d.model.purchase(price)
    ev = tx.event("ReceivablesPurchased")
    assert (ev["count"], ev["principal"], ev["unspent"]) == (len(batch), price, unspent)
    sold = tx.event("ReceivablesSold")
    assert (sold["count"], sold["principal"], str(sold["owner"])) == (len(batch), price, d.spv.address)
    assert int(d.currency.balanceOf(d.roles["originator"])) - before == price
    # the certificates are the deal's
    assert int(d.registry.balanceOf(d.spv)) == held + len(batch)
    first = asset_id(d.roles["originator"].address, str(batch["loan_id"].iloc[0]))
    assert str(d.registry.ownerOf(first)) == d.spv.address
    replayed = replay_history(asset_history(d.registry, first))  # events and calldata alone say the same
    assert (replayed["owner"], replayed["pool_id"]) == (d.spv.address, d.pool_id)
    books(d).add(batch)
    return tx


def _close(d):
    period = d.model.state.periods_closed + 1
    sleep_to_payment_date(d, period)
    report = d.model.pending
    tx = spvlib.close_period(d.spv, d.roles["arranger"], report)
    before = d.model.state.triggers_breached
    closed = d.model.close_period()
    check_close_events(d, tx, closed, before)
    assert_reconciled(d.spv, d.model, f"period {period}")
    return tx, closed


def _run_path(revolving, path, late: float, wac: float = 0.18) -> list[tuple[int, int, int] | None]:
    """Run ``path`` ((cpr, share reinvested in %) per period) on a copy of the deal, on chain and in the model,
    each close reconciled to the unit; the chain is reverted after. Returns, per period, the period after
    which early amortization ended revolving, the test's kind and value (the ``EarlyAmortization`` event seen
    at that period's report, equal to the model's)."""
    from brownie import chain

    import copy

    chain.snapshot()
    ended: list[tuple[int, int, int] | None] = []
    try:
        d = dataclasses.replace(revolving, model=copy.deepcopy(revolving.model), book=copy.deepcopy(revolving.book))
        for period, (cpr, share) in enumerate(path, start=1):
            report = submit(d, _projected(d, period, cpr, late, wac))
            submitted = d.spv.events.get_sequence(from_block=chain.height, event_type="EarlyAmortization")
            seen = None
            if submitted:
                a = submitted[-1]["args"]
                seen = (int(a["period"]), int(a["kind"]), int(a["valueBps"]))
            ended.append(seen)
            model = d.model
            expected = (model.early_amortization, *model.early_amortization_test) \
                if model.early_amortization == period - 1 else None
            assert seen == expected
            principal = report.scheduled_principal + report.prepayments
            batch = revolving_offer(d, 100 * period + share, principal * share // 100, prefix=f"RV{period}x")
            assert len(batch)
            bought = 0
            last = d.model.last_revolving_period
            if period > last:
                # after the revolving period (its end, or early amortization): refused
                assert_error(d.registry.sellIntoPool, d.pool_id, _records(batch.head(1)), sender=d.roles["originator"],
                             error="RevolvingPeriodEnded(uint256,uint256)", values=(period, last))
            else:
                _buy(d, batch)
                bought = int(batch["principal"].sum())
            _, closed = _close(d)
            assert closed.state.pool_balance == report.pool_ending_balance + bought
    finally:
        chain.revert()
    return ended


@settings(max_examples=2, deadline=None, derandomize=True)
@given(path=st.lists(st.tuples(st.sampled_from([0.1, 0.3, 0.6]), st.sampled_from([40, 100])),
                     min_size=REVOLVING_PERIODS + 1, max_size=REVOLVING_PERIODS + 1))
def test_revolving_paths_on_chain_equal_the_model(revolving, path):
    """Random revolving paths (prepayment speed; share of the principal reinvested, in %), no delinquency: every
    close on chain equals the model to the unit, the pool balance includes what was bought, and a purchase
    after the revolving period's last period is refused."""
    assert _run_path(revolving, path, late=0.0) == [None] * len(path)


def test_early_amortization_on_delinquency_ends_revolving_for_good(revolving):
    """Loans going late: period 2's 60+ delinquency exceeds the limit, so revolving ends with period 2 (event
    at period 3's report), period 3's collections cannot buy, and the chain equals the model throughout."""
    ended = _run_path(revolving, [(0.3, 100)] * (REVOLVING_PERIODS + 1), late=0.03)
    assert [e[:2] if e else None for e in ended] == [None, None, (2, 2), None]
    assert ended[2][2] > DELINQUENCY_LIMIT_BPS


def test_early_amortization_on_excess_spread_ends_revolving_for_good(revolving):
    """Interest collected at 3% a year (below the notes' coupons and fees): period 1's excess spread is below
    the limit, so revolving ends with period 1 and the chain equals the model throughout."""
    ended = _run_path(revolving, [(0.3, 100)] * (REVOLVING_PERIODS + 1), late=0.0, wac=0.03)
    assert [e[:2] if e else None for e in ended] == [None, (1, 0), None, None]
    assert ended[1][2] < EXCESS_SPREAD_LIMIT_BPS


def test_a_purchase_nets_out_of_the_notes_principal(deal):
    """Reinvesting the whole principal collected pays no principal to the notes from collections."""
    report = submit(deal, _projected(deal, 1, 0.3))
    principal = report.scheduled_principal + report.prepayments
    batch = revolving_offer(deal, 7, principal, prefix="RVA")
    tx = _buy(deal, batch)
    bought = int(batch["principal"].sum())
    assert principal - bought < int(batch["principal"].max())  # close to all of it
    print(f"revolving purchase: {len(batch)} receivables, {tx.gas_used} gas, {tx.gas_used // len(batch)} per receivable")
    _, closed = _close(deal)
    assert closed.state.pool_balance == report.pool_ending_balance + bought
    # The reports rebuild the purchase from chain data.
    from brownie import web3

    from chainabs.apps.reports import revolving_tables
    from chainabs.chain.read.deal import read_deal

    t = revolving_tables(read_deal(web3.provider.endpoint_uri, deal.spv.address))
    assert t["revolving_purchases"][["period", "receivables", "principal"]].values.tolist() == [[1, len(batch), bought]]
    assert t["revolving_period"][["receivables_bought", "purchased", "diluted"]].values.tolist() == [[len(batch), bought, 0]]
    assert t["dilutions"].empty and t["early_amortization"].empty
    # The sealed root is the cut-off tape's: the receivables sold in later are not in it, and it still verifies
    # (before, `chainabs status` said DOES NOT MATCH once a purchase had joined the leaf chain).
    from chainabs.chain.registry import COMMITMENT_VERIFIED, pool_commitment

    assert pool_commitment(deal.registry, deal.pool_id) == COMMITMENT_VERIFIED


def test_a_cancelled_report_keeps_its_purchases_and_the_period_still_closes(deal):
    """The trustee cancels a report whose collections bought receivables: only the unspent collections are
    returnable, the receivables stay in the pool, the same period's tape (without them: they join the next
    period's) is submitted again, and its close nets them; chain == model throughout."""
    d = deal
    report = submit(d, _projected(d, 1, 0.3))
    tape = books(d).last.copy()
    principal = report.scheduled_principal + report.prepayments
    batch = revolving_offer(d, 13, principal // 2, prefix="RVC")
    _buy(d, batch)
    bought = int(batch["principal"].sum())
    tx = spvlib.cancel_report(d.spv, d.roles["trustee"])
    collections, _ = d.model.cancel_report()
    assert tx.event("ReportCancelled")["collections"] == collections == report.cash_in - bought
    assert_reconciled(d.spv, d.model, "after the cancel")
    again = serve_tape(d, tape)
    assert again.report == report
    # the servicer deposits what the cancelled report's purchases did not already spend
    assert again.submitted.event("ReportSubmitted")["collections"] == d.model.submit(report) == report.cash_in - bought
    _, closed = _close(d)
    assert closed.state.pool_balance == report.pool_ending_balance + bought
    # the next period's tape carries the bought receivables
    report2 = submit(d, _projected(d, 2, 0.3))
    assert report2.pool_ending_balance > 0


def test_no_clean_up_call_into_a_period_that_bought_receivables(deal):
    """A clean-up call priced from the report would leave out the receivables the originator has just sold into
    the pool with the period's collections: its close could never reconcile (the deal frozen) and the
    certificates would go back without their price. The call is refused for that period
    (``CleanUpCallAfterPurchases``), chain and model alike, the period closes, and the call stays open later."""
    from plugins.spvtests import fund, report_ending_at

    d = deal
    originator = d.roles["originator"]
    level = d.model.clean_up_level()
    report = submit(d, report_ending_at(_projected(d, 1, 0.3), level // 2))
    assert 0 < report.pool_ending_balance <= level
    batch = revolving_offer(d, 41, min(report.scheduled_principal + report.prepayments, report.pool_ending_balance),
                            prefix="RVK")
    _buy(d, batch)
    bought = int(batch["principal"].sum())
    live, defaulted = spvlib.clean_up_price(d.spv, report)
    fund(d, originator, live + defaulted)
    from chainabs.chain.sender import transact

    transact(spvlib.currency_of(d.spv).approve, d.spv, live + defaulted, sender=originator)
    assert_error(d.spv.exerciseCleanUpCall, report.as_abi(), sender=originator,
                 error="CleanUpCallAfterPurchases(uint256,uint256)", values=(1, bought))
    with pytest.raises(DealModelError) as refused:
        d.model.exercise_clean_up_call(live, defaulted)
    assert (refused.value.name, refused.value.error_args) == ("CleanUpCallAfterPurchases", (1, bought))
    _, closed = _close(d)
    assert closed.state.pool_balance == report.pool_ending_balance + bought


def _early_amortization_seen(d, since: int) -> list[tuple[int, int, int]]:
    from brownie import chain

    seq = d.spv.events.get_sequence(from_block=since, to_block=chain.height, event_type="EarlyAmortization")
    return [(int(e["args"]["period"]), int(e["args"]["kind"]), int(e["args"]["valueBps"])) for e in seq]


@pytest.mark.parametrize("late, wac", [(0.03, 0.18), (0.0, 0.03)], ids=["delinquency", "excess-spread"])
def test_a_report_submitted_again_keeps_the_early_amortization_verdict(deal, late, wac):
    """The early-amortization tests of period 1 run at period 2's first report. A report submitted again after a
    cancel used to run them again on figures the cancelled submission had replaced with its own: its own 60+
    delinquency ended revolving a period early, and the excess-spread test (its fees and coupons counted as 0)
    disagreed with the model. They now run once per period: the resubmission keeps the first verdict, chain and
    model alike, and records its own figures for period 3's tests."""
    from brownie import chain

    d = deal
    submit(d, _projected(d, 1, 0.3, late=late))
    _close(d)
    start = chain.height
    report = submit(d, _projected(d, 2, 0.3, late=late, wac=wac))
    first = _early_amortization_seen(d, start)
    assert first == [] and d.model.last_revolving_period == REVOLVING_PERIODS  # period 1 passed its tests
    tape = books(d).last.copy()
    spvlib.cancel_report(d.spv, d.roles["trustee"])
    d.model.cancel_report()
    start = chain.height
    assert serve_tape(d, tape).report == report
    d.model.submit(report)
    assert _early_amortization_seen(d, start) == [] and d.model.early_amortization is None
    assert int(d.spv.terms()[10]) == d.model.last_revolving_period == REVOLVING_PERIODS
    _close(d)
    # period 2's own figures (breaching) are judged at period 3's report, chain == model
    start = chain.height
    submit(d, _projected(d, 3, 0.3, late=late, wac=wac))
    seen = _early_amortization_seen(d, start)
    assert seen == [(d.model.early_amortization, *d.model.early_amortization_test)]
    assert seen[0][:2] == (2, 2 if late else 0)


def test_a_report_submitted_again_does_not_rerun_the_early_amortization_tests(deal):
    """Period 2's first report passes period 1's early-amortization tests, but its own 60+ delinquency is above
    the limit. Cancelled and submitted again, it must not be tested on its own figures (before: the SPV and the
    model read the cancelled report's delinquency as period 1's and ended revolving with period 1): revolving goes
    on, the same period's purchases are still paid; chain == model."""
    from brownie import chain

    d = deal
    submit(d, _projected(d, 1, 0.3, late=0.03))
    _close(d)
    report = submit(d, _projected(d, 2, 0.3, late=0.03))
    tape = books(d).last.copy()
    assert (report.delinquent_60 + report.delinquent_90_plus) * 10_000 > DELINQUENCY_LIMIT_BPS * d.model.state.pool_balance
    assert d.model.early_amortization is None
    spvlib.cancel_report(d.spv, d.roles["trustee"])
    d.model.cancel_report()
    height = chain.height
    again = serve_tape(d, tape)
    assert again.submitted.event("ReportSubmitted")["collections"] == d.model.submit(again.report)
    assert not d.spv.events.get_sequence(from_block=height, event_type="EarlyAmortization")
    assert d.model.early_amortization is None and d.model.last_revolving_period == REVOLVING_PERIODS
    _buy(d, revolving_offer(d, 31, (report.scheduled_principal + report.prepayments) // 4, prefix="RVE").head(3))
    assert_reconciled(d.spv, d.model, "submitted again, purchases")


def _records(batch: pd.DataFrame) -> list:
    return pack_records(onboarding_order(batch))


def test_refusals(deal, accounts):
    """A stranger, no report pending, a caller of the SPV's hook other than the registry, a price above the
    principal collected, an obligor or a region over its limit in the live pool: each refused, nothing changed."""
    d = deal
    originator, stranger = d.roles["originator"], accounts[19]
    offer = revolving_offer(d, 9, 10**18, prefix="RVR")
    assert len(offer) > 20
    assert_error(d.registry.sellIntoPool, d.pool_id, _records(offer.head(2)), sender=stranger,
                 error="AccessControlUnauthorizedAccount(address,bytes32)")
    assert_error(d.registry.sellIntoPool, d.pool_id, _records(offer.head(2)), sender=originator,
                 error="NoReportPending(uint256)", values=(1,))
    assert_error(d.spv.onPoolPurchase, d.pool_id, originator, 1, 1, sender=originator,
                 error="NotPoolRegistry(address)", values=(originator.address,))
    report = submit(d, _projected(d, 1, 0.95))  # fast prepayments: enough principal to tip a region over
    unspent = report.scheduled_principal + report.prepayments
    over = offer[offer["principal"].astype("int64").cumsum().shift(fill_value=0) <= unspent]
    price = int(over["principal"].sum())
    assert price > unspent
    assert_error(d.registry.sellIntoPool, d.pool_id, _records(over), sender=originator,
                 error="InsufficientPrincipalCollections(uint256,uint256)", values=(price, unspent))
    # one obligor above max_obligor_bps of the live pool
    total = int(d.registry.poolInfo(d.pool_id)["principal"])
    limit = d.spec.eligibility.concentration.max_obligor_bps
    fits = revolving_offer(d, 11, unspent, prefix="RVO")
    same = fits.assign(obligor=fits["obligor"].iloc[0])
    price = int(same["principal"].sum())
    assert price * 10_000 > (total + price) * limit
    args = assert_error(d.registry.sellIntoPool, d.pool_id, _records(same), sender=originator,
                        error="ConcentrationBreached(uint256,uint8,bytes32,uint256,uint256,uint16)")
    assert args[1] == 2 and args[3] == price and args[4] == total + price and args[5] == limit
    # every receivable in the pool's largest region
    codes, sums = d.registry.concentration(d.pool_id, 0)
    region, held = max(zip(codes, sums), key=lambda cs: cs[1])
    one_region = fits.assign(region=int(region))
    price = int(one_region["principal"].sum())
    region_limit = d.spec.eligibility.concentration.max_region_bps
    assert (held + price) * 10_000 > (total + price) * region_limit, "the test's purchase is too small to breach"
    args = assert_error(d.registry.sellIntoPool, d.pool_id, _records(one_region), sender=originator,
                        error="ConcentrationBreached(uint256,uint8,bytes32,uint256,uint256,uint16)")
    assert args[1] == 0 and int.from_bytes(bytes(args[2]), "big") == region and args[3] == held + price
    assert int(d.registry.poolInfo(d.pool_id)["principal"]) == total  # nothing registered


def test_model_netting_equals_the_revolving_model():
    """``DealModel.net_purchases`` (what the SPV's close does) nets exactly as ``RevolvingDeal.netted_report``."""
    from chainabs.model.waterfall import DealState

    for scheduled, prepaid, bought in [(100, 50, 0), (100, 50, 60), (100, 50, 100), (100, 50, 130), (0, 80, 80)]:
        pool = LivePool()
        pool.add(Receivable(1, 1_000, "a", 1, 1))
        state = DealState(0, 1_000, (1_000,), (0,), (0,), (), 0, 0, 0, 0)
        rd = RevolvingDeal(params=None, terms=RevolvingTerms(1), state=state, pool=pool)
        rd.scheduled, rd.dilution_repurchased, rd.purchased = scheduled, prepaid, bought
        pool.total = 900 + bought
        expected = rd.netted_report(5)
        report = PeriodReport(5, scheduled, prepaid, 0, 0, 0, 0, 0, 900)
        assert DealModel.net_purchases(report, bought) == expected


# ------------------------------------------------------------------------------------------------ dilution


def _tape_with_dilution(d, period: int, projected: PeriodReport, amount: int, column: str):
    """Period ``period``'s loan-level tape from ``projected`` with ``amount`` of one performing receivable that
    stays in the pool diluted (``column``: defaulted_principal for a loss, prepaid_principal for a repurchase).
    Returns (tape, row index, asset id)."""
    from chainabs.model.servicing import allocate_period

    book = books(d)
    tape = allocate_period(book.last, book.rates, projected, period, default_period=book.default_period,
                           seed=book.seed)
    live = tape.index[(tape["status"] == "Performing") & (tape["ending_principal"] > 2 * amount)]
    i = int(live[0])
    tape.loc[i, column] += amount
    tape.loc[i, "ending_principal"] -= amount
    return tape, i, asset_id(d.roles["originator"].address, str(tape.loc[i, "loan_id"]))


def test_a_dilution_as_a_loss_reaches_the_report_defaults(deal, accounts):
    """The servicer records a credit note on a receivable (court, with evidence): the period's report must count
    it in its defaults (a report booking it as collected principal is refused), the close writes it off like a
    default, chain == model. Refusals: a stranger, no evidence, above the receivable, not the pool's, a second
    setting of the terms, a dilution while a report is pending."""
    from chainabs.chain.revolving import court_of, dilute
    from chainabs.chain.sender import TxError
    from chainabs.chain.servicing import service_period

    d = deal
    court, servicer, stranger = court_of(d.spv), d.roles["servicer"], accounts[19]
    assert tuple(court.dilutionTerms(d.spv)) == (True, False, 0)
    amount = 1_000 * 10**6
    projected = _projected(d, 1, 0.3)
    tape, i, aid = _tape_with_dilution(d, 1, projected, amount, "defaulted_principal")
    principal = int(d.registry.assetInfo(aid)["principal"])
    evidence = b"\x01" * 32
    assert_error(court.dilute, d.spv, aid, amount, evidence, sender=stranger,
                 error="NotDealRole(address,address,bytes32)")
    assert_error(court.dilute, d.spv, aid, amount, b"\x00" * 32, sender=servicer, error="MissingEvidence()")
    assert_error(court.dilute, d.spv, aid, principal + 1, evidence, sender=servicer,
                 error="DilutionAboveBalance(uint256,uint256,uint256)", values=(aid, principal + 1, principal))
    assert_error(court.dilute, d.spv, 12345, amount, evidence, sender=servicer, error="NotDilutable(uint256)")
    assert_error(court.setDilutionTerms, d.spv, True, 0, sender=d.roles["arranger"],
                 error="DilutionTermsFixed(address)", values=(d.spv.address,))
    tx = dilute(d.spv, aid, amount, evidence, servicer)
    ev = tx.event("ReceivableDiluted")
    assert (ev["period"], ev["assetId"], ev["amount"], ev["repurchased"]) == (1, aid, amount, False)
    d.model.dilute(amount, principal)
    # Audit 3, M4: bought back in the same period, the receivable would leave no true report possible (its
    # dilution must be in the report's defaults, booked on its own leaf, and it would have left the pool).
    originator = d.roles["originator"]
    none = (0, aid, 0, 0, 0, 0, 0, 0, 0, 0)
    assert_error(court.buyBack, d.spv, none, [], spvlib.EMPTY_COMMITMENT, sender=originator,
                 error="DilutedThisPeriod(uint256,uint256)", values=(aid, 1))
    # the same receivable cannot be diluted beyond its principal within the period
    assert_error(court.dilute, d.spv, aid, principal - amount + 1, evidence, sender=servicer,
                 error="DilutionAboveBalance(uint256,uint256,uint256)", values=(aid, principal + 1, principal))

    # A report that books the credit note as principal collected is refused: its defaults miss the dilution.
    wrong = tape.copy()
    wrong.loc[i, ["scheduled_principal", "defaulted_principal"]] += [amount, -amount]
    from chainabs.chain.sender import transact
    from chainabs.model.servicing import period_report

    period_cash = period_report(wrong).cash_in
    transact(d.currency.mint, servicer, period_cash, sender=d.roles["arranger"])
    with pytest.raises(TxError) as refused:
        service_period(d.spv, wrong, servicer, state=books(d).registry)
    assert refused.value.name == "ReportDisagrees" and tuple(refused.value.error_args)[0] == 10  # DefaultsOnChain
    books(d).adopt(tape)
    served = service_period(d.spv, tape, servicer)  # the registry's state read from chain
    books(d).registry = served.registry
    report = served.report
    assert report.defaults == int(tape["defaulted_principal"].sum()) >= amount
    assert served.submitted.event("ReportSubmitted")["collections"] == d.model.submit(report) == report.cash_in
    assert period_cash == report.cash_in + amount
    assert_error(court.dilute, d.spv, aid, 1, evidence, sender=servicer,
                 error="DilutionNotOpen(address,uint256)", values=(d.spv.address, 1))
    # The tape books the credit note on the receivable's own leaf (as defaulted): nothing to prove.
    from chainabs.chain.court import _leaf, unbooked_dilutions

    leaf, path = _leaf(served.committed, str(tape.loc[i, "loan_id"]))
    assert served.committed.leaf(str(tape.loc[i, "loan_id"])).prepaid < amount  # the loss is not a prepayment
    assert_error(court.challengeDilution, d.spv, served.committed.commitment, leaf, path, sender=accounts[19],
                 error="NothingWrong(uint8)", values=(8,))
    assert unbooked_dilutions(d.spv, served.committed) == []
    _, closed = _close(d)
    # the credit note is written off with the period's defaults (the classes' PDL), and counted in them
    assert sum(closed.result.write_down) + closed.result.loss_unallocated == report.defaults
    assert d.model.state.cumulative_defaults == report.defaults


@pytest.fixture(scope="module")
def diluting(accounts, currency, originator, admin, servicer, investors, tmp_path_factory):
    """The consumer deal revolving for three periods, dilutions repurchased by the originator and an early-
    amortization test on dilution (0.50% of the pool in a period)."""
    from brownie import project

    proj = project.get_loaded_projects()[0]
    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, track_obligors=True)
    spec = with_revolving_period(spec, days=70, dilution="repurchase", dilution_limit_bps=50)
    d = sandbox_deal(spec, accounts, currency, registry, pool_id, proj, tmp_path_factory.mktemp("dil"), tape)
    subscribe_all(d, investors, admin)
    close_deal(d, admin)
    return d


def test_a_repurchased_dilution_the_tape_does_not_book_on_its_receivable_is_proven(diluting, accounts, tmp_path,
                                                                                  capsys):
    """Audit 3, H2: the originator repurchases a credit note X on receivable A (its cash held by the court); the
    servicer, whose debtors prepaid more than X this period, files its debtor tape WITHOUT X on A. The SPV's
    aggregate check passes (prepayments >= prepaid in full + repurchases), the SPV takes X from the court and
    only T - X from the servicer, who would keep X. The court compares A's leaf with the dilution it recorded:
    `chainabs challenge` finds it, anyone proves it (`UnbookedDilution`) and the report cannot close;
    `verify-tape` names the row. A diluted receivable cannot be bought back in its dilution's period (M4)."""
    import copy

    from brownie import web3

    from chainabs.apps import cli
    from chainabs.apps.verify import verify_servicing_tape
    from chainabs.chain import court as courtlib
    from chainabs.chain.revolving import court_of, dilute
    from chainabs.model import servicing as sv
    from chainabs.model.numbers import format_amount

    d = dataclasses.replace(diluting, model=copy.deepcopy(diluting.model), book=copy.deepcopy(diluting.book))
    court, originator, stranger = court_of(d.spv), d.roles["originator"], accounts[19]
    tape = books(d).next_period(roll_rate_reports(d, months=1)[0])
    report = sv.period_report(tape)
    live = tape.index[(tape["status"] == "Performing") & (tape["ending_principal"] > 10_000 * 10**6)]
    i, j = int(live[0]), int(live[1])
    lid = str(tape.at[i, "loan_id"])
    aid = asset_id(originator.address, lid)
    x = 5_000 * 10**6
    assert report.prepayments > x and int(tape.at[i, "prepaid_principal"]) < x
    dilute(d.spv, aid, x, bytes([0xC1]) * 32, originator, currency=d.currency)
    assert tuple(court.assetDilution(d.spv, aid)) == (1, x)
    none = (0, aid, 0, 0, 0, 0, 0, 0, 0, 0)
    assert_error(court.buyBack, d.spv, none, [], spvlib.EMPTY_COMMITMENT, sender=originator,
                 error="DilutedThisPeriod(uint256,uint256)", values=(aid, 1))
    with pytest.raises(sv.ServicingError, match=f"loan {lid} was diluted by {format_amount(x, 6)} in period 1"):
        courtlib.buy_back(d.spv, originator, lid)
    served = serve_tape(d, tape)  # the unchanged debtor tape: accepted by the SPV's aggregate checks
    assert served.submitted.event("DilutionTaken")["cash"] == x
    assert served.submitted.event("ReportSubmitted")["collections"] == report.cash_in - x
    committed = served.committed
    # A leaf with nothing diluted, proven by a stranger: nothing wrong.
    other, other_path = courtlib._leaf(committed, str(tape.at[j, "loan_id"]))
    assert_error(court.challengeDilution, d.spv, committed.commitment, other, other_path, sender=stranger,
                 error="NothingWrong(uint8)", values=(sv.CHALLENGE_KINDS.index("UnbookedDilution"),))
    path = sv.write_servicing_tape(tape, tmp_path / "period-001.csv")
    assert cli.main(["challenge", d.spv.address, str(path)]) == 1
    out = capsys.readouterr().out
    assert f"UnbookedDilution: loan {lid}" in out and format_amount(x, 6) in out
    checked = verify_servicing_tape(web3.provider.endpoint_uri, d.spv.address, 1, tape)
    row = checked[checked["check"] == "dilution"]
    assert row[["loan_id", "field", "chain"]].values.tolist() == [[lid, "prepaid_principal", x]]
    fault = next(f for f in courtlib.unbooked_dilutions(d.spv, committed))
    tx = courtlib.prove(d.spv, committed, fault, stranger)
    ev = tx.event("ChallengeProven")
    assert (ev["kind"], ev["assetId"], ev["challenger"]) == (8, aid, stranger.address)
    assert sv.CHALLENGE_KINDS[8] == "UnbookedDilution"
    print(f"challengeDilution gas {tx.gas_used:,}")
    sleep_to_payment_date(d, 1)
    assert_error(d.spv.closePeriod, report.as_abi(), sender=stranger, error="ReportDisputed(uint256)", values=(1,))


def test_a_repurchased_dilution_is_paid_by_the_originator_and_ends_revolving(diluting, accounts):
    """Dilutions repurchased: the originator pays the diluted amount to the court at once; the court pays it to
    the SPV with the period's report, which counts it in its prepayments (the servicer deposits the rest); above
    0.50% of the pool in a period, early amortization (kind dilution) ends the revolving period at the next
    report and purchases are refused; chain == model to the unit."""
    from chainabs.chain.revolving import court_of, dilute

    d = diluting
    court, originator = court_of(d.spv), d.roles["originator"]
    assert tuple(court.dilutionTerms(d.spv)) == (True, True, 50)
    projected = _projected(d, 1, 0.3)
    pool = d.model.state.pool_balance
    amount = pool * 60 // 10_000 // 4  # four receivables diluted: 0.60% of the pool in all
    tape, i, aid = _tape_with_dilution(d, 1, projected, amount, "prepaid_principal")
    assert_error(court.dilute, d.spv, aid, amount, b"\x02" * 32, sender=d.roles["servicer"],
                 error="NotDealRole(address,address,bytes32)")
    before = int(d.currency.balanceOf(originator))
    rows = [i]
    for k in range(4):
        if k:
            live = tape.index[(tape["status"] == "Performing") & (tape["ending_principal"] > 2 * amount)
                              & ~tape.index.isin(rows)]
            rows.append(int(live[0]))
            tape.loc[rows[-1], ["prepaid_principal", "ending_principal"]] += [amount, -amount]
        row = rows[-1]
        aid = asset_id(originator.address, str(tape.loc[row, "loan_id"]))
        principal = int(d.registry.assetInfo(aid)["principal"])
        tx = dilute(d.spv, aid, amount, bytes([k + 3]) * 32, originator, currency=d.currency)
        assert tx.event("ReceivableDiluted")["repurchased"] is True
        d.model.dilute(amount, principal)
    assert before - int(d.currency.balanceOf(originator)) == 4 * amount == int(d.currency.balanceOf(court))
    served = serve_tape(d, tape)
    report = served.report
    assert served.submitted.event("DilutionTaken")["cash"] == 4 * amount
    from chainabs.chain.court import unbooked_dilutions

    assert unbooked_dilutions(d.spv, served.committed) == []  # each credit note booked on its own receivable
    assert served.submitted.event("ReportSubmitted")["collections"] == d.model.submit(report) \
        == report.cash_in - 4 * amount
    assert int(d.currency.balanceOf(court)) == 0
    _close(d)
    # Period 2's report: period 1 diluted 0.60% > 0.50%: revolving ends with period 1.
    submit(d, _projected(d, 2, 0.3))
    assert d.model.early_amortization == 1 and d.model.early_amortization_test[0] == 1
    seen = d.spv.events.get_sequence(from_block=0, event_type="EarlyAmortization")
    a = seen[-1]["args"]
    assert (int(a["period"]), int(a["kind"]), int(a["valueBps"]), int(a["limitBps"])) \
        == (1, 1, d.model.early_amortization_test[1], 50)
    assert d.model.early_amortization_test[1] == 4 * amount * 10_000 // pool > 50
    batch = revolving_offer(d, 21, 10**12, prefix="RVD")
    assert_error(d.registry.sellIntoPool, d.pool_id, _records(batch.head(1)), sender=originator,
                 error="RevolvingPeriodEnded(uint256,uint256)", values=(2, 1))
    _close(d)
    # The reports rebuild the dilutions and the early amortization from chain data (the court's and the SPV's
    # events).
    from brownie import web3

    from chainabs.apps.reports import revolving_tables
    from chainabs.chain.read.deal import read_deal

    t = revolving_tables(read_deal(web3.provider.endpoint_uri, d.spv.address))
    assert t["dilutions"][["period", "amount", "treatment"]].values.tolist() == [[1, amount, "repurchase"]] * 4
    assert t["early_amortization"][["ended_with_period", "test", "value_bps", "limit_bps"]].values.tolist() \
        == [[1, "dilution", d.model.early_amortization_test[1], 50]]
    assert t["revolving_period"][["period", "diluted"]].values.tolist() == [[1, 4 * amount]]
    assert t["revolving_purchases"].empty


def test_a_false_beginning_of_a_bought_receivable_is_proven_against_its_purchase(deal, accounts, tmp_path, capsys):
    """A receivable bought while period 1's report was pending first appears in period 2's tape: a servicer
    reporting its beginning (and scheduled) principal lower than its purchase principal (identity, ending and
    registry all right) is proven wrong by anyone (``challengePurchase``, found and sent by ``chainabs challenge
    --prove``). False proofs never dispute an honest leaf: another receivable of the batch, a record that is not
    the batch's, another batch's leaves, a cut-off asset passed off as bought, another receivable's record, and
    (period 3) the same receivable, bought in period 1, after it legitimately amortized."""
    from chainabs.apps import cli
    from chainabs.chain import court as courtlib
    from chainabs.chain.servicing import service_period
    from chainabs.model import servicing as sv
    from chainabs.model.tape import to_records
    from plugins.spvtests import fund

    d, stranger = deal, accounts[19]
    originator = d.roles["originator"].address
    court = courtlib.court_of(d.spv)
    report = submit(d, _projected(d, 1, 0.3))
    tape1 = books(d).last.copy()
    principal = report.scheduled_principal + report.prepayments
    first = revolving_offer(d, 31, principal // 4, prefix="RVP")
    _buy(d, first)
    second = revolving_offer(d, 32, principal // 4, prefix="RVQ")
    _buy(d, second)
    bought = courtlib.purchases_in(d.spv, 1)
    assert len(bought) == len(first) + len(second) and courtlib.purchases_in(d.spv, 2) == {}
    _close(d)
    previous = sv.commit_tape(tape1, originator, 1)
    # A receivable bought in period 1 has no leaf in period 1's tape: the originator buys it back at its purchase
    # principal (proven like the purchase); a stranger cannot, nor can anyone at another price or for a loan
    # bought in another period.
    lw = str(second["loan_id"].iloc[-1])
    pw = bought[asset_id(originator, lw)]
    forged = (*pw.as_abi()[:4], tuple(pw.record[:3]) + (pw.principal - 1,) + tuple(pw.record[4:]))
    assert_error(court.buyBackBought, d.spv, forged, sender=d.roles["originator"], error="ProofDoesNotMatch(uint256)",
                 values=(1,))
    assert_error(court.buyBackBought, d.spv, pw.as_abi(), sender=stranger,
                 error="AccessControlUnauthorizedAccount(address,bytes32)")
    tx = courtlib.buy_back(d.spv, d.roles["originator"], lw, previous)
    ev = tx.event("LoanBoughtBack")
    assert (ev["assetId"], ev["principal"]) == (pw.asset_id, pw.principal)
    d.model.buy_back(int(ev["principal"]), int(ev["interest"]))
    books(d).remove(lw)
    assert_error(court.buyBackBought, d.spv, pw.as_abi(), sender=d.roles["originator"],
                 error="BuyBackNotAllowed(uint256)", values=(pw.asset_id,))

    honest = books(d).next_period(_projected(d, 2, 0.3))
    ours = honest.loc[honest["loan_id"].astype(str).isin(first["loan_id"].astype(str)), "scheduled_principal"]
    x, z = ours.astype("int64").nlargest(2).index
    lx, lz = str(honest.at[x, "loan_id"]), str(honest.at[z, "loan_id"])
    delta = int(honest.at[z, "scheduled_principal"]) // 2
    price = first.set_index(first["loan_id"].astype(str))["principal"].astype("int64")
    assert delta > 0 and int(honest.at[x, "beginning_principal"]) == int(price[lx])
    # The servicer keeps delta of x's collections: x begins (and repays) delta less than it was bought at, z
    # begins delta above (its ending too, still below its purchase principal: the registry takes it). The pool's
    # identity, every leaf's identity and every ending against the registry hold; the previous tape has neither.
    false = honest.copy()
    false.loc[x, ["beginning_principal", "scheduled_principal"]] -= delta
    false.loc[z, ["beginning_principal", "ending_principal"]] += delta
    assert int(false.at[z, "ending_principal"]) <= int(price[lz])
    fund(d, d.roles["servicer"], sv.period_report(false).cash_in)
    served = service_period(d.spv, false, d.roles["servicer"], state=books(d).registry)
    d.model.submit(served.report)
    assert served.report.cash_in == sv.period_report(honest).cash_in - delta
    committed = served.committed
    assert courtlib.is_committed(d.spv, previous)
    assert courtlib.audit(d.spv, committed, previous=previous, registrations=False) == []  # blind without
    with log_range_cap(8) as ranges:  # as on a public node: the purchases are read in ranges it serves
        faults = courtlib.audit(d.spv, committed, previous=previous)
    assert len(ranges) > 2
    assert sorted((f.kind, f.loan_id, f.via) for f in faults) == sorted(
        [("Discontinuity", lx, "purchase"), ("Discontinuity", lz, "purchase")])

    def challenge(leaf_id, proof):
        i = committed.index[leaf_id]
        return (court.challengePurchase, d.spv, committed.commitment, committed.tree.leaves[i].as_abi(),
                committed.tree.path_abi(i), proof)

    aid = {str(lid): asset_id(originator, str(lid)) for lid in honest["loan_id"]}
    px = bought[aid[lx]]
    ly = next(str(lid) for lid in first["loan_id"] if str(lid) not in (lx, lz))
    py = bought[aid[ly]]
    pz = bought[aid[str(second["loan_id"].iloc[0])]]
    # Honest leaves and false proofs: each refused, the report stays undisputed.
    assert_error(*challenge(ly, py.as_abi()), sender=stranger, error="NothingWrong(uint8)", values=(5,))
    forged = list(px.record)
    forged[3] = committed.leaf(lx).beginning  # a record claiming the lower purchase principal
    assert_error(*challenge(lx, (*px.as_abi()[:4], tuple(forged))), sender=stranger,
                 error="ProofDoesNotMatch(uint256)", values=(1,))
    assert_error(*challenge(lx, (px.first_index, pz.before, list(px.leaves), px.position, px.record)),
                 sender=stranger, error="ProofDoesNotMatch(uint256)", values=(1,))
    assert_error(*challenge(lx, (pz.first_index, pz.before, list(pz.leaves), 0, px.record)), sender=stranger,
                 error="ProofDoesNotMatch(uint256)", values=(1,))
    assert_error(*challenge(lx, py.as_abi()), sender=stranger, error="NothingWrong(uint8)", values=(5,))
    # Every other alteration of x's true proof (each record field, the leaves' order, count, the position, the
    # chain's start, the batch) reaches no checkpoint or no leaf.
    k = px.position
    other = (k + 1) % len(px.leaves)
    swapped = list(px.leaves)
    swapped[k], swapped[other] = swapped[other], swapped[k]
    altered = [(px.first_index, px.before, swapped, other, px.record),
               (px.first_index, px.before, [v for j, v in enumerate(px.leaves) if j != other],
                k - 1 if other < k else k, px.record),
               (px.first_index, px.before, [*px.leaves, px.leaves[k]], k, px.record),
               (px.first_index, px.before, list(px.leaves), other, px.record),
               (px.first_index, b"\x01" * 32, list(px.leaves), k, px.record),
               (pz.first_index, px.before, list(px.leaves), k, px.record)]
    for field_ in range(len(px.record)):
        record = list(px.record)
        v = record[field_]
        record[field_] = bytes(v[:-1]) + bytes([v[-1] ^ 1]) if isinstance(v, bytes) else (v ^ 1)
        altered.append((px.first_index, px.before, list(px.leaves), k, tuple(record)))
    for proof in altered:
        assert_error(*challenge(lx, proof), sender=stranger, error="ProofDoesNotMatch(uint256)", values=(1,))
    # A cut-off asset passed off as bought: its onboarding batch's checkpoint is period 0's, not period 1's.
    lc = str(tape1["loan_id"].iloc[0])
    pc = courtlib.onboarded(d.spv)[aid[lc]]
    assert pc.record == to_records(d.tape.iloc[[[str(x) for x in d.tape["loan_id"]].index(lc)]])[0]
    assert_error(*challenge(lc, pc.as_abi()), sender=stranger, error="ProofDoesNotMatch(uint256)", values=(1,))

    # The honest challenger: `chainabs challenge` finds it, `--prove` sends it.
    path = sv.write_servicing_tape(false, tmp_path / "period-002.csv")
    prev_path = sv.write_servicing_tape(tape1, tmp_path / "period-001.csv")
    assert cli.main(["challenge", d.spv.address, str(path), "--previous", str(prev_path)]) == 1
    out = capsys.readouterr().out
    assert f"Discontinuity: loan {lx}: begins at" in out and f"Discontinuity: loan {lz}: begins at" in out
    status = cli.main(["challenge", d.spv.address, str(path), "--previous", str(prev_path), "--prove"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert f"proven: Discontinuity of loan {faults[0].loan_id}" in out
    proven_log = d.spv.events.get_sequence(from_block=0, event_type="ChallengeProven")[-1]
    proven = proven_log["args"]
    from brownie import web3

    gas = web3.eth.get_transaction_receipt(proven_log["transactionHash"])["gasUsed"]
    print(f"challengePurchase: {gas} gas (a batch of {len(first)} leaves)")
    assert (proven["period"], proven["kind"], proven["assetId"]) == (2, 5, aid[faults[0].loan_id])
    d.model.dispute()
    sleep_to_payment_date(d, 2)
    assert_error(d.spv.closePeriod, served.report.as_abi(), sender=stranger, error="ReportDisputed(uint256)",
                 values=(2,))

    # The trustee cancels; the honest tape is reported and closes; nothing to prove against it.
    spvlib.cancel_report(d.spv, d.roles["trustee"])
    d.model.cancel_report()
    books(d).registry = served.registry  # the registry as the false report's updates left it
    again = serve_tape(d, honest)
    d.model.submit(again.report)
    assert courtlib.audit(d.spv, again.committed, previous=previous) == []
    _close(d)
    # x has a leaf in period 2's tape now: its purchase no longer prices a buy-back
    assert_error(court.buyBackBought, d.spv, px.as_abi(), sender=d.roles["originator"],
                 error="ProofDoesNotMatch(uint256)", values=(2,))
    # Period 3: the receivable bought in period 1 amortized in period 2; its purchase proves nothing now.
    from chainabs.dev.sandbox import serve

    third = serve(d, _projected(d, 3, 0.3))
    d.model.submit(third.report)
    leaf3 = third.committed.leaf(lx)
    assert leaf3.beginning != px.principal
    i3 = third.committed.index[lx]
    assert_error(court.challengePurchase, d.spv, third.committed.commitment, leaf3.as_abi(),
                 third.committed.tree.path_abi(i3), px.as_abi(), sender=stranger,
                 error="ProofDoesNotMatch(uint256)", values=(2,))
    assert courtlib.audit(d.spv, third.committed, previous=again.committed) == []
    # Receivables bought while period 3's report is pending belong to period 4's tape: not missing from this one.
    _buy(d, revolving_offer(d, 33, third.report.prepayments // 4, prefix="RVR", book_loans=40))
    assert courtlib.audit(d.spv, third.committed, previous=again.committed) == []
    from chainabs.apps.verify import verify_servicing_tape

    assert verify_servicing_tape(web3.provider.endpoint_uri, d.spv.address, 3, third.committed.tape).empty


def test_a_pool_asset_left_out_of_a_tape_is_proven_missing(deal, accounts):
    """A servicer (colluding with the originator) leaves a performing cut-off loan y out of period 2's tape and
    puts in its place, at y's balance, a receivable the originator sells into the pool right after the report:
    the count, the sums and every leaf then agree with the chain, and y's collections are kept. Anyone proves y
    missing (``challengeMissing``: y's onboarding batch against the registry's checkpoint, its neighbours in the
    tape). Refused: a receivable bought while this report is pending (it belongs to the next tape), an asset the
    tape has, a forged cut-off record, a cut-off record passed off as bought."""
    from chainabs.chain import court as courtlib
    from chainabs.chain.servicing import service_period
    from chainabs.model import servicing as sv
    from plugins.spvtests import fund

    d, stranger = deal, accounts[19]
    originator = d.roles["originator"].address
    court = courtlib.court_of(d.spv)
    submit(d, _projected(d, 1, 0.3))
    _close(d)
    honest = books(d).next_period(_projected(d, 2, 0.3))
    offer = revolving_offer(d, 43, 10**30, prefix="RVM", book_loans=60)
    cap = int(offer["principal"].max())
    cutoff_ids = set(d.tape["loan_id"].astype(str))
    y = next(i for i in honest.index if honest.at[i, "status"] == "Performing"
             and str(honest.at[i, "loan_id"]) in cutoff_ids and int(honest.at[i, "beginning_principal"]) <= cap)
    ly, b_y = str(honest.at[y, "loan_id"]), int(honest.at[y, "beginning_principal"])
    fake = offer.iloc[[0]].copy()
    fake["principal"] = b_y
    fake["original_principal"] = max(b_y, int(fake["original_principal"].iloc[0]))
    lx = str(fake["loan_id"].iloc[0])
    extra = honest.loc[[y]].copy()
    extra["loan_id"] = lx
    extra[["scheduled_principal", "prepaid_principal", "defaulted_principal", "interest_collected", "recoveries"]] = 0
    extra["ending_principal"] = b_y
    false = pd.concat([honest.drop(index=y), extra], ignore_index=True)
    fund(d, d.roles["servicer"], sv.period_report(false).cash_in)
    # the servicer's state of the registry already counts its stand-in, so that nothing is sent for it
    state = pd.concat([books(d).registry, pd.DataFrame({"loan_id": [lx], "status": ["Performing"],
                                                        "principal": [b_y]})], ignore_index=True)
    served = service_period(d.spv, false, d.roles["servicer"], state=state)
    d.model.submit(served.report)
    committed = served.committed
    # Before the purchase the stand-in is not in the pool; once bought, nothing about it is wrong.
    assert [(f.kind, f.loan_id) for f in courtlib.audit(d.spv, committed, registrations=False)] == [("NotInPool", lx)]
    _buy(d, fake)
    later = offer.iloc[[1]]
    _buy(d, later)
    assert courtlib.audit(d.spv, committed, registrations=False) == []
    faults = courtlib.audit(d.spv, committed)
    assert [(f.kind, f.loan_id, f.via) for f in faults] == [("Gap", ly, "missing")]
    (found,) = courtlib.missing(d.spv, committed)
    assert (found.loan_id, found.source) == (ly, "cut-off")

    # False proofs: each refused.
    aid_w = asset_id(originator, str(later["loan_id"].iloc[0]))
    _, bought_w = courtlib.purchases(d.spv, [2])[aid_w]
    assert found.registration[0] == 0  # the cut-off: an onboarding batch's checkpoint (period 0)
    assert_error(court.challengeMissing, d.spv, committed.commitment, (2, bought_w.as_abi()),
                 courtlib._neighbours(committed, aid_w), sender=stranger, error="ProofDoesNotMatch(uint256)",
                 values=(2,))
    z = next(lid for lid in committed.loan_ids if lid in cutoff_ids)
    reg_z = (0, courtlib.onboarded(d.spv)[committed.leaf(z).asset_id].as_abi())
    around = courtlib._neighbours(committed, committed.leaf(z).asset_id)  # z itself is the leaf "above" it
    assert_error(court.challengeMissing, d.spv, committed.commitment, reg_z, around, sender=stranger,
                 error="NothingWrong(uint8)", values=(7,))
    first, before, leaves, position, record = found.registration[1]
    forged = (0, (first, before, leaves, position, (*record[:3], record[3] + 1, *record[4:])))  # 3: principal
    assert_error(court.challengeMissing, d.spv, committed.commitment, forged,
                 courtlib._neighbours(committed, found.asset_id), sender=stranger, error="ProofDoesNotMatch(uint256)",
                 values=(0,))
    assert_error(court.challengeMissing, d.spv, committed.commitment, (1, found.registration[1]),
                 courtlib._neighbours(committed, found.asset_id), sender=stranger, error="ProofDoesNotMatch(uint256)",
                 values=(1,))
    # The honest challenger.
    tx = courtlib.prove(d.spv, committed, faults[0], stranger)
    ev = tx.event("ChallengeProven")
    assert (ev["period"], ev["kind"], ev["assetId"]) == (2, 7, asset_id(originator, ly))
    print(f"challengeMissing: {tx.gas_used} gas")
    sleep_to_payment_date(d, 2)
    assert_error(d.spv.closePeriod, served.report.as_abi(), sender=stranger, error="ReportDisputed(uint256)",
                 values=(2,))
