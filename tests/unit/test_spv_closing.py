"""SPV after closing: the true sale, terms validation, roles from strangers, trustee actions; what a close reads
(the class tokens come with the terms' code, and a class's interest-shortfall slot is read only while
`Core.shortfallClasses` flags it)."""

from __future__ import annotations

import dataclasses

import pytest
from brownie import ZERO_ADDRESS
from eth_abi import encode

from chainabs.chain import spv as spvlib
from chainabs.model.deal import DealModel, DealModelError
from chainabs.chain.contracts import LOCKED
from chainabs.dev.sandbox import roll_rate_reports
from plugins.spv import role_error
from plugins.spvtests import assert_reconciled, run_period
from plugins.token import access_denied, assert_error


def test_closing_is_the_true_sale(closed, originator, admin):
    d = closed
    assert d.spv.phase() == 1
    assert d.registry.poolOwner(d.pool_id) == d.spv
    pool = sum(d.sizes())
    reserve = d.spec.units(d.spec.reserve.initial)
    assert d.currency.balanceOf(originator) == pool  # purchase price: every subscription, paid at closing
    assert d.currency.balanceOf(d.spv) == reserve
    ledger = spvlib.read_ledger(d.spv)
    assert ledger == d.model.ledger
    ledger.check()
    assert ledger.paid_to_originator == pool and ledger.reserve_balance == reserve
    assert_error(d.spv.closeDeal, sender=admin, error="WrongPhase(uint8,uint8)", values=(0, 1))


def test_the_model_refuses_inconsistent_terms(closed):
    """The constructor's own checks are in tests/unit/test_spv_integrity.py."""
    sizes = list(closed.sizes())
    with pytest.raises(DealModelError, match="InvalidTerms"):
        DealModel(closed.model.params, tuple(sizes[:-1] + [sizes[-1] + 1]), 0)


def test_strangers_cannot_call_privileged_functions(closed, stranger):
    d = closed
    report = (0,) * 9
    access_denied(d.spv.submitReport, report, spvlib.EMPTY_COMMITMENT, "", sender=stranger, role="SERVICER_ROLE")
    access_denied(d.spv.exerciseCleanUpCall, report, sender=stranger, role="ORIGINATOR_ROLE")
    access_denied(d.spv.setFeeRecipient, 0, stranger, sender=stranger, role="TRUSTEE_ROLE")
    access_denied(d.spv.closeDeal, sender=stranger, role="ARRANGER_ROLE")
    access_denied(d.spv.subscribeRetained, 0, 1, sender=stranger, role="ORIGINATOR_ROLE")
    access_denied(d.spv.grantRole, role_error("SERVICER_ROLE"), stranger, sender=stranger, role="DEFAULT_ADMIN_ROLE")


def test_trustee_changes_a_fee_recipient_with_an_event(closed, trustee, investors):
    d = closed
    old = d.spv.feeRecipients()[0]
    tx = d.spv.setFeeRecipient(0, investors[5], {"from": trustee})
    assert tx.events["FeeRecipientChanged"]["previous"] == old
    assert d.spv.feeRecipients()[0] == investors[5]
    assert_error(d.spv.setFeeRecipient, 0, ZERO_ADDRESS, sender=trustee, error="ZeroFeeRecipient(uint256)", values=(0,))
    assert_error(d.spv.setFeeRecipient, 9, investors[5], sender=trustee, error="UnknownFee(uint256)", values=(9,))


DEAL_PARAMS = ("(uint256,uint256,(uint256,bool)[],(uint256,uint256)[],uint256,uint256,uint256,uint256,uint8,"
               "(uint8,uint256,bool,bool,bool)[],uint256)")


def _flags(d) -> tuple[int, int]:
    """`Core.shortfallClasses` and `Core.shortfallFees`: bits 32..39 and 40..47 of the SPV's Core slot (storage
    slot 2: after AccessControl's roles and ReentrancyGuard's status)."""
    from brownie import web3

    word = int.from_bytes(web3.eth.get_storage_at(d.spv.address, 2), "big")
    return (word >> 32) & 0xFF, (word >> 40) & 0xFF


def _mask(amounts) -> int:
    return sum(1 << i for i, a in enumerate(amounts) if a)


def test_a_shortfall_is_flagged_carried_and_cleared_as_the_model_says(deal, stranger):
    d = deal
    reports = roll_rate_reports(d, months=7)
    # No interest collected for five periods: the classes the reserve does not cover carry a shortfall at once,
    # the senior class and the fees (paid from the reserve) once it is drained; then interest comes back.
    starved = [dataclasses.replace(r, interest_collections=0) for r in reports[:5]] + reports[5:]
    seen = []
    for n, report in enumerate(starved, start=1):
        run_period(d, report, stranger)
        assert_reconciled(d.spv, d.model, f"period {n}")
        state = d.model.state
        expected = (_mask(state.interest_shortfalls), _mask(state.fee_shortfalls))
        assert _flags(d) == expected, f"period {n}: flags {_flags(d)}, model {state.interest_shortfalls} {state.fee_shortfalls}"
        seen.append(expected)
    classes, fees = zip(*seen)
    assert classes[0] != 0 and len(set(classes)) > 1, f"class flags never set or never changed: {seen}"
    assert any(fees) and fees[-1] == 0, f"no fee shortfall both carried and cured: {seen}"


def test_the_terms_code_gives_the_tokens_and_the_encoded_terms(deal):
    d = deal
    assert [str(a) for a in d.spv.classTokens()] == [t.address for t in d.tokens]
    # `dealParamsEncoded` is exactly abi.encode(params), the tokens' words in front of it left out.
    assert bytes(d.spv.dealParamsEncoded()) == encode([DEAL_PARAMS], [d.model.params.as_abi()])
