"""Second attacker's review of the tranche token's identity cache (issue 17, session 25, after the first review).

Questions: (1) can an investor's eligibility drop without its stamp cleared or the generation bumped; (2) can a
caller choose a gas limit at which a listener's update fails while the registry's change goes through (above all in
`removeIdentityListener`, whose failed farewell is tolerated); (3) can `clearIdentity` be abused; (4) the 16-bit epoch.
Its findings first (fixed: the tests hold the fixes), then what was checked and found sound.
"""

from __future__ import annotations

import pytest

from chainabs.chain import tokens
from plugins.token import FACE, GB, KY, US, YEAR, assert_error, b32, chain_now, refused_before_sending

DAY = 24 * 3600
OK = b"\0" * 32
ZERO = "0x" + "00" * 20


def _rpc(web3, method: str, params: list):
    reply = web3.provider.make_request(method, params)
    assert "error" not in reply, (method, reply)
    return reply.get("result")


def _topic(web3, signature: str) -> str:
    return "0x" + bytes(web3.keccak(text=signature)).hex()


def _send_raw(web3, fn, *args, sender, gas: int) -> tuple[bool, list]:
    """Send ``fn(*args)`` from ``sender`` with transaction gas limit ``gas`` (no estimation); (status, logs)."""
    tx = {"from": str(sender), "to": str(fn._address), "data": fn.encode_input(*args), "gas": gas}
    receipt = web3.eth.wait_for_transaction_receipt(web3.eth.send_transaction(tx))
    return receipt["status"] == 1, list(receipt["logs"])


def _estimate(web3, fn, *args, sender) -> int:
    return int(web3.eth.estimate_gas({"from": str(sender), "to": str(fn._address), "data": fn.encode_input(*args)}))


def _sweep(web3, fn, *args, sender, gas_limits, probe):
    """For each gas limit: send ``fn(*args)`` on a snapshot, call ``probe(ok, logs)`` on the result, revert."""
    out = []
    for gas in gas_limits:
        snap = _rpc(web3, "evm_snapshot", [])
        ok, logs = _send_raw(web3, fn, *args, sender=sender, gas=gas)
        out.append((gas, ok, probe(ok, logs)))
        _rpc(web3, "evm_revert", [snap])
    return out


def _has_event(web3, logs, signature: str) -> bool:
    topic = _topic(web3, signature)
    return any(("0x" + bytes(log["topics"][0]).hex()) == topic for log in logs if log["topics"])


# ---------------------------------------------------------------------------------------------------------------
# Findings of the second review (fixed; these hold the fixes)
# ---------------------------------------------------------------------------------------------------------------


def test_a_listener_gets_its_whole_allowance_at_every_gas_limit_the_registry_accepts(identity, admin, web3,
                                                                                   IdentityListenerMock):
    """The registry promises each listener LISTENER_GAS (50,000). At every gas limit `removeIdentityListener` accepts,
    from `eth_estimateGas`'s up, a listener that refuses anything short of its whole allowance (the mock in mode 4)
    gets it: no limit makes the farewell fail and the removal go through with `IdentityListenerUnreachable`. (The
    check before the call counts the call's own cost, the cold account and the arguments, besides EIP-150's 1/64;
    before it did not, and a ~920-gas window of limits, `eth_estimateGas`'s among them, starved the listener.)"""
    mock = IdentityListenerMock.deploy({"from": admin})
    identity.addIdentityListener(mock, {"from": admin})
    mock.meter(0, {"from": admin})
    fn = identity.removeIdentityListener
    # what the mock sees when it is given its whole allowance (a generous gas limit)
    ok, _ = _send_raw(web3, mock.meter, 0, sender=admin, gas=100_000)
    snap = _rpc(web3, "evm_snapshot", [])
    ok, logs = _send_raw(web3, fn, mock, sender=admin, gas=1_000_000)
    full = int(mock.entryGas())
    _rpc(web3, "evm_revert", [snap])
    assert ok and not _has_event(web3, logs, "IdentityListenerUnreachable(address,address)")
    mock.meter(full, {"from": admin})  # from now on the mock refuses anything short of its whole allowance
    estimate = _estimate(web3, fn, mock, sender=admin)
    limits = list(range(estimate - 200, estimate + 1_600, 20))
    unreachable = "IdentityListenerUnreachable(address,address)"
    results = _sweep(web3, fn, mock, sender=admin, gas_limits=limits,
                     probe=lambda ok, logs: ok and _has_event(web3, logs, unreachable))
    starved = [gas for gas, ok, hit in results if hit]
    print(f"\nfull allowance seen by the mock {full}; eth_estimateGas {estimate}; starved but accepted at "
          f"{starved[:1]}..{starved[-1:]} ({len(starved)} of {len(limits)} limits)")
    assert not starved, (
        f"removeIdentityListener went through at gas limits {starved[0]}..{starved[-1]} (eth_estimateGas: {estimate}) "
        f"with the listener given less than its 50,000 allowance: declared unreachable and dropped without its update")


