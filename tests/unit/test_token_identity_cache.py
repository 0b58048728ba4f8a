"""The tranche token's identity cache: who switches it, what resets it, and that a restrictive change in the
registry refuses a stamped holder's next transfer or claim in the same block it is made."""

from __future__ import annotations

import pytest

from chainabs.chain import tokens
from chainabs.chain.connection import advance_to
from chainabs.chain.sender import transact
from plugins.token import FACE, GB, KY, US, access_denied, assert_error, blocked, plain, set_storage, state_slot

DAY = 24 * 3600
MASK16 = (1 << 16) - 1


@pytest.fixture(scope="module")
def registry(identity):
    """The module's identity registry (tests/plugins/token.py: US and GB allowed)."""
    return identity


@pytest.fixture(scope="module")
def pair(registry, kyc_agent, investors, chain):
    """Two investors (US) verified for 30 days and 5 hours."""
    a, b = investors[0], investors[1]
    expiry = chain.time() + 30 * DAY + 5 * 3600
    tokens.register_investors(registry, kyc_agent, [
        {"address": str(h), "jurisdiction": US, "investor_type": 1, "expiry": expiry} for h in (a, b)])
    return a, b


def _tranche(registry, admin, currency, originator, servicer, trustee, *, cache: bool):
    return tokens.deploy_tranche(name="Cache A", symbol="CA", currency=currency, registry=registry, admin=admin,
                                 coupon_bps=500, residual_recipient=originator, deal=servicer,
                                 roles={"CONTROLLER_ROLE": [trustee]}, identity_cache=cache)


@pytest.fixture(scope="module")
def cached(registry, pair, admin, currency, originator, servicer, trustee):
    """A listener token; both investors hold FACE (issued, so stamped) and have moved once."""
    tok = _tranche(registry, admin, currency, originator, servicer, trustee, cache=True)
    for h in pair:
        transact(tok.issue, h, FACE, b"", sender=servicer)
    transact(currency.mint, servicer, 10**12, sender=admin)
    transact(currency.approve, tok, 2**256 - 1, sender=servicer)
    return tok


@pytest.fixture
def fresh(chain):
    chain.snapshot()
    yield
    chain.revert()


def test_listeners_are_the_admins_and_switch_the_cache(registry, admin, kyc_agent, currency, originator, servicer,
                                                      trustee, accounts, fresh):
    tok = _tranche(registry, admin, currency, originator, servicer, trustee, cache=False)
    assert plain(tok.identityCache()) == (False, 0)
    stranger = accounts[9]
    for who in (stranger, kyc_agent):
        access_denied(registry.addIdentityListener, tok, sender=who, role="DEFAULT_ADMIN_ROLE")
    receipt = transact(registry.addIdentityListener, tok, sender=admin)
    added = receipt.event("IdentityListenerAdded")
    assert (str(added["admin"]), str(added["listener"])) == (str(admin), str(tok.address))
    reset = receipt.event("IdentityCacheReset")
    assert (int(reset["generation"]), reset["enabled"]) == (1, True)
    assert plain(tok.identityCache()) == (True, 1)
    assert str(tok.address) in plain(registry.identityListeners())
    assert_error(registry.addIdentityListener, tok, sender=admin, error="IdentityListenerExists(address)",
                 values=(str(tok.address),))
    # Only the token's own registry may reset its cache: a stranger, the admin and another registry are refused.
    other = tokens.deploy_identity_registry(admin, [])
    for caller in (stranger, admin):
        assert_error(tok.resetIdentityCache, True, sender=caller, error="NotIdentityRegistry(address,address)",
                     values=(str(caller), str(registry.address)))
    assert_error(other.addIdentityListener, tok, sender=admin, error="NotIdentityRegistry(address,address)",
                 values=(str(other.address), str(registry.address)))
    assert plain(other.identityListeners()) == ()
    for who in (stranger, kyc_agent):
        access_denied(registry.removeIdentityListener, tok, sender=who, role="DEFAULT_ADMIN_ROLE")
    receipt = transact(registry.removeIdentityListener, tok, sender=admin)
    assert str(receipt.event("IdentityListenerRemoved")["listener"]) == str(tok.address)
    assert (int(receipt.event("IdentityCacheReset")["generation"]), receipt.event("IdentityCacheReset")["enabled"]) == (
        2, False)
    assert plain(tok.identityCache()) == (False, 2)
    assert str(tok.address) not in plain(registry.identityListeners())
    assert_error(registry.removeIdentityListener, tok, sender=admin, error="IdentityListenerUnknown(address)",
                 values=(str(tok.address),))


