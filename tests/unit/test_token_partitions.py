"""ERC-1410 partitions and operators, ERC-1644 controller operations, ERC-1643 documents."""

from __future__ import annotations

from chainabs.chain import tokens
from chainabs.chain.contracts import LOCKED
from plugins.token import FACE, YEAR, assert_error, b32, blocked, plain

UNR, LCK = b32("unrestricted"), b32("locked")


def test_partition_balances(issued, verified, originator):
    assert issued.balanceOfByPartition(UNR, verified[0]) == FACE
    assert issued.balanceOfByPartition(LCK, originator) == FACE
    assert issued.balanceOfByPartition(b32("other"), originator) == 0
    assert [bytes(p) for p in issued.partitionsOf(originator)] == [LCK]
    assert [bytes(p) for p in issued.partitionsOf(verified[0])] == [UNR]
    assert list(issued.partitionsOf(verified[7])) == []


def test_lockup_blocks_until_end_then_lands_unrestricted(issued, verified, originator, chain, servicer):
    issued.settle({"from": servicer})  # redemptions open (the lock-up still applies to them)
    blocked(issued.transferByPartition, LCK, verified[0], 1, b"", sender=originator, frm=originator,
            to=verified[0], code=0x55, reason="LOCKUP")
    blocked(issued.redeemByPartition, LCK, 1, b"", sender=originator, frm=originator, to=None, code=0x55,
            reason="LOCKUP")
    chain.sleep(YEAR + 10)
    chain.mine()
    tx = issued.transferByPartition(LCK, verified[0], 10, b"\x07", {"from": originator})
    assert tx.return_value == "0x" + UNR.hex()
    ev = tx.events["TransferByPartition"]
    assert plain((ev["fromPartition"], ev["operator"], ev["from"], ev["to"], ev["value"])) == (
        LCK, str(originator), str(originator), str(verified[0]), 10)
    assert issued.balanceOfByPartition(UNR, verified[0]) == FACE + 10
    # ERC-20 transfer may now draw on the locked partition
    issued.transfer(verified[1], 20, {"from": originator})
    assert issued.balanceOfByPartition(LCK, originator) == FACE - 30
    issued.redeemByPartition(LCK, 5, b"", {"from": originator})
    assert issued.balanceOf(originator) == FACE - 35


def test_unrestricted_partition_cannot_spend_locked(issued, originator, verified, chain):
    chain.sleep(YEAR + 10)
    chain.mine()
    blocked(issued.transferByPartition, UNR, verified[0], 1, b"", sender=originator, frm=originator,
            to=verified[0], code=0x52, reason="INSUFFICIENT_BALANCE")
    blocked(issued.transferByPartition, b32("bogus"), verified[0], 1, b"", sender=originator, frm=originator,
            to=verified[0], code=0x50, reason="INVALID_PARTITION")
    code, reason, part = issued.canTransferByPartition(originator, verified[0], b32("bogus"), 1, b"",
                                                       {"from": originator})
    assert (str(code), bytes(reason), bytes(part)) == ("0x50", b32("INVALID_PARTITION"), b32("bogus"))


def test_operators(issued, verified, accounts, servicer):
    issued.settle({"from": servicer})
    holder, op = verified[0], accounts[7]
    tx = issued.authorizeOperatorByPartition(UNR, op, {"from": holder})
    assert plain(tx.events["AuthorizedOperatorByPartition"].values()) == (UNR, str(op), str(holder))
    assert issued.isOperatorForPartition(UNR, op, holder) and not issued.isOperator(op, holder)
    issued.operatorTransferByPartition(UNR, holder, verified[1], 5, b"", b"\x01", {"from": op})
    issued.operatorRedeemByPartition(UNR, holder, 5, b"", {"from": op})
    assert issued.balanceOf(holder) == FACE - 10
    tx = issued.revokeOperatorByPartition(UNR, op, {"from": holder})
    assert "RevokedOperatorByPartition" in tx.events
    blocked(issued.operatorRedeemByPartition, UNR, holder, 1, b"", sender=op, frm=holder, to=None, code=0x58,
            reason="NOT_OPERATOR")
    tx = issued.authorizeOperator(op, {"from": holder})
    assert plain(tx.events["AuthorizedOperator"].values()) == (str(op), str(holder))
    assert issued.isOperator(op, holder) and issued.isOperatorForPartition(LCK, op, holder)
    tx = issued.revokeOperator(op, {"from": holder})
    assert "RevokedOperator" in tx.events and not issued.isOperator(op, holder)
    assert_error(issued.authorizeOperator, "0x" + "00" * 20, sender=holder, error="ZeroAddressNotAllowed(bytes32)")