def test_deploy_tranche_refuses_a_full_registry_before_deploying(identity, tranche, currency, admin, originator,
                                                                 web3, IdentityListenerMock):
    """`deploy_tranche(identity_cache=True)` refuses a registry that already informs 16 listeners, naming the limit,
    before it sends anything: no token is left on chain without its listener and its roles."""
    while len(identity.identityListeners()) < 16:
        identity.addIdentityListener(IdentityListenerMock.deploy({"from": admin}), {"from": admin})
    refused_before_sending(web3, admin, lambda: tokens.deploy_tranche(
        name="Seventeenth", symbol="S17", currency=currency, registry=identity, admin=admin, coupon_bps=100,
        residual_recipient=originator), "16 listeners")


def test_nobody_moves_units_from_the_zero_address(issued, identity, stranger, verified, web3):
    """Nobody moves units from the zero address: `canTransfer` from it answers 0x56 and `transferFrom(address(0), x, 0)`
    (a zero allowance covers zero units) is refused, so no `Transfer(address(0), x, 0)`, which log readers would take
    for a mint, can be logged by a stranger. (The registry reads a zero sender as an issuance; before, no transfer path
    refused it.)"""
    receiver = verified[1]
    code = issued.canTransfer(receiver, 0, b"", {"from": ZERO})[0]
    ok = _attempt_raw(web3, issued.transferFrom, ZERO, receiver, 0, sender=stranger)
    assert (str(code), ok) == ("0x56", False), (
        f"a move from the zero address: canTransfer {code}, transferFrom(address(0), x, 0) "
        f"{'succeeded (Transfer(0x0, x, 0) emitted by a stranger)' if ok else 'refused'}")


def _attempt_raw(web3, fn, *args, sender) -> bool:
    ok, _ = _send_raw(web3, fn, *args, sender=sender, gas=300_000)
    return ok


# ---------------------------------------------------------------------------------------------------------------
# Checked and found sound
# ---------------------------------------------------------------------------------------------------------------


def _token_update_gas(web3, token, identity, fn_name: str, *args) -> int:
    """Gas a genuine token's update takes when the registry calls it (estimated from the registry's address, the
    21,000 and the calldata of a transaction taken off)."""
    fn = getattr(token, fn_name)
    data = fn.encode_input(*args)
    calldata = sum(16 if b else 4 for b in bytes.fromhex(data[2:]))
    _rpc(web3, "anvil_impersonateAccount", [str(identity)])
    _rpc(web3, "anvil_setBalance", [str(identity), hex(10**18)])
    try:
        total = int(web3.eth.estimate_gas({"from": str(identity), "to": str(token), "data": data}))
    finally:
        _rpc(web3, "anvil_stopImpersonatingAccount", [str(identity)])
    return total - 21_000 - calldata


