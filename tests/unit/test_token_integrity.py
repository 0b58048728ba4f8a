"""Deal integrity at the token: claims of frozen or removed holders are refused and stay owed, a lost wallet is
recovered with its units and its unclaimed credit, the books close at the record date, and units are cancelled
only for a cancelled offering's refund."""

from __future__ import annotations

from chainabs.chain import tokens
from chainabs.chain.contracts import LOCKED, UNRESTRICTED
from plugins.token import FACE, YEAR, assert_error, b32, blocked, plain

INVESTOR_ID = b"\x42" * 32


def claim_blocked(token, holder, sender, code: int, reason: str) -> None:
    assert_error(token.claimFor, holder, sender=sender, error="ClaimBlocked(address,bytes1,bytes32)",
                 values=(str(holder), bytes([code]), b32(reason)))


def test_frozen_or_removed_holder_cannot_claim_and_the_money_stays_owed(issued, servicer, identity, kyc_agent,
                                                                          verified, currency, stranger, chain):
    """Finding 5: claim/claimFor checked no KYC state. A frozen, removed or expired holder's claim is refused with
    ERC-1066 0x56 and the reason; what it is owed stays withdrawable and is paid once the holder is cleared."""
    tokens.distribute(issued, servicer, 5_000_000, 10_000_000)
    holder = verified[0]
    owed = plain(issued.withdrawableOf(holder))
    assert sum(owed) > 0
    identity.setFrozen(holder, True, {"from": kyc_agent})
    assert tokens.check_claim(issued, holder).reason == "SENDER_FROZEN"
    claim_blocked(issued, holder, holder, 0x56, "SENDER_FROZEN")
    claim_blocked(issued, holder, stranger, 0x56, "SENDER_FROZEN")  # claimFor by anyone: same rule
    assert plain(issued.withdrawableOf(holder)) == owed
    identity.setFrozen(holder, False, {"from": kyc_agent})
    assert tokens.claim(issued, holder) == owed and currency.balanceOf(holder) == sum(owed)

    other = verified[1]
    identity.removeInvestor(other, {"from": kyc_agent})
    claim_blocked(issued, other, other, 0x56, "SENDER_NOT_VERIFIED")
    identity.registerInvestor(other, 840, 3, chain.time() + 100, {"from": kyc_agent})
    chain.sleep(200)
    chain.mine()
    claim_blocked(issued, other, other, 0x56, "SENDER_EXPIRED")
    assert plain(issued.withdrawableOf(other)) == owed
    identity.registerInvestor(other, 840, 3, chain.time() + YEAR, {"from": kyc_agent})
    assert tokens.claim(issued, other) == owed


def test_recover_a_lost_wallet_with_units_partitions_and_credit(issued, servicer, identity, kyc_agent, trustee,
                                                               verified, originator, accounts, currency, chain):
    """Finding 5: a controller transfer moved units but left the accrued credit payable only to the lost address.
    recoverWallet (controller, to a wallet the KYC agent linked to the same investor) moves units of both
    partitions and every unclaimed credit; the lost wallet keeps nothing."""
    lost, replacement = originator, accounts[17]
    tokens.register_investors(identity, kyc_agent, [{"address": str(replacement), "jurisdiction": 840,
                                                     "investor_type": 3, "expiry": chain.time() + YEAR}])
    tokens.distribute(issued, servicer, 7_000_000, 3_000_001)
    tokens.claim(issued, lost)
    tokens.distribute(issued, servicer, 2_000_000, 1_000_000)
    owed = plain(issued.withdrawableOf(lost))
    withdrawn = plain(issued.withdrawnOf(lost))
    partitions = (issued.balanceOfByPartition(UNRESTRICTED, lost), issued.balanceOfByPartition(LOCKED, lost))
    holders = issued.holderCount()
    identity.setFrozen(lost, True, {"from": kyc_agent})  # a compromised wallet is frozen first: still recoverable

    # Not linked to the same investor yet: refused, nothing moves.
    assert_error(issued.recoverWallet, lost, replacement, sender=trustee,
                 error="RecoveryRefused(address,address,bytes1,bytes32)",
                 values=(str(lost), str(replacement), bytes([0x57]), b32("NOT_SAME_INVESTOR")))
    tokens.link_wallets(identity, kyc_agent, [lost, replacement], INVESTOR_ID)
    assert identity.isSameInvestor(lost, replacement)
    # An unverified replacement is refused with the registry's receiver code.
    assert_error(issued.recoverWallet, lost, accounts[18], sender=trustee,
                 error="RecoveryRefused(address,address,bytes1,bytes32)",
                 values=(str(lost), str(accounts[18]), bytes([0x57]), b32("RECEIVER_NOT_VERIFIED")))

    tx = tokens.recover_wallet(issued, trustee, lost, replacement)
    ev = tx.event("WalletRecovered")
    assert plain((ev["controller"], ev["lost"], ev["replacement"], ev["units"])) == (
        str(trustee), str(lost), str(replacement), sum(partitions))
    assert issued.balanceOf(lost) == 0 and plain(issued.withdrawableOf(lost)) == (0, 0)
    assert (issued.balanceOfByPartition(UNRESTRICTED, replacement),
            issued.balanceOfByPartition(LOCKED, replacement)) == partitions
    assert plain(issued.withdrawableOf(replacement)) == owed
    assert plain(issued.withdrawnOf(replacement)) == withdrawn
    assert issued.holderCount() == holders
    # The recovered credit is paid to the replacement, and future distributions follow the units.
    assert tokens.claim(issued, replacement) == owed
    tokens.distribute(issued, servicer, 5_000_000, 0)
    assert issued.withdrawableOf(replacement)[0] == 5_000_000 * sum(partitions) // issued.totalSupply()
    assert_error(issued.claim, sender=lost, error="ClaimBlocked(address,bytes1,bytes32)")


