"""Attacker's and regulator's review of the tranche token's identity cache (issue 17).

The property under test: a transfer, transferFrom, partition / operator / controller transfer, issue, redemption,
recovery or claim succeeds only if the registry's own uncached answer (`checkTransfer` / `claimBlocker` at that
moment) allows it, whatever the sequence of registry changes, time travel, listener changes and distributions; and
nobody can strand the KYC operations or a deal through the listener mechanism.
"""

from __future__ import annotations

import pytest

from chainabs.chain import tokens
from chainabs.chain.connection import advance_to
from plugins.token import (FACE, GB, KY, US, YEAR, access_denied, assert_error, b32, chain_now, plain,
                           refused_before_sending, set_storage, state_slot)

DAY = 24 * 3600
OK = b"\0" * 32
MAX16 = 2**16 - 1


def _claim_answer(token, holder) -> tuple:
    code, reason = token.canClaim(holder)
    return (str(code), bytes(reason))


def _generation(token) -> int:
    return int(token.identityCache()[1])


def _send(fn, *args, sender, what: str):
    """Send ``fn(*args)`` from ``sender``; a revert fails the test naming ``what`` was refused."""
    try:
        return fn(*args, {"from": sender})
    except Exception as exc:  # noqa: BLE001 - brownie raises VirtualMachineError / ValueError for a revert
        pytest.fail(f"{what} was refused: {str(exc).splitlines()[0]}")


# ---------------------------------------------------------------------------------------------------------------
# Findings of the first review (fixed; these hold the fixes)
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [1, 2], ids=["reverting", "gas-burning"])
def test_a_broken_listener_can_be_removed_and_kyc_freezes_keep_working(
    identity, tranche, admin, kyc_agent, verified, IdentityListenerMock, mode
):
    """A listener that reverts (or burns all its gas) on an update stops the restrictive change, naming itself
    (`IdentityListenerFailed`), and never strands the KYC operations: the admin removes it (the failed farewell call is
    reported, `IdentityListenerUnreachable`), after which freezing works again and the tranche refuses at once."""
    mock = IdentityListenerMock.deploy({"from": admin})
    identity.addIdentityListener(mock, {"from": admin})  # accepted: it answers while mode is 0
    mock.setMode(mode, {"from": admin})
    assert_error(identity.setFrozen, verified[0], True, sender=kyc_agent, error="IdentityListenerFailed(address)",
                 values=(str(mock),))
    tx = _send(identity.removeIdentityListener, mock, sender=admin, what="removing a broken identity listener")
    assert str(tx.events["IdentityListenerUnreachable"]["listener"]) == str(mock)
    assert str(mock) not in [str(a) for a in identity.identityListeners()]
    _send(identity.setFrozen, verified[0], True, sender=kyc_agent, what="freezing an investor")
    code, reason = tranche.canTransfer(verified[1], 0, b"", {"from": verified[0]})[:2]
    assert (str(code), bytes(reason)) == ("0x56", b32("SENDER_FROZEN"))


def test_listeners_are_trusted_code_and_must_have_some(identity, admin, stranger):
    """Only contracts can listen (an account would take every update silently); listeners run code in the registry's
    loop, so they are the deal's own tokens, added by the admin (docs/trust.md)."""
    assert_error(identity.addIdentityListener, stranger, sender=admin, error="IdentityListenerNotContract(address)",
                 values=(str(stranger),))


def test_redundant_restrictive_calls_spend_no_generation(identity, tranche, admin, kyc_agent, verified):
    """Generations are never reused and the cache switches off for good after 65,534 resets, so a call that changes
    nothing spends none: freezing a frozen investor, or disallowing a disallowed jurisdiction, notifies no listener."""
    identity.setFrozen(verified[0], True, {"from": kyc_agent})
    gen = _generation(tranche)
    identity.setFrozen(verified[0], True, {"from": kyc_agent})
    assert _generation(tranche) == gen, "freezing a frozen investor spent a generation"
    assert not identity.isJurisdictionAllowed(KY)
    identity.setJurisdictionAllowed(KY, False, {"from": admin})
    assert _generation(tranche) == gen, "disallowing a disallowed jurisdiction spent a generation"


def test_deploy_tranche_refuses_an_admin_of_another_registry_before_deploying(identity, currency, stranger, originator,
                                                                             web3):
    """`deploy_tranche(identity_cache=True)` (the default) needs ``admin`` to administer the registry too: an admin who
    does not is refused with a one-line error naming DEFAULT_ADMIN_ROLE before anything is sent."""
    refused_before_sending(web3, stranger, lambda: tokens.deploy_tranche(
        name="Stray", symbol="S", currency=currency, registry=identity, admin=stranger, coupon_bps=100,
        residual_recipient=originator), "DEFAULT_ADMIN_ROLE")


# ---------------------------------------------------------------------------------------------------------------
# Checked and found sound
# ---------------------------------------------------------------------------------------------------------------