def test_no_gas_limit_makes_a_genuine_tokens_farewell_fail(issued, identity, admin, web3, IdentityListenerMock):
    """removeIdentityListener of a real TrancheToken swept over gas limits from below eth_estimateGas to 1,600 above:
    every accepted transaction switched the token's cache off with a new generation and none reported the token
    unreachable; below the threshold it reverts (nothing changes). The token's farewell takes ~10,000 gas of the
    ~49,300 the registry guarantees at the threshold (the mock below measures that floor)."""
    gen = int(issued.identityCache()[1])
    fn = identity.removeIdentityListener
    estimate = _estimate(web3, fn, issued, sender=admin)
    unreachable = "IdentityListenerUnreachable(address,address)"

    def probe(ok, logs):
        return (ok, _has_event(web3, logs, unreachable), tuple(issued.identityCache()))

    results = _sweep(web3, fn, issued, sender=admin, gas_limits=range(estimate - 300, estimate + 1_600, 50),
                     probe=probe)
    accepted = [r for r in results if r[1]]
    assert accepted and any(not r[1] for r in results), "the sweep must straddle the threshold"
    for gas, _, (ok, hit, cache) in accepted:
        assert not hit and tuple(cache) == (False, gen + 1), (gas, hit, cache)
    used = _token_update_gas(web3, issued, identity, "resetIdentityCache", False)
    # the floor a listener is given at the lowest accepted limit (the mock measures what it sees)
    mock = IdentityListenerMock.deploy({"from": admin})
    identity.addIdentityListener(mock, {"from": admin})
    mock.meter(0, {"from": admin})
    low = _estimate(web3, fn, mock, sender=admin)
    ok, _ = _send_raw(web3, fn, mock, sender=admin, gas=low)
    floor = int(mock.entryGas())
    print(f"\nfarewell: eth_estimateGas {estimate}, token's update {used} gas, floor given at the threshold {floor}")
    assert ok and used * 3 < floor


def test_no_gas_limit_lets_a_freeze_skip_the_last_of_16_listeners(issued, identity, admin, kyc_agent, verified, web3,
                                                                  IdentityListenerMock):
    """The worst loop: 15 listeners before the token (MAX_LISTENERS = 16), the holder stamped. Swept over gas limits
    around eth_estimateGas, every accepted freeze cleared the holder's stamp in the token (IdentityCleared), so the
    token refuses at once; the gas the loop needs after each call is covered by the next iteration's check."""
    identity.removeIdentityListener(issued, {"from": admin})
    for _ in range(15):
        identity.addIdentityListener(IdentityListenerMock.deploy({"from": admin}), {"from": admin})
    identity.addIdentityListener(issued, {"from": admin})
    assert str(identity.identityListeners()[-1]) == str(issued)
    holder = verified[0]
    issued.transfer(verified[1], 0, {"from": holder})  # stamped
    fn = identity.setFrozen
    estimate = _estimate(web3, fn, holder, True, sender=kyc_agent)
    cleared = "IdentityCleared(address)"

    def probe(ok, logs):
        refused = issued.canTransfer(verified[1], 1, b"", {"from": holder})[0] == "0x56"
        return (_has_event(web3, logs, cleared), refused, bool(identity.identityOf(holder)[1]))

    results = _sweep(web3, fn, holder, True, sender=kyc_agent, gas_limits=range(estimate - 300, estimate + 1_500, 60),
                     probe=probe)
    assert any(r[1] for r in results) and any(not r[1] for r in results), "the sweep must straddle the threshold"
    for gas, ok, (hit, refused, frozen) in results:
        assert frozen == ok, (gas, ok, frozen)
        if ok:
            assert hit and refused, (gas, hit, refused)
    print(f"\nfreeze with 16 listeners: eth_estimateGas {estimate}")