def test_at_most_sixteen_listeners(registry, admin, currency, originator, servicer, trustee, fresh):
    present = len(registry.identityListeners())
    for _ in range(16 - present):
        _tranche(registry, admin, currency, originator, servicer, trustee, cache=True)
    assert len(registry.identityListeners()) == 16
    extra = _tranche(registry, admin, currency, originator, servicer, trustee, cache=False)
    assert_error(registry.addIdentityListener, extra, sender=admin, error="IdentityListenerLimit(uint256)", values=(16,))


def _warm(tok, a, b):
    """Both parties move, so both carry a stamp of the current generation."""
    transact(tok.transfer, b, 1, sender=a)
    transact(tok.transfer, a, 1, sender=b)


RESTRICTIONS = {
    "freeze": ("setFrozen", lambda a: (a, True), "kyc", "FROZEN"),
    "remove": ("removeInvestor", lambda a: (a,), "kyc", "NOT_VERIFIED"),
    "jurisdiction disallowed": ("setJurisdictionAllowed", lambda a: (US, False), "admin", "JURISDICTION"),
    "moved to a disallowed jurisdiction": (
        "registerInvestor", lambda a: (a, KY, 1, 2**40), "kyc", "JURISDICTION"),
}


@pytest.mark.parametrize("change", list(RESTRICTIONS))
def test_a_restrictive_change_refuses_a_stamped_holder_at_once(cached, registry, pair, admin, kyc_agent, servicer,
                                                              change, fresh):
    a, b = pair
    _warm(cached, a, b)
    generation = int(cached.identityCache()[1])
    fn, args, who, reason = RESTRICTIONS[change]
    receipt = transact(getattr(registry, fn), *args(a), sender=kyc_agent if who == "kyc" else admin)
    # In the same transaction the registry dropped the investor's clearance, or all of them (a jurisdiction).
    if change == "jurisdiction disallowed":
        assert int(receipt.event("IdentityCacheReset")["generation"]) == generation + 1
    else:
        assert [str(e["holder"]) for e in receipt.events["IdentityCleared"]] == [str(a)]
        assert int(cached.identityCache()[1]) == generation  # b's stamp still stands
    blocked(cached.transfer, b, 1, sender=a, frm=a, to=b, code=0x56, reason="SENDER_" + reason)
    if change == "jurisdiction disallowed":  # b is in the same jurisdiction: refused as the sender
        blocked(cached.transfer, a, 1, sender=b, frm=b, to=a, code=0x56, reason="SENDER_" + reason)
    else:
        blocked(cached.transfer, a, 1, sender=b, frm=b, to=a, code=0x57, reason="RECEIVER_" + reason)
    if reason != "JURISDICTION":  # jurisdictions stop transfers, not collection
        transact(cached.distribute, 1_000, 0, sender=servicer)
        assert_error(cached.claim, sender=a, error="ClaimBlocked(address,bytes1,bytes32)")
        assert plain(cached.canClaim(a))[0] == b"\x56"