def test_recovery_of_two_wallets_paid_at_the_rounding_slack(currency, identity, admin, servicer, trustee, originator,
                                                           verified, kyc_agent):
    """Attacker's review (session 29): a claim may pay up to 2**-24 units above a credit (the rounding slack, so
    that an exact share of k units is not paid k - 1). Two wallets each paid k that way, merged by a recovery, had
    a combined credit rounding to 2k - 1 against 2k withdrawn: the replacement's `withdrawableOf` reverted and its
    `claim` tried to send 2**256 - 1 until it earned a unit more. The merged credit now counts what was paid."""
    x, y, z = verified[0], verified[1], verified[2]
    unit = 2**32  # supply: each token unit earns exactly A / 2**32 of a distribution of A
    tok = tokens.deploy_tranche(
        name="Slack", symbol="SLK", currency=currency, registry=identity, admin=admin, coupon_bps=0,
        residual_recipient=originator, lockup_end=0, deal=servicer, roles={"CONTROLLER_ROLE": [trustee]},
    )
    for holder, units in ((x, 1), (y, 1), (z, unit - 2)):
        tokens.issue(tok, servicer, holder, units)
    currency.mint(servicer, 100 * unit, {"from": admin})
    k = 5
    tokens.distribute(tok, servicer, k * unit - 200, 0)  # each unit's exact share: k - 200 / 2**32
    assert plain(tok.withdrawableOf(x)) == plain(tok.withdrawableOf(y)) == (k, 0)
    assert tokens.claim(tok, x) == tokens.claim(tok, y) == (k, 0)
    tokens.link_wallets(identity, kyc_agent, [x, y], b32("investor-slack"))
    tokens.recover_wallet(tok, trustee, x, y)
    assert plain(tok.withdrawnOf(y)) == (2 * k, 0)
    assert int(tok.accumulativeFundsOf(y)) == 2 * k  # was 2k - 1: less earned than withdrawn
    assert plain(tok.withdrawableOf(y)) == (0, 0) and int(tok.withdrawableFundsOf(y)) == 0
    assert tokens.claim(tok, y) == (0, 0)
    # The next distribution is paid in full: the raise was below a unit and is never paid out as a unit.
    tokens.distribute(tok, servicer, 3 * unit, unit)
    assert plain(tok.withdrawableOf(y)) == (2 * 3, 2 * 1)
    before = int(currency.balanceOf(y))
    assert tokens.claim(tok, y) == (6, 2) and int(currency.balanceOf(y)) == before + 8
    assert int(currency.balanceOf(tok)) >= sum(int(tok.withdrawableFundsOf(h)) for h in (x, y, z))


def test_recovery_after_renounce_is_refused(issued, trustee, admin, verified):
    issued.renounceControl({"from": admin})
    assert_error(issued.recoverWallet, verified[0], verified[1], sender=trustee, error="NotControllable()")


def test_books_closed_between_record_date_and_distribution(issued, servicer, verified, trustee, stranger):
    """Finding 6 (record date): whoever held at the record date gets the coming distribution. Holder transfers
    are refused (0x54 BOOKS_CLOSED) from closeBooks to the distribution; forced moves still run."""
    a, b = verified[0], verified[1]
    tx = issued.closeBooks({"from": servicer})
    assert tx.events["BooksClosed"]["epoch"] == 0 and issued.booksClosed()
    blocked(issued.transfer, b, 1, sender=a, frm=a, to=b, code=0x54, reason="BOOKS_CLOSED")
    code, reason, _ = issued.canTransfer(b, 1, b"", {"from": a})
    assert (str(code), bytes(reason)) == ("0x54", b32("BOOKS_CLOSED"))
    issued.controllerTransfer(a, b, 1, b"", b"", {"from": trustee})  # court orders are not held up
    tokens.distribute(issued, servicer, 4_000_000, 0)  # the distribution reopens the books
    assert not issued.booksClosed()
    issued.transfer(b, 1, {"from": a})
    issued.closeBooks({"from": servicer})
    tx = issued.openBooks({"from": servicer})  # a period with nothing for the class reopens them explicitly
    assert "BooksOpened" in tx.events and not issued.booksClosed()


def test_cancel_units_only_before_the_first_distribution(tranche, servicer, verified, identity, kyc_agent):
    """Refunds of a cancelled offering: the deal cancels a holder's units (factor 1, exactly their face); a
    frozen holder's refund is refused (stays owed); after a distribution nothing can be cancelled."""
    a, b = verified[5], verified[6]  # not holders of the module's issued tranche
    supply, holders = tranche.totalSupply(), tranche.holderCount()
    tokens.issue(tranche, servicer, a, FACE)
    tokens.issue(tranche, servicer, b, FACE, partition=LOCKED)
    tx = tranche.cancel(a, {"from": servicer})
    assert tx.return_value == FACE and tx.events["UnitsCancelled"]["units"] == FACE
    assert tranche.totalSupply() == supply + FACE == tranche.currentPrincipal()
    assert tranche.holderCount() == holders + 1 and tranche.balanceOf(a) == 0
    assert tranche.cancel.call(a, {"from": servicer}) == 0
    identity.setFrozen(b, True, {"from": kyc_agent})
    assert_error(tranche.cancel, b, sender=servicer, error="ClaimBlocked(address,bytes1,bytes32)")
    identity.setFrozen(b, False, {"from": kyc_agent})
    tranche.closeIssuance({"from": servicer})
    assert_error(tranche.cancel, b, sender=servicer, error="CancelNotAllowed()")