def test_issue_by_partition_emits(tranche, servicer, originator):
    tx = tokens.issue(tranche, servicer, originator, 50, partition=LOCKED, data=b"\x05")
    ev = tx.event("IssuedByPartition")
    assert plain((ev["partition"], ev["operator"], ev["to"], ev["value"], ev["data"])) == (
        LCK, str(servicer), str(originator), 50, b"\x05")


def test_controller_transfer_overrides_sender_state_but_checks_receiver(issued, identity, kyc_agent, trustee, verified, originator, accounts, admin):
    identity.setFrozen(verified[0], True, {"from": kyc_agent})
    issued.pause({"from": admin})
    tx = issued.controllerTransfer(verified[0], verified[5], 100, b"\x01", b"\x02", {"from": trustee})
    ev = tx.events["ControllerTransfer"]
    assert plain((ev["controller"], ev["from"], ev["to"], ev["value"], ev["data"], ev["operatorData"])) == (
        str(trustee), str(verified[0]), str(verified[5]), 100, b"\x01", b"\x02")
    assert "Transfer" in tx.events and issued.balanceOf(verified[5]) == 100
    blocked(issued.controllerTransfer, verified[0], accounts[18], 1, b"", b"", sender=trustee, frm=verified[0],
            to=accounts[18], code=0x57, reason="RECEIVER_NOT_VERIFIED")
    identity.setFrozen(verified[1], True, {"from": kyc_agent})
    blocked(issued.controllerTransfer, verified[0], verified[1], 1, b"", b"", sender=trustee, frm=verified[0],
            to=verified[1], code=0x57, reason="RECEIVER_FROZEN")
    blocked(issued.controllerTransfer, verified[0], verified[2], FACE, b"", b"", sender=trustee, frm=verified[0],
            to=verified[2], code=0x52, reason="INSUFFICIENT_BALANCE")
    # locked units keep their partition (and lock-up) with the new holder
    issued.controllerTransfer(originator, verified[6], 40, b"", b"", {"from": trustee})
    assert issued.balanceOfByPartition(LCK, verified[6]) == 40


def test_controller_redeem_and_one_way_renounce(issued, trustee, admin, verified, servicer):
    issued.settle({"from": servicer})
    tx = issued.controllerRedeem(verified[0], 30, b"\x01", b"\x02", {"from": trustee})
    ev = tx.events["ControllerRedemption"]
    assert plain((ev["controller"], ev["tokenHolder"], ev["value"])) == (str(trustee), str(verified[0]), 30)
    assert issued.totalSupply() == 5 * FACE - 30
    assert issued.isControllable()
    tx = issued.renounceControl({"from": admin})
    assert tx.events["ControlRenounced"]["admin"] == admin
    assert not issued.isControllable()
    assert_error(issued.controllerTransfer, verified[0], verified[1], 1, b"", b"", sender=trustee,
                 error="NotControllable()")
    assert_error(issued.controllerRedeem, verified[0], 1, b"", b"", sender=trustee, error="NotControllable()")
    assert_error(issued.renounceControl, sender=admin, error="NotControllable()")


def test_documents(tranche, admin, stranger):
    h1, h2 = b"\x11" * 32, b"\x22" * 32
    tx = tranche.setDocument(b32("offering-circular"), "ipfs://oc", h1, {"from": admin})
    assert plain(tx.events["DocumentUpdated"].values()) == (b32("offering-circular"), "ipfs://oc", h1)
    tranche.setDocument(b32("trust-deed"), "ipfs://td", h2, {"from": admin})
    tranche.setDocument(b32("rating-letter"), "ipfs://rl", h2, {"from": admin})
    uri, doc_hash, updated = tranche.getDocument(b32("offering-circular"))
    assert (uri, bytes(doc_hash)) == ("ipfs://oc", h1) and updated > 0
    tranche.setDocument(b32("offering-circular"), "ipfs://oc2", h2, {"from": admin})
    assert [bytes(n) for n in tranche.getAllDocuments()] == [b32("offering-circular"), b32("trust-deed"), b32("rating-letter")]
    tx = tranche.removeDocument(b32("offering-circular"), {"from": admin})
    assert plain(tx.events["DocumentRemoved"].values()) == (b32("offering-circular"), "ipfs://oc2", h2)
    assert [bytes(n) for n in tranche.getAllDocuments()] == [b32("rating-letter"), b32("trust-deed")]
    assert tranche.getDocument(b32("offering-circular"))[0] == ""
    assert_error(tranche.removeDocument, b32("offering-circular"), sender=admin, error="InvalidDocumentName(bytes32)")
    assert_error(tranche.setDocument, b"\0" * 32, "x", h1, sender=admin, error="InvalidDocumentName(bytes32)")
