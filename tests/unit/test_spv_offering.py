"""SPV offering and closing: payment and delivery, subscription limits, true sale, reserve, roles."""

from __future__ import annotations

import pytest
from brownie import ZERO_ADDRESS

from brownie import chain

from chainabs.chain import spv as spvlib
from chainabs.model.deal import DealModel, DealModelError, Phase
from plugins.spv import role_error
from plugins.token import access_denied, assert_error


def test_subscription_is_payment_and_delivery_in_one_transaction(fresh_offering, investors, admin):
    d = fresh_offering
    inv = investors[0]
    d.currency.mint(inv, 1_000_000, {"from": admin})
    tx = spvlib.subscribe(d.spv, inv, 0, 1_000_000)
    assert tx.event("Subscribed")["investor"] == inv and tx.event("Subscribed")["amount"] == 1_000_000
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
    from chainabs.dev.sandbox import subscribe_all

    subscribe_all(d, investors, admin)
    d.registry.transferPool(d.pool_id, investors[0], {"from": originator})
    assert_error(d.spv.closeDeal, sender=admin, error="PoolNotReady(uint256,uint256,uint256,uint256,uint256,bool,address)")


def test_a_pool_moved_away_and_back_is_not_bought(fresh_offering, investors, admin, originator):
    """A sealed pool is frozen until its sale. Moving it to another wallet and back used to leave it 'sold' while
    the originator's again: servicing was open on it (here a loan taken to Defaulted at par, so principal and count
    still match the cut-off) and the SPV paid par for a pool the investors' cut-off tape does not describe. The
    close now refuses a pool that was ever sold (``PoolSoldBefore``); the registry shows it (``PoolInfo.sold``)."""
    from chainabs.dev.sandbox import subscribe_all
    from chainabs.model.tape import asset_ids

    d = fresh_offering
    accomplice = investors[5]
    assert not d.registry.poolInfo(d.pool_id)["sold"]
    d.registry.transferPool(d.pool_id, accomplice, {"from": originator})
    d.registry.transferPool(d.pool_id, originator, {"from": accomplice})
    d.registry.setPoolServicers(d.pool_id, originator, originator, {"from": originator})
    asset = asset_ids(d.tape, originator.address)[0]
    principal = d.registry.assetInfo(asset)["principal"]
    for status in (2, 3, 4, 5):  # Delinquent30, 60, 90, Defaulted: principal unchanged
        d.registry.updateAssets([(asset, status, principal, b"\x01" * 32, 0)], {"from": originator})
    d.registry.approvePool(d.pool_id, d.spv, {"from": originator})
    subscribe_all(d, investors, admin)
    info = d.registry.poolInfo(d.pool_id)
    assert info["sold"] and info["owner"] == originator and info["principal"] == info["cutoffPrincipal"]
    assert_error(d.spv.closeDeal, sender=admin, error="PoolSoldBefore(uint256,address)",
                 values=(d.pool_id, originator.address))


# ---------------------------------------------------------------- deadline, cancel, refunds (integrity finding 3)


def _subscribe_some(d, investors, admin) -> dict[str, int]:
    """Part of the senior class and the originator's retained slice; returns units per holder."""
    paid = {}
    for inv, amount in ((investors[0], 1_000_000_000), (investors[1], 2_500_000_001)):
        d.currency.mint(inv, amount, {"from": admin})
        spvlib.subscribe(d.spv, inv, 0, amount)
        d.model.subscribe(0, amount)
        paid[str(inv)] = amount
    n = len(d.tokens)
    originator = d.roles["originator"]
    d.currency.mint(originator, 777, {"from": admin})
    spvlib.subscribe(d.spv, originator, n - 1, 777, retained=True)
    d.model.subscribe(n - 1, 777)
    paid[str(originator)] = 777
    return paid


def test_offering_expiry_cancel_and_refunds(fresh_offering, investors, admin, stranger):
    """Before: no deadline, cancel or refund: if a class never filled, subscriptions stayed in the SPV for ever.
    Now after the deadline nothing can be subscribed or closed, anyone may cancel, and every subscriber gets
    back exactly what it paid; the SPV ends at 0."""
    d = fresh_offering
    paid = _subscribe_some(d, investors, admin)
    deadline = int(d.spv.terms()[8])
    assert deadline == d.times.offering_deadline
    assert_error(d.spv.cancelOffering, sender=stranger, error="OfferingStillOpen(uint256,uint256)")
    chain.sleep(deadline - chain.time() + 1)
    chain.mine()
    d.currency.mint(investors[2], 10, {"from": admin})
    d.currency.approve(d.spv, 10, {"from": investors[2]})
    assert_error(d.spv.subscribe, 0, 10, sender=investors[2], error="OfferingExpired(uint256,uint256)")
    assert_error(d.spv.closeDeal, sender=admin, error="OfferingExpired(uint256,uint256)")
    tx = spvlib.cancel_offering(d.spv, stranger)
    assert tx.event("OfferingCancelled")["afterDeadline"] and d.spv.phase() == Phase.CANCELLED
    assert d.model.cancel_offering(arranger=False, now=chain.time())
    for holder, amount in paid.items():
        before = d.currency.balanceOf(holder)
        assert spvlib.refund(d.spv, stranger, holder) == d.model.refund(amount) == amount  # anyone triggers it
        assert d.currency.balanceOf(holder) == before + amount
        assert all(t.balanceOf(holder) == 0 for t in d.tokens)
        assert_error(d.spv.refund, holder, sender=stranger, error="NothingOwed()")
    assert d.currency.balanceOf(d.spv) == 0 and all(t.totalSupply() == 0 for t in d.tokens)
    ledger = spvlib.read_ledger(d.spv)
    assert ledger == d.model.ledger and ledger.refunded == sum(paid.values())
    ledger.check()