def test_only_the_tokens_own_registry_switches_its_cache(identity, tranche, admin, kyc_agent, stranger, currency,
                                                         originator, chain):
    """A stranger (or the registry's admin, or another registry) calling `resetIdentityCache` is refused; a token of
    another registry cannot be made a listener; only the registry's admin adds or removes listeners."""
    for caller in (stranger, admin, kyc_agent):
        assert_error(tranche.resetIdentityCache, False, sender=caller,
                     error="NotIdentityRegistry(address,address)", values=(str(caller), str(identity)))
    other = tokens.deploy_identity_registry(admin, [kyc_agent])
    assert_error(other.addIdentityListener, tranche, sender=admin,
                 error="NotIdentityRegistry(address,address)", values=(str(other), str(identity)))
    access_denied(identity.addIdentityListener, stranger, sender=stranger, role="DEFAULT_ADMIN_ROLE")
    access_denied(identity.removeIdentityListener, tranche, sender=kyc_agent, role="DEFAULT_ADMIN_ROLE")
    assert_error(identity.addIdentityListener, tranche, sender=admin,
                 error="IdentityListenerExists(address)", values=(str(tranche),))
    assert plain(tranche.identityCache()) == (True, 1)


def test_distributions_keep_the_generation_and_the_flags_and_the_epoch_stops_at_65535(issued, servicer, currency, web3,
                                                                                  verified, identity, admin):
    """`distributed()` keeps the identity generation, the cache flag, the holder count and the pause / holding-rule
    flags; the epoch is capped at 65,535 (16 bits) with a named error and never spills into the generation."""
    currency.approve(issued, 2**256 - 1, {"from": servicer})
    issued.setMinimumHolding(1, {"from": admin})  # flag HOLDING_RULES
    before = (issued.identityCache(), int(issued.holderCount()))
    issued.distribute(1_000_000, 1_000_000, {"from": servicer})
    assert (issued.identityCache(), int(issued.holderCount())) == before
    assert int(issued.distributionCount()) == 1
    slot = state_slot(issued, web3)
    w = int.from_bytes(web3.eth.get_storage_at(issued.address, slot), "big")
    assert w >> 229 & 1 == 1  # HOLDING_RULES kept
    set_storage(issued, web3, slot, (w & ~(MAX16 << 192)) | (MAX16 - 1) << 192)  # epoch 65,534
    issued.distribute(1_000_000, 0, {"from": servicer})
    assert int(issued.distributionCount()) == MAX16
    assert (issued.identityCache(), int(issued.holderCount())) == before
    assert_error(issued.distribute, 1_000_000, 0, sender=servicer,
                 error="ValueOutOfRange(bytes32,uint256,uint256)", values=(b32("epoch"), MAX16 + 1, MAX16))
    # a holder moving into epoch 65,535 keeps its stamp and the transfer still clears
    issued.transfer(verified[1], 1, {"from": verified[0]})
    assert issued.balanceOf(verified[1]) == FACE + 1


def test_generation_exhaustion_switches_the_cache_off_for_good(issued, identity, admin, kyc_agent, verified, web3):
    """At generation 65,535 the next reset switches the cache off; no later reset switches it on again, the registry
    refuses to add the token as a listener again (`IdentityListenerCacheOff`), and a stamp written at 65,535 is never
    honoured: the registry decides every transfer and claim."""
    slot = state_slot(issued, web3)
    w = int.from_bytes(web3.eth.get_storage_at(issued.address, slot), "big")
    set_storage(issued, web3, slot, (w & ~(MAX16 << 208)) | (MAX16 - 1) << 208)
    identity.setJurisdictionAllowed(KY, True, {"from": admin})
    identity.setJurisdictionAllowed(KY, False, {"from": admin})  # a disallowed jurisdiction: a new generation
    assert plain(issued.identityCache()) == (True, MAX16)
    issued.transfer(verified[1], 1, {"from": verified[0]})  # stamps at 65,535
    identity.setJurisdictionAllowed(GB, False, {"from": admin})  # verified[1] is in GB
    assert plain(issued.identityCache()) == (False, MAX16)
    identity.removeIdentityListener(issued, {"from": admin})
    # adding it again would switch nothing on: refused, so that it costs no restrictive change anything
    assert_error(identity.addIdentityListener, str(issued), sender=admin, error="IdentityListenerCacheOff(address)",
                 values=(str(issued),))
    assert plain(issued.identityCache()) == (False, MAX16) and str(issued) not in list(identity.identityListeners())
    identity.setJurisdictionAllowed(GB, True, {"from": admin})
    identity.setFrozen(verified[0], True, {"from": kyc_agent})
    assert issued.canTransfer(verified[1], 1, b"", {"from": verified[0]})[:2] == identity.checkTransfer(verified[0], verified[1])
    assert _claim_answer(issued, verified[0]) == ("0x56", b32("SENDER_FROZEN"))


