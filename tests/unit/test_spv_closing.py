"""SPV after closing: the true sale, terms validation, roles from strangers, trustee actions."""

from __future__ import annotations

import pytest
from brownie import ZERO_ADDRESS

from chainabs.chain import spv as spvlib
from chainabs.model.deal import DealModel, DealModelError
from chainabs.chain.contracts import LOCKED
from plugins.spv import role_error
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