def test_the_arranger_cancels_before_the_deadline_and_a_frozen_refund_stays_owed(fresh_offering, investors, admin,
                                                                                 kyc_agent, stranger):
    d = fresh_offering
    paid = _subscribe_some(d, investors, admin)
    assert_error(d.spv.refund, investors[0], sender=stranger, error="WrongPhase(uint8,uint8)", values=(3, 0))
    spvlib.cancel_offering(d.spv, admin)
    d.model.cancel_offering()
    d.identity.setFrozen(investors[0], True, {"from": kyc_agent})
    assert_error(d.spv.refund, investors[0], sender=stranger, error="ClaimBlocked(address,bytes1,bytes32)")
    assert spvlib.read_ledger(d.spv).unsettled_subscriptions == sum(paid.values())  # held for the frozen investor
    d.identity.setFrozen(investors[0], False, {"from": kyc_agent})
    assert spvlib.refund(d.spv, stranger, investors[0]) == paid[str(investors[0])]




def test_the_offering_commands_cancel_and_refund(fresh_offering, investors, admin, stranger, capsys, monkeypatch):
    """`chainabs subscribe / cancel-offering / refund` on the local chain (issue 16's deal-operation commands)."""
    import json

    from eth_account import Account

    from chainabs.apps import cli
    from chainabs.chain.sender import transfer

    d = fresh_offering
    inv = investors[0]
    d.currency.mint(inv, 2_500_000, {"from": admin})
    assert cli.main(["cancel-offering", "--spv", d.spv.address, "--key-env", "NO_SUCH_KEY"]) == 2  # named signer
    assert "no arranger signer: set NO_SUCH_KEY" in capsys.readouterr().err
    key = Account.create()
    transfer(admin, key.address, 10**18)
    monkeypatch.setenv("OFFERING_TEST_KEY", key.key.hex())
    assert cli.main(["subscribe", "--spv", d.spv.address, "--class", "A", "--amount", "1", "--key-env",
                     "OFFERING_TEST_KEY"]) == 2  # an account without the currency: refused before sending
    assert capsys.readouterr().err.strip() == (f"chainabs subscribe: error: subscribe: {key.address} holds 0.00 "
                                               f"{d.currency.symbol()}, needs 1.00 {d.currency.symbol()}")
    spvlib.subscribe(d.spv, inv, 0, 2_500_000)
    # During the offering, status says what each class offers and what is subscribed (it showed "original 0.00").
    assert cli.main(["status", "--spv", d.spv.address]) == 0
    out = " ".join(capsys.readouterr().out.split())
    from chainabs.model.numbers import format_units

    decimals, cur = int(d.currency.decimals()), str(d.currency.symbol())
    sizes = [int(v) for v in d.spv.dealState()[2]]
    first = (f"offering: {d.tokens[0].symbol()} {format_units(2_500_000, decimals, cur)} subscribed of "
             f"{format_units(sizes[0], decimals, cur)} ({format_units(sizes[0] - 2_500_000, decimals, cur)} left); "
             f"{d.tokens[1].symbol()} {format_units(0, decimals, cur)} subscribed of")
    assert first in out, out
    assert cli.main(["cancel-offering", "--spv", d.spv.address, "--json"]) == 0  # the arranger (local account)
    done = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [t["what"] for t in done["transactions"]] == ["cancelOffering"] and done["result"]["subscriptions"] == 2_500_000
    argv = ["refund", "--spv", d.spv.address, "--holder", str(inv), "--key-env", "OFFERING_TEST_KEY", "--json"]
    assert cli.main(argv) == 0  # anyone may pay a holder back
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["result"]["refunded"] == 2_500_000
    assert d.currency.balanceOf(inv) == 2_500_000
    assert cli.main(argv) == 0  # safe to re-run: nothing left to refund, nothing sent, not a failure
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert again["transactions"] == [] and again["result"] == {"holder": str(inv), "refunded": 0}
    assert cli.main(argv[:-1]) == 0
    assert (f"refund: {inv} holds no units of the deal: nothing to refund (nothing sent)"
            in capsys.readouterr().out)
