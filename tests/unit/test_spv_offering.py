"""SPV offering and closing: payment and delivery, subscription limits, true sale, reserve, roles."""

from __future__ import annotations

import pytest
from brownie import ZERO_ADDRESS

from chainabs import spv as spvlib
from chainabs.deal import DealModel, DealModelError
from plugins.spv import role_error
from plugins.token import access_denied, assert_error


def test_subscription_is_payment_and_delivery_in_one_transaction(fresh_offering, investors, admin):
    d = fresh_offering
    inv = investors[0]
    d.currency.mint(inv, 1_000_000, {"from": admin})
    tx = spvlib.subscribe(d.spv, inv, 0, 1_000_000)
    assert tx.events["Subscribed"]["investor"] == inv and tx.events["Subscribed"]["amount"] == 1_000_000
    assert d.tokens[0].balanceOf(inv) == 1_000_000
    assert d.currency.balanceOf(inv) == 0 and d.currency.balanceOf(d.spv) == 1_000_000
    assert d.spv.subscribed(0) == 1_000_000
    d.model.subscribe(0, 1_000_000)
    assert spvlib.read_ledger(d.spv) == d.model.ledger


def test_oversubscription_unknown_class_and_zero_are_refused(fresh_offering, investors, admin):
    d = fresh_offering
    size = d.sizes()[1]
    d.currency.mint(investors[0], size + 1, {"from": admin})
    d.currency.approve(d.spv, size + 1, {"from": investors[0]})
    assert_error(d.spv.subscribe, 1, size + 1, sender=investors[0], error="OverSubscribed(uint256,uint256,uint256)", values=(1, size + 1, size))
    assert_error(d.spv.subscribe, 7, 1, sender=investors[0], error="UnknownClass(uint256)", values=(7,))
    assert_error(d.spv.subscribe, 0, 0, sender=investors[0], error="ZeroAmount()")
    with pytest.raises(DealModelError, match="OverSubscribed"):
        d.model.subscribe(1, size + 1)


def test_unverified_investor_cannot_subscribe(fresh_offering, stranger, admin):
    d = fresh_offering
    d.currency.mint(stranger, 10, {"from": admin})
    d.currency.approve(d.spv, 10, {"from": stranger})
    data = assert_error(d.spv.subscribe, 0, 10, sender=stranger, error="TransferBlocked(address,address,bytes1,bytes32)")
    assert data[1].lower() == stranger.address.lower()


def test_retained_slice_is_locked_and_only_for_the_originator(fresh_offering, originator, investors, admin):
    d = fresh_offering
    n = len(d.tokens)
    access_denied(d.spv.subscribeRetained, n - 1, 5, sender=investors[0], role="ORIGINATOR_ROLE")
    d.currency.mint(originator, 5, {"from": admin})
    spvlib.subscribe(d.spv, originator, n - 1, 5, retained=True)
    locked = b"locked".ljust(32, b"\0")
    assert d.tokens[-1].balanceOfByPartition(locked, originator) == 5


def test_close_needs_full_subscription_and_the_arranger(fresh_offering, stranger, admin):
    d = fresh_offering
    access_denied(d.spv.closeDeal, sender=stranger, role="ARRANGER_ROLE")
    assert_error(d.spv.closeDeal, sender=admin, error="NotFullySubscribed(uint256,uint256,uint256)", values=(0, 0, d.sizes()[0]))


def test_closing_requires_the_pool_still_with_the_originator(fresh_offering, investors, admin, originator):
    d = fresh_offering
    from plugins.spv import subscribe_all

    subscribe_all(d, investors, admin)
    d.registry.transferPool(d.pool_id, investors[0], {"from": originator})
    assert_error(d.spv.closeDeal, sender=admin, error="PoolNotReady(uint256,uint256,uint256,uint256,uint256,bool,address)")