def test_permissive_changes_keep_the_stamps(cached, registry, pair, admin, kyc_agent, investors, chain, fresh):
    a, b = pair
    _warm(cached, a, b)
    generation = int(cached.identityCache()[1])
    expiry = chain.time() + 60 * DAY
    permissive = [
        transact(registry.registerInvestor, investors[2], GB, 1, expiry, sender=kyc_agent),  # a new investor
        transact(registry.registerInvestor, a, US, 2, expiry, sender=kyc_agent),  # later expiry, another type
        transact(registry.setFrozen, b, False, sender=kyc_agent),  # unfreeze
        transact(registry.setJurisdictionAllowed, KY, True, sender=admin),
        transact(registry.setInvestorId, [a, b], b"\x01" * 32, sender=kyc_agent),
    ]
    # Restrictive calls that change nothing: a second freeze, disallowing a disallowed jurisdiction.
    transact(registry.setFrozen, b, True, sender=kyc_agent)
    permissive += [transact(registry.setFrozen, b, True, sender=kyc_agent),
                   transact(registry.setJurisdictionAllowed, 4, False, sender=admin)]
    assert all("IdentityCacheReset" not in r.events and "IdentityCleared" not in r.events for r in permissive)
    assert int(cached.identityCache()[1]) == generation
    # An earlier expiry is restrictive: it drops the investor's clearance.
    receipt = transact(registry.registerInvestor, a, US, 2, expiry - DAY, sender=kyc_agent)
    assert [str(e["holder"]) for e in receipt.events["IdentityCleared"]] == [str(a)]
    # A batch with updates resets once.
    receipt = transact(registry.registerInvestors, [a, b], [GB, GB], [1, 1], [expiry, expiry], sender=kyc_agent)
    assert len(receipt.events["IdentityCacheReset"]) == 1


def test_a_stamp_ends_before_the_verification_does(cached, registry, pair, kyc_agent, web3, fresh):
    """A stamp keeps the expiry's day only: from that day's start the registry is asked again, and the holder
    still moves until the exact expiry, then is refused."""
    a, b = pair
    _warm(cached, a, b)
    expiry = int(registry.identityOf(a)[4])
    assert expiry % DAY != 0
    advance_to(expiry - expiry % DAY + 60)  # the expiry's day has begun: stamps no longer valid
    transact(cached.transfer, b, 1, sender=a)  # the registry clears it (not expired yet)
    advance_to(expiry + 1)
    blocked(cached.transfer, b, 1, sender=a, frm=a, to=b, code=0x56, reason="SENDER_EXPIRED")
    assert plain(cached.canClaim(a))[0] == b"\x56"


def test_the_cache_saves_the_registry_call(cached, registry, pair, admin, currency, originator, servicer, trustee,
                                           fresh):
    """The same warm transfer costs over 6,000 gas less on the listener token than on a token that asks the
    registry (two identity reads, the jurisdiction word and the call)."""
    a, b = pair
    direct = _tranche(registry, admin, currency, originator, servicer, trustee, cache=False)
    for h in pair:
        transact(direct.issue, h, FACE, b"", sender=servicer)
    gas = {}
    for name, tok in (("cached", cached), ("direct", direct)):
        _warm(tok, a, b)
        gas[name] = int(transact(tok.transfer, b, 1, sender=a).gas_used)
    assert gas["direct"] - gas["cached"] > 6_000, gas
    # Switching the cache off makes the listener token ask the registry again (the same cost as the other).
    transact(registry.removeIdentityListener, cached, sender=admin)
    assert int(transact(cached.transfer, b, 1, sender=a).gas_used) == gas["direct"]


def test_generations_are_never_reused(cached, registry, pair, admin, kyc_agent, web3, fresh):
    """At the last generation the cache switches off for good: a stamp of an old generation can never become valid
    again, and every transfer asks the registry (which refuses a frozen holder)."""
    a, b = pair
    slot = state_slot(cached, web3)
    word = int.from_bytes(web3.eth.get_storage_at(str(cached.address), slot), "big")
    set_storage(cached, web3, slot, (word & ~(MASK16 << 208)) | ((MASK16 - 1) << 208))
    assert plain(cached.identityCache()) == (True, MASK16 - 1)
    _warm(cached, a, b)
    transact(registry.setJurisdictionAllowed, GB, False, sender=admin)  # a, b are in the US: a new generation only
    assert plain(cached.identityCache()) == (True, MASK16)
    _warm(cached, a, b)  # stamps of the last generation
    transact(registry.setJurisdictionAllowed, GB, True, sender=admin)
    receipt = transact(registry.setJurisdictionAllowed, GB, False, sender=admin)
    assert (int(receipt.event("IdentityCacheReset")["generation"]), receipt.event("IdentityCacheReset")["enabled"]) == (
        MASK16, False)
    assert plain(cached.identityCache()) == (False, MASK16)
    transact(registry.setFrozen, a, True, sender=kyc_agent)  # the stamp's generation is still current: not used
    blocked(cached.transfer, b, 1, sender=a, frm=a, to=b, code=0x56, reason="SENDER_FROZEN")
