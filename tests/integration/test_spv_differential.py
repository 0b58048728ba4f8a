"""Differential test of the whole SPV against ``chainabs.model.deal.DealModel`` (issue 5, item 8).

Hypothesis builds random deals from the spec format (the consumer-loan sample perturbed: 2-4 classes,
sizes, coupons, fees, reserve, triggers, sequential or pro-rata, monthly or quarterly) sized to one registry
pool onboarded for the module, and random multi-period collection paths (projections with random CPR, CDR,
severity and roll rates turned into integer reports, then perturbed). Each example deploys a fresh SPV and
tranche tokens with the deployment plan (the chain is reverted between examples, so the pool is the
originator's again), closes the deal and runs every period; after closing, after every period and after
the end of the deal every on-chain figure must equal the model's exactly: waterfall state (tranche
balances, shortfalls, PDL, reserve, trigger states), ledger, tokens' tranche state, per-class and per-fee
totals, the close's events. Examples end by a clean-up call, at legal final, or when paid off if they can.

Also here: the period close costs the same gas whether the senior class has 2 or 40 holders.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from brownie import chain, project, web3
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chainabs.chain import spv as spvlib
from chainabs.model.collections import period_reports
from chainabs.model.cashflows import project_pool
from chainabs.chain.orchestration import DEFAULT_JURISDICTION as CN
from chainabs.chain.sender import transact
from chainabs.chain.connection import advance_to
from plugins.token import plain
from plugins.spvtests import (
    assert_reconciled,
    close,
    collection_paths,
    deal_specs,
    deploy_and_close,
    expect_model_error,
    fund,
    model_or_error,
    odd_pool,
    end_terms,
    report_ending_at,
    run_period,
    submit,
)

DAY = 86_400


@pytest.fixture(scope="module")
def diff_pool(originator, admin, servicer):
    """One sealed registry pool of eligible synthetic loans (the sample's criteria) whose principal is not a
    round number of base units, reused by every example: (sample spec sized to it, registry, pool id,
    cut-off principal in base units)."""
    return odd_pool(originator, admin, servicer)


def _project():
    return project.get_loaded_projects()[0]


@settings(
    max_examples=10,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_spv_equals_the_model_on_random_deals_and_paths(diff_pool, accounts, currency, investors, stranger, tmp_path_factory, data):
    _, registry, pool_id, principal, tape = diff_pool
    chain.revert()  # back to the snapshot taken after the module fixtures: the pool is the originator's again
    spec = data.draw(deal_specs(Decimal(principal).scaleb(-6)), label="spec")
    reports = data.draw(collection_paths(principal, max_months=8), label="path")
    ending = data.draw(st.sampled_from(["clean_up_call", "legal_final", "paid_off"]), label="ending")
    d = deploy_and_close(spec, (registry, pool_id, tape), accounts, currency, _project(),
                         tmp_path_factory.mktemp("deal"), [investors[0]])
    assert plain(spvlib.read_params(d.spv)) == plain(d.model.params.as_abi()), "deployed terms differ from the spec's"
    assert_reconciled(d.spv, d.model, "after closing")
    event(f"{len(spec.tranches)} classes, {spec.principal_mode}, {len(spec.triggers)} triggers, ending {ending}")

    called = False
    level = d.model.clean_up_level()
    for n, projected in enumerate(reports, start=1):
        if ending == "clean_up_call" and level > 0 and (projected.pool_ending_balance <= 2 * level or n == len(reports)):
            # The pool runs down to the model's call level (the boundary the SPV must agree on), or below it,
            # and the originator calls.
            projected = report_ending_at(projected, min(level, projected.pool_ending_balance))
        # Each period is serviced loan by loan: the report submitted is the projection realised on the tape.
        report = submit(d, projected)
        if ending == "clean_up_call" and 0 < report.pool_ending_balance <= level:
            live, defaulted = spvlib.clean_up_price(d.spv, report)
            fund(d, d.roles["originator"], live + defaulted)
            tx = spvlib.exercise_clean_up_call(d.spv, d.roles["originator"], report)
            assert tx.event("CleanUpCallExercised")["price"] == d.model.exercise_clean_up_call(live, defaulted)
            assert_reconciled(d.spv, d.model, f"period {n}: clean-up call exercised")
            close(d, stranger)
            assert_reconciled(d.spv, d.model, f"period {n}: closed after the clean-up call")
            called = True
            break
        close(d, stranger)
        assert_reconciled(d.spv, d.model, f"period {n}")
    s = d.model.state
    event(f"triggers breached {bin(s.triggers_breached)}; losses written down {any(s.pdl)}; "
          f"interest shortfall {any(s.interest_shortfalls)}; clean-up call {called}")

    if ending == "legal_final":
        advance_to(d.times.legal_final + DAY)
    terms = end_terms(d)
    ended, error = model_or_error(lambda: d.model.end_deal(**terms))
    if error is not None:
        event(f"end refused: {error.name}")
        expect_model_error(error, d.spv.endDeal, sender=stranger)
    else:
        released, final = ended
        tx = spvlib.end_deal(d.spv, stranger)
        assert (tx.event("DealEnded")["releasedToEquity"], tx.event("DealEnded")["finalWriteDown"]) == (released, final)
        owed = [d.model.fee_owed(k) for k in range(len(d.model.fees_paid))]
        assert currency.balanceOf(d.spv) == sum(owed), "only earned fees are left in the SPV"
        assert spvlib.withdraw_all_fees(d.spv, stranger) == [d.model.withdraw_fees(k) for k in range(len(owed))]
        assert currency.balanceOf(d.spv) == 0, "currency left stranded in the SPV"
    assert_reconciled(d.spv, d.model, "at the end")


def _spread(d, holder, kyc_agent, count: int) -> None:
    """``holder`` sends a slice of its senior notes to ``count`` fresh verified addresses."""
    addresses = [web3.to_checksum_address(web3.keccak(text=f"senior holder {k}")[-20:]) for k in range(count)]
    expiry = chain.time() + 5 * 365 * DAY
    transact(d.identity.registerInvestors, addresses, [CN] * count, [1] * count, [expiry] * count, sender=kyc_agent)
    senior = d.tokens[0]
    slice_ = senior.balanceOf(holder) // (count + 1)
    for a in addresses:
        transact(senior.transfer, a, slice_ + len(a) % 7, sender=holder)


#: Measured close gas by number of senior holders (measured once per module run).
_CLOSE_GAS: dict[int, list[int]] = {}


def _close_gas(diff_pool, accounts, currency, investors, stranger, kyc_agent, tmp_path, holders: int) -> list[int]:
    """Gas used by the first two period closes of the consumer deal with ``holders`` senior holders (the
    chain is reverted first, so every measurement starts from the same state)."""
    if holders in _CLOSE_GAS:
        return _CLOSE_GAS[holders]
    spec, registry, pool_id, principal, tape = diff_pool
    df = project_pool(principal / 10**6, 0.14, 24, cpr=0.12, cdr=0.05, severity=0.6, recovery_lag=1)
    reports = period_reports(df, 6, beginning_balance=principal)[:2]
    chain.revert()
    d = deploy_and_close(spec, (registry, pool_id, tape), accounts, currency, _project(), tmp_path, list(investors[:2]))
    if holders > 2:
        _spread(d, investors[0], kyc_agent, holders - 2)
    assert d.tokens[0].holderCount() == holders
    gas = [int(run_period(d, r, stranger)[0].gas_used) for r in reports]
    assert_reconciled(d.spv, d.model, f"{holders} holders")
    _CLOSE_GAS[holders] = gas
    return gas


def test_period_close_gas_does_not_depend_on_holders(diff_pool, accounts, currency, investors, stranger, kyc_agent, tmp_path_factory):
    """The consumer deal (3 classes, 2 fees, reserve, 4 triggers): the same two periods closed with 2 and with
    40 holders in the senior class cost exactly the same gas."""
    args = (diff_pool, accounts, currency, investors, stranger, kyc_agent)
    gas = {n: _close_gas(*args, tmp_path_factory.mktemp("gas"), n) for n in (2, 40)}
    print(f"\nperiod close gas (periods 1, 2): 2 holders {gas[2]}, 40 holders {gas[40]}")
    assert gas[2] == gas[40]
