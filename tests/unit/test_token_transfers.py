"""ERC-20 behaviour and the transfer rules: every ERC-1066 status code from canTransfer, the same code in
the TransferBlocked revert of every transfer path."""

from __future__ import annotations

import pytest

from chainabs.chain import tokens
from plugins.token import FACE, KY, US, YEAR, assert_error, b32, blocked, plain

ZERO = "0x" + "00" * 20


def test_erc20_metadata(issued, currency, verified, originator):
    assert issued.name() == "ChainABS 2025-1 Class A"
    assert issued.symbol() == "CABS-A"
    assert issued.decimals() == currency.decimals() == 6
    assert issued.totalSupply() == 5 * FACE == issued.originalFace() == issued.totalIssued()
    assert issued.balanceOf(verified[0]) == FACE and issued.balanceOf(originator) == FACE
    assert issued.holderCount() == 5
    assert issued.couponBps() == 450 and issued.currency() == currency


def test_transfer_and_transfer_from(issued, verified):
    a, b, c = verified[:3]
    tx = issued.transfer(b, 10, {"from": a})
    assert tx.return_value is True
    assert plain(tx.events["Transfer"].values()) == (str(a), str(b), 10)
    assert issued.balanceOf(a) == FACE - 10 and issued.balanceOf(b) == FACE + 10
    tx = issued.approve(c, 25, {"from": a})
    assert plain(tx.events["Approval"].values()) == (str(a), str(c), 25)
    assert issued.allowance(a, c) == 25
    assert issued.transferFrom(a, b, 20, {"from": c}).return_value is True
    assert issued.allowance(a, c) == 5
    blocked(issued.transferFrom, a, b, 6, sender=c, frm=a, to=b, code=0x53, reason="INSUFFICIENT_ALLOWANCE")
    code, reason, part = issued.canTransferFrom(a, b, 6, b"", {"from": c})
    assert (str(code), bytes(reason)) == ("0x53", b32("INSUFFICIENT_ALLOWANCE"))
    issued.approve(c, 2**256 - 1, {"from": a})
    issued.transferFrom(a, b, 100, {"from": c})
    assert issued.allowance(a, c) == 2**256 - 1  # infinite allowance is not decremented
    assert issued.holderCount() == 5


def test_transfer_with_data_and_self_transfer(issued, verified):
    a, b = verified[:2]
    issued.transferWithData(b, 7, b"\x01\x02", {"from": a})
    issued.approve(b, 3, {"from": a})
    issued.transferFromWithData(a, verified[2], 3, b"", {"from": b})
    assert issued.balanceOf(verified[2]) == FACE + 3
    issued.transfer(a, 5, {"from": a})
    assert issued.balanceOf(a) == FACE - 10


def test_transfer_to_new_holder_and_exit_update_holder_count(issued, verified):
    issued.transfer(verified[5], FACE, {"from": verified[0]})
    assert issued.holderCount() == 5 and issued.balanceOf(verified[0]) == 0
    issued.transfer(verified[6], 1, {"from": verified[5]})
    assert issued.holderCount() == 6


def _status(token, sender, to, value):
    code, reason, partition = token.canTransfer(to, value, b"", {"from": sender})
    return int(str(code), 16), bytes(reason).rstrip(b"\0").decode(), bytes(partition).rstrip(b"\0").decode()


def test_success_status(issued, verified):
    assert _status(issued, verified[0], verified[1], 1) == (0x51, "", "unrestricted")
    check = tokens.check_transfer(issued, verified[0], verified[1], 1)
    assert check.ok and check.meaning == "transfer success"