def test_clear_identity_is_the_registrys_alone_and_costs_a_holder_nothing_to_inflate(issued, identity, admin,
                                                                                    kyc_agent, stranger, verified,
                                                                                    web3):
    """Nobody but the token's own registry can clear a stamp (a stranger, the registry's admin, the KYC agent); the
    update reads one account word and writes it only when a stamp is there (a non-holder costs no write, no event),
    so a holder cannot make the KYC agent's restrictive changes dearer than one account word per token and at most 16
    tokens listen. The update takes well under the allowance."""
    for caller in (stranger, admin, kyc_agent):
        assert_error(issued.clearIdentity, verified[0], sender=caller,
                     error="NotIdentityRegistry(address,address)", values=(str(caller), str(identity)))
    issued.transfer(verified[1], 0, {"from": verified[0]})  # verified[0] stamped
    stamped = _token_update_gas(web3, issued, identity, "clearIdentity", verified[0])
    bare = _token_update_gas(web3, issued, identity, "clearIdentity", verified[6])  # never held, no stamp
    tx = identity.setFrozen(verified[6], True, {"from": kyc_agent})
    assert "IdentityCleared" not in tx.events
    tx = identity.setFrozen(verified[0], True, {"from": kyc_agent})
    assert tx.events["IdentityCleared"]["holder"] == verified[0]
    print(f"\nclearIdentity: stamped holder {stamped} gas, no stamp {bare} gas")
    assert bare < stamped < 20_000


def test_a_re_registration_changing_only_the_investor_type_needs_no_notice(issued, identity, kyc_agent, verified):
    """The investor type is in no transfer or claim rule (token, registry, market): a re-registration that changes
    only it (same jurisdiction, same or later expiry) notifies nobody, and the cached answers stay the registry's."""
    holder, other = verified[0], verified[1]
    issued.transfer(other, 0, {"from": holder})
    expiry = int(identity.identityOf(holder)[4])
    tx = identity.registerInvestor(holder, US, 1, expiry, {"from": kyc_agent})
    assert "IdentityCleared" not in tx.events and "IdentityCacheReset" not in tx.events
    assert issued.canTransfer(other, 1, b"", {"from": holder})[:2] == identity.checkTransfer(holder, other)
    assert issued.canTransfer(holder, 1, b"", {"from": other})[:2] == identity.checkTransfer(other, holder)