def test_recovery_moves_no_stamp(issued, identity, kyc_agent, trustee, verified, accounts, chain, web3):
    """`recoverWallet` credits the replacement without copying the lost wallet's stamp: the replacement's
    eligibility is the registry's (a replacement expiring sooner than the lost wallet is not cleared on the lost
    wallet's stamp)."""
    lost, replacement = verified[0], accounts[18]
    issued.transfer(verified[1], 1, {"from": lost})  # lost stamped, expiry 5 years out
    expiry = chain_now(web3) + 3 * DAY
    identity.registerInvestor(replacement, US, 3, expiry, {"from": kyc_agent})
    identity.setInvestorId([lost, replacement], b32("investor-0"), {"from": kyc_agent})
    issued.recoverWallet(lost, replacement, {"from": trustee})
    advance_to(expiry + 1)
    assert identity.checkTransfer(replacement, verified[1])[0] == "0x56"
    assert issued.canTransfer(verified[1], 1, b"", {"from": replacement})[:2] == identity.checkTransfer(replacement, verified[1])
    assert _claim_answer(issued, replacement) == ("0x56", b32("SENDER_EXPIRED"))


def _attempt(fn, *args, sender) -> bool:
    try:
        fn(*args, {"from": sender})
        return True
    except Exception:  # noqa: BLE001 - a revert
        return False


@pytest.mark.parametrize("change", ["freeze", "remove", "disallow", "rejurisdiction", "expiry_forward", "expiry_day"])
@pytest.mark.parametrize("side", ["sender", "receiver"])
def test_each_restrictive_change_reaches_every_cached_path(issued, identity, admin, kyc_agent, servicer, trustee,
                                                           verified, web3, change, side):
    """Both parties freshly stamped, one restrictive change to one of them, then every path: canTransfer both ways,
    transfer, transferFrom, by-partition and operator transfers, a controller transfer to the party, issue, claim and
    canClaim. Each succeeds exactly when the registry's uncached answer allows it."""
    subject, other = (verified[0], verified[1]) if side == "sender" else (verified[1], verified[0])
    jurisdiction = US if subject == verified[0] else GB
    unrestricted = b32("unrestricted")
    issued.authorizeOperator(trustee, {"from": verified[0]})
    issued.authorizeOperator(trustee, {"from": verified[1]})
    issued.approve(trustee, 2**256 - 1, {"from": verified[0]})
    issued.approve(trustee, 2**256 - 1, {"from": verified[1]})
    now = chain_now(web3)
    if change == "expiry_day":  # an expiry at noon: the stamp must lapse at the start of that day, never after noon
        expiry = (now // DAY + 3) * DAY + DAY // 2
        identity.registerInvestor(subject, jurisdiction, 3, expiry, {"from": kyc_agent})
    issued.transfer(other, 0, {"from": subject})
    issued.transfer(subject, 0, {"from": other})  # both stamped at the current generation
    if change == "freeze":
        identity.setFrozen(subject, True, {"from": kyc_agent})
    elif change == "remove":
        identity.removeInvestor(subject, {"from": kyc_agent})
    elif change == "disallow":
        identity.setJurisdictionAllowed(jurisdiction, False, {"from": admin})
    elif change == "rejurisdiction":
        identity.registerInvestor(subject, KY, 3, now + 5 * YEAR, {"from": kyc_agent})
    elif change == "expiry_forward":
        identity.registerInvestor(subject, jurisdiction, 3, now + 3600, {"from": kyc_agent})
        advance_to(now + 7200)
    else:
        advance_to(expiry + 1)
    assert identity.checkTransfer(subject, other)[0] != "0x51"  # the change restricts the subject

    def allows(frm, to):
        return identity.checkTransfer(frm, to)[0] == "0x51"

    for frm, to in ((subject, other), (other, subject)):
        assert issued.canTransfer(to, 1, b"", {"from": frm})[:2] == identity.checkTransfer(frm, to), (str(frm), str(to))
    paths = [
        ("transfer", issued.transfer, (other, 1), subject, allows(subject, other)),
        ("transfer in", issued.transfer, (subject, 1), other, allows(other, subject)),
        ("transferFrom", issued.transferFrom, (subject, other, 1), trustee, allows(subject, other)),
        ("transferByPartition", issued.transferByPartition, (unrestricted, other, 1, b""), subject,
         allows(subject, other)),
        ("operatorTransferByPartition", issued.operatorTransferByPartition, (unrestricted, other, subject, 1, b"", b""),
         trustee, allows(other, subject)),
        ("controllerTransfer", issued.controllerTransfer, (other, subject, 1, b"", b""), trustee,
         identity.checkTransfer("0x" + "00" * 20, subject)[0] == "0x51"),
        ("issue", issued.issue, (subject, 1, b""), servicer, identity.checkTransfer("0x" + "00" * 20, subject)[0] == "0x51"),
        ("claim", issued.claim, (), subject, bytes(identity.claimBlocker(subject)) == OK),
    ]
    for name, fn, args, sender, allowed in paths:
        assert _attempt(fn, *args, sender=sender) == allowed, (name, "registry allows" if allowed else "registry refuses")
    reason = bytes(identity.claimBlocker(subject))
    assert _claim_answer(issued, subject) == (("0x51", OK) if reason == OK else ("0x56", reason))