@pytest.mark.parametrize("case", [
    "balance", "receiver_zero", "paused", "lockup", "sender_not_verified", "sender_expired", "sender_frozen",
    "sender_jurisdiction", "receiver_not_verified", "receiver_expired", "receiver_frozen", "receiver_jurisdiction",
    "min_holding_sender", "min_holding_receiver", "max_holders",
])
def test_every_rule_reports_and_blocks_with_the_same_code(issued, identity, kyc_agent, admin, verified, originator, accounts, chain, case):
    sender, to, value = verified[0], verified[1], 100
    expected = {
        "balance": (0x52, "INSUFFICIENT_BALANCE"), "receiver_zero": (0x57, "RECEIVER_ZERO_ADDRESS"),
        "paused": (0x54, "PAUSED"), "lockup": (0x55, "LOCKUP"),
        "min_holding_sender": (0x50, "MIN_HOLDING_SENDER"), "min_holding_receiver": (0x50, "MIN_HOLDING_RECEIVER"),
        "max_holders": (0x50, "MAX_HOLDERS"),
    }
    if case == "balance":
        value = FACE + 1
    elif case == "receiver_zero":
        to = ZERO
    elif case == "paused":
        issued.pause({"from": admin})
    elif case == "lockup":
        sender = originator
    elif case.startswith(("sender_", "receiver_")):
        side, rule = case.split("_", 1)
        subject = accounts[18]
        if rule == "not_verified":
            pass
        else:
            identity.registerInvestor(subject, KY if rule == "jurisdiction" else US, 1, chain.time() + 1000,
                                      {"from": kyc_agent})
        if side == "sender":
            # the subject must hold tokens: a controller moves them there before the rule bites
            identity.registerInvestor(subject, US, 1, chain.time() + 1000, {"from": kyc_agent})
            issued.controllerTransfer(verified[0], subject, 1000, b"", b"", {"from": accounts[5]})
            if rule == "not_verified":
                identity.removeInvestor(subject, {"from": kyc_agent})
            elif rule == "jurisdiction":
                identity.registerInvestor(subject, KY, 1, chain.time() + 1000, {"from": kyc_agent})
            sender = subject
        else:
            to = subject
        if rule == "expired":
            chain.sleep(2000)
            chain.mine()
        if rule == "frozen":
            identity.setFrozen(subject, True, {"from": kyc_agent})
        expected[case] = (0x56 if side == "sender" else 0x57, case.upper())
    elif case == "min_holding_sender":
        issued.setMinimumHolding(FACE // 2, {"from": admin})
        value = FACE - FACE // 4
    elif case == "min_holding_receiver":
        issued.setMinimumHolding(FACE // 2, {"from": admin})
        to = verified[6]
    elif case == "max_holders":
        issued.setMaxHolders(5, {"from": admin})
        to = verified[6]
    code, reason = expected[case]
    got = _status(issued, sender, to, value)
    assert got[:2] == (code, reason)
    blocked(issued.transfer, to, value, sender=sender, frm=sender, to=to, code=code, reason=reason)
    blocked(issued.transferWithData, to, value, b"", sender=sender, frm=sender, to=to, code=code, reason=reason)
    if case != "lockup":  # by partition: the unrestricted partition hits the same rule
        blocked(issued.transferByPartition, b32("unrestricted"), to, value, b"", sender=sender, frm=sender, to=to,
                code=code, reason=reason)
    issued.approve(accounts[7], 2**256 - 1, {"from": sender})
    blocked(issued.transferFrom, sender, to, value, sender=accounts[7], frm=sender, to=to, code=code, reason=reason)
    issued.authorizeOperator(accounts[7], {"from": sender})
    part = b32("locked") if case == "lockup" else b32("unrestricted")
    blocked(issued.operatorTransferByPartition, part, sender, to, value, b"", b"", sender=accounts[7], frm=sender,
            to=to, code=code, reason=reason)


def test_min_holding_allows_full_exit_and_max_holders_allows_replacement(issued, admin, verified):
    issued.setMinimumHolding(FACE // 2, {"from": admin})
    issued.setMaxHolders(5, {"from": admin})
    issued.transfer(verified[6], FACE, {"from": verified[0]})  # whole holding moves: holder count unchanged
    assert issued.holderCount() == 5
    blocked(issued.transfer, verified[7], FACE // 2, sender=verified[1], frm=verified[1], to=verified[7],
            code=0x50, reason="MAX_HOLDERS")


def test_unpause_restores_transfers(issued, admin, verified):
    tx = issued.pause({"from": admin})
    assert "TransfersPaused" in tx.events and issued.paused()
    tx = issued.unpause({"from": admin})
    assert "TransfersUnpaused" in tx.events and not issued.paused()
    issued.transfer(verified[1], 1, {"from": verified[0]})


def test_operator_without_authorization_is_invalid_operator(issued, verified, accounts):
    blocked(issued.operatorTransferByPartition, b32("unrestricted"), verified[0], verified[1], 1, b"", b"",
            sender=accounts[7], frm=verified[0], to=verified[1], code=0x58, reason="NOT_OPERATOR")
    code, reason, _ = issued.canTransferByPartition(verified[0], verified[1], b32("unrestricted"), 1, b"",
                                                    {"from": accounts[7]})
    assert (str(code), bytes(reason)) == ("0x58", b32("NOT_OPERATOR"))


def test_no_redemption_while_the_deal_owes_principal(issued, verified, trustee, originator, servicer):
    """Finding 1 of the integrity review: one holder's redeem(1) desynchronised the token from the SPV's class
    book and froze the deal. Before the deal settles the tranche, every redemption path is refused with
    ERC-1066 0x55 "PRINCIPAL_OWED" and nothing moves."""
    holder = verified[0]
    issued.approve(verified[1], FACE, {"from": holder})
    issued.authorizeOperator(verified[1], {"from": holder})
    before = (issued.totalSupply(), issued.currentPrincipal(), issued.balanceOf(holder))
    for fn, args, sender in [
        (issued.redeem, (1, b""), holder),
        (issued.redeemFrom, (holder, 1, b""), verified[1]),
        (issued.redeemByPartition, (b32("unrestricted"), 1, b""), holder),
        (issued.operatorRedeemByPartition, (b32("unrestricted"), holder, 1, b""), verified[1]),
        (issued.controllerRedeem, (holder, 1, b"", b""), trustee),
    ]:
        blocked(fn, *args, sender=sender, frm=holder, to=None, code=0x55, reason="PRINCIPAL_OWED")
    blocked(issued.redeemByPartition, b32("locked"), 1, b"", sender=originator, frm=originator, to=None, code=0x55,
            reason="PRINCIPAL_OWED")
    assert (issued.totalSupply(), issued.currentPrincipal(), issued.balanceOf(holder)) == before
    assert not issued.isSettled()
    tx = issued.settle({"from": servicer})
    assert tx.events["TrancheSettled"]["deal"] == servicer and issued.isSettled() and not issued.isIssuable()
    issued.redeem(1, b"", {"from": holder})
    assert issued.balanceOf(holder) == FACE - 1


def test_redeem_checks_sender(issued, identity, kyc_agent, verified, admin, servicer):
    issued.settle({"from": servicer})
    identity.setFrozen(verified[0], True, {"from": kyc_agent})
    blocked(issued.redeem, 1, b"", sender=verified[0], frm=verified[0], to=None, code=0x56, reason="SENDER_FROZEN")
    issued.pause({"from": admin})
    blocked(issued.redeem, 1, b"", sender=verified[1], frm=verified[1], to=None, code=0x54, reason="PAUSED")
    issued.unpause({"from": admin})
    blocked(issued.redeem, FACE + 1, b"", sender=verified[1], frm=verified[1], to=None, code=0x52,
            reason="INSUFFICIENT_BALANCE")
    tx = issued.redeem(FACE, b"\x09", {"from": verified[1]})
    assert plain(tx.events["Redeemed"].values()) == (str(verified[1]), str(verified[1]), FACE, b"\x09")
    assert issued.totalSupply() == 4 * FACE and issued.holderCount() == 4 and issued.totalRedeemed() == FACE
    issued.approve(verified[3], 10, {"from": verified[2]})
    issued.redeemFrom(verified[2], 10, b"", {"from": verified[3]})
    blocked(issued.redeemFrom, verified[2], 1, b"", sender=verified[3], frm=verified[2], to=None, code=0x53,
            reason="INSUFFICIENT_ALLOWANCE")


def test_issue_rules(issued, tranche, servicer, accounts, admin, verified):
    blocked(issued.issue, accounts[18], 1, b"", sender=servicer, frm=None, to=accounts[18], code=0x57,
            reason="RECEIVER_NOT_VERIFIED")
    blocked(issued.issue, ZERO, 1, b"", sender=servicer, frm=None, to=None, code=0x57, reason="RECEIVER_ZERO_ADDRESS")
    issued.setMaxHolders(5, {"from": admin})
    blocked(issued.issue, verified[5], 1, b"", sender=servicer, frm=None, to=verified[5], code=0x50, reason="MAX_HOLDERS")
    issued.setMinimumHolding(10, {"from": admin})
    tx = issued.issue(verified[0], 5, b"\x01", {"from": servicer})
    assert plain(tx.events["Issued"].values()) == (str(servicer), str(verified[0]), 5, b"\x01")
    assert issued.currentPrincipal() == 5 * FACE + 5
    assert_error(issued.issueByPartition, b32("other"), verified[0], 1, b"", sender=servicer,
                 error="InvalidPartition(bytes32)", values=(b32("other"),))
    assert_error(issued.issue, verified[0], 2**96, b"", sender=servicer,
                 error="ValueOutOfRange(bytes32,uint256,uint256)")
    tx = issued.closeIssuance({"from": servicer})
    assert "IssuanceClosed" in tx.events and not issued.isIssuable()
    assert_error(issued.issue, verified[0], 1, b"", sender=servicer, error="IssuanceNotAllowed()")
    assert_error(issued.closeIssuance, sender=servicer, error="IssuanceNotAllowed()")


def test_approve_zero_spender_rejected(issued, verified):
    assert_error(issued.approve, ZERO, 1, sender=verified[0], error="ZeroAddressNotAllowed(bytes32)",
                 values=(b32("spender"),))


def test_admin_settings_emit_and_range_checked(issued, admin, chain):
    end = issued.lockupEnd()
    assert issued.setLockupEnd(end + 10, {"from": admin}).events["LockupEndSet"]["lockupEnd"] == end + 10
    # The retained slice's lock-up (risk retention) can never be cut short, not even by the admin.
    assert_error(issued.setLockupEnd, end, sender=admin, error="LockupCannotShorten(uint256,uint256)",
                 values=(end + 10, end))
    assert issued.setMinimumHolding(7, {"from": admin}).events["MinimumHoldingSet"]["minimumHolding"] == 7
    assert issued.setMaxHolders(9, {"from": admin}).events["MaxHoldersSet"]["maxHolders"] == 9
    assert (issued.minimumHolding(), issued.maxHolders()) == (7, 9)
    assert_error(issued.setLockupEnd, 2**40, sender=admin, error="ValueOutOfRange(bytes32,uint256,uint256)")
    assert_error(issued.setMaxHolders, 2**32, sender=admin, error="ValueOutOfRange(bytes32,uint256,uint256)")
    assert_error(issued.setMinimumHolding, 2**96, sender=admin, error="ValueOutOfRange(bytes32,uint256,uint256)")