@pytest.mark.parametrize("batch", [
    [("KY", 0), ("US", 0)],            # away and back in one batch: a restrictive step, a new generation
    [("US", 10), ("US", 5)],           # later, then earlier than that (still later than before): conservative
    [("US", 10), ("US", -1)],          # later, then earlier than before: net restrictive
    [("US", -1), ("US", 10)],          # earlier, then later again
    [("GB", 0), ("US", 0), ("US", 0)],
], ids=["away-and-back", "later-then-less-late", "later-then-earlier", "earlier-then-later", "three"])
def test_the_same_wallet_twice_in_a_registration_batch(issued, identity, kyc_agent, verified, web3, batch):
    """The same wallet registered several times in one batch: each entry is compared with the one before it, so any
    batch whose net effect restricts the wallet has a restrictive entry and bumps the generation; after the batch the
    cached answers (both directions, claim) equal the registry's, including after the earlier expiry passes."""
    holder, other = verified[0], verified[1]
    issued.transfer(other, 0, {"from": holder})
    issued.transfer(holder, 0, {"from": other})  # both stamped
    base = int(identity.identityOf(holder)[4])
    codes = {"US": US, "GB": GB, "KY": KY}
    now = chain_now(web3)
    expiries = [base + d * DAY if d >= 0 else now + DAY // 2 for _, d in batch]
    identity.registerInvestors([holder] * len(batch), [codes[j] for j, _ in batch], [3] * len(batch), expiries,
                               {"from": kyc_agent})
    for _ in range(2):
        for frm, to in ((holder, other), (other, holder)):
            assert issued.canTransfer(to, 1, b"", {"from": frm})[:2] == identity.checkTransfer(frm, to)
        reason = bytes(identity.claimBlocker(holder))
        got = issued.canClaim(holder)
        assert (got[0], bytes(got[1])) == (("0x51", OK) if reason == OK else ("0x56", reason))
        web3.provider.make_request("evm_increaseTime", [DAY])
        web3.provider.make_request("evm_mine", [])


def _set_automine(web3, on: bool) -> None:
    _rpc(web3, "evm_setAutomine", [on])


def test_a_stamp_written_in_the_same_block_before_the_clear_is_dropped(issued, identity, kyc_agent, verified, web3):
    """One block: the KYC agent unfreezes a holder (no notice), the holder moves a unit (the registry is asked and
    the holder stamped), the agent freezes it again (its stamp cleared), the holder tries again: refused. The stamp
    written earlier in the block never outlives the clear that follows it."""
    holder, other = verified[0], verified[1]
    identity.setFrozen(holder, True, {"from": kyc_agent})
    steps = [
        (identity.setFrozen, (holder, False), kyc_agent),
        (issued.transfer, (other, 1), holder),
        (identity.setFrozen, (holder, True), kyc_agent),
        (issued.transfer, (other, 1), holder),
    ]
    _set_automine(web3, False)
    try:
        hashes = []
        for i, (fn, args, sender) in enumerate(steps):  # decreasing fees: fee or arrival order, both as listed
            tx = {"from": str(sender), "to": str(fn._address), "data": fn.encode_input(*args), "gas": 300_000,
                  "gasPrice": (50 - i) * 10**9}
            hashes.append(web3.eth.send_transaction(tx))
        _rpc(web3, "evm_mine", [])
    finally:
        _set_automine(web3, True)
    receipts = [web3.eth.get_transaction_receipt(h) for h in hashes]
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert sorted(receipts, key=lambda r: r["transactionIndex"]) == receipts
    assert [r["status"] for r in receipts] == [1, 1, 1, 0]
    assert issued.balanceOf(other) == FACE + 1


def test_the_stamp_lapses_exactly_when_the_verification_expires_at_a_day_boundary(issued, identity, kyc_agent,
                                                                                  verified, web3):
    """An expiry at exactly midnight (day D): the stamp's day is D, so the stamp is honoured up to the last second
    before it and lapses at the very second the registry's `expiry <= now` refuses; an expiry one second after
    midnight: the stamp lapses at midnight, the registry is asked and still allows for that second, then refuses."""
    a, b, receiver = verified[0], verified[2], verified[1]
    day = chain_now(web3) // DAY + 3
    identity.registerInvestor(a, US, 3, day * DAY, {"from": kyc_agent})
    identity.registerInvestor(b, US, 3, (day + 1) * DAY + 1, {"from": kyc_agent})
    issued.transfer(receiver, 0, {"from": a})
    issued.transfer(receiver, 0, {"from": b})  # both stamped
    results = []
    for at, sender in ((day * DAY - 1, a), (day * DAY, a), ((day + 1) * DAY, b), ((day + 1) * DAY + 1, b)):
        _rpc(web3, "evm_setNextBlockTimestamp", [at])
        fn = issued.transfer
        ok, _ = _send_raw(web3, fn, receiver, 1, sender=sender, gas=300_000)
        assert int(web3.eth.get_block("latest")["timestamp"]) == at
        results.append(ok)
    assert results == [True, False, True, False]


def test_a_stamp_written_by_issue_is_cleared_by_a_freeze(tranche, identity, servicer, kyc_agent, verified):
    """`issue` asks the registry and stamps the receiver; a freeze then clears that stamp (IdentityCleared) and the
    holder's transfer and claim are refused at once."""
    holder, other = verified[5], verified[1]
    tokens.issue(tranche, servicer, holder, FACE)
    tokens.issue(tranche, servicer, other, FACE)
    tx = identity.setFrozen(holder, True, {"from": kyc_agent})
    assert tx.events["IdentityCleared"]["holder"] == holder
    code, reason = tranche.canTransfer(other, 1, b"", {"from": holder})[:2]
    assert (str(code), bytes(reason)) == ("0x56", b32("SENDER_FROZEN"))
    got = tranche.canClaim(holder)
    assert (got[0], bytes(got[1])) == ("0x56", b32("SENDER_FROZEN"))
