"""Lazy accumulator history: a distribution stores no per-epoch slot; the first checkpoint that moves an
account into an epoch writes that epoch's history. Payouts stay exact (checked against the Fraction model
``ExactShares``) whichever operation is the first checkpoint and however many epochs pass without one."""

from __future__ import annotations

import pytest

from chainabs.chain import tokens
from chainabs.chain.contracts import UNRESTRICTED
from chainabs.chain.sender import transact
from plugins.token import FACE, ExactShares


@pytest.fixture
def book(issued, verified, originator):
    """The exact model of the ``issued`` tranche: four investors and the originator (locked) hold FACE."""
    model = ExactShares(list(verified) + [originator])
    for h in list(verified[:4]) + [originator]:
        model.issue(h, FACE)
    return model


def distribute(token, servicer, model, interest, principal):
    tx = tokens.distribute(token, servicer, interest, principal)
    model.distribute(interest, principal)
    return tx


def claim(token, holder, model):
    return model.record_claim(holder, transact(token.claim, sender=holder))


def check_all(token, model, holders):
    for h in holders:
        model.check_holder(token, h)
    model.check_totals(token)


def test_several_distributions_without_checkpoint_then_transfer_and_claims(issued, servicer, verified, originator, book):
    a, b = verified[:2]
    everyone = list(verified[:5]) + [originator]
    # three epochs in which nobody moves: no history is stored, every view still exact
    for interest, principal in ((1_000_003, 7_777_777), (333_333, 0), (9_999_991, 123_457)):
        distribute(issued, servicer, book, interest, principal)
        check_all(issued, book, everyone)
    # the transfer is the first checkpoint of epoch 3 (both parties were at epoch 0)
    issued.transfer(b, FACE // 3, {"from": a})
    book.move(a, b, FACE // 3)
    check_all(issued, book, everyone)
    distribute(issued, servicer, book, 2_000_017, 5_000_000)
    assert claim(issued, a, book) != (0, 0)
    assert claim(issued, b, book) != (0, 0)
    check_all(issued, book, everyone)
    # a second transfer in the same epoch (history already there), then two more epochs and claims
    issued.transfer(a, FACE // 7, {"from": b})
    book.move(b, a, FACE // 7)
    distribute(issued, servicer, book, 4_444_447, 0)
    distribute(issued, servicer, book, 10, 3)
    for h in (a, b, verified[2]):
        claim(issued, h, book)
    check_all(issued, book, everyone)
    assert issued.distributionCount() == 6


def test_first_checkpoint_by_every_path(issued, servicer, verified, trustee, originator, book):
    """Partition transfer, forced transfer, operator transfer and transferFrom each open an epoch's history."""
    a, b, c, d, e = verified[:5]
    everyone = list(verified[:5]) + [originator]
    distribute(issued, servicer, book, 7_000_001, 1_000_000)
    issued.transferByPartition(tokens.UNRESTRICTED, d, FACE // 5, b"", {"from": a})  # epoch 1: partition transfer
    book.move(a, d, FACE // 5)
    check_all(issued, book, everyone)
    distribute(issued, servicer, book, 3_000_000, 2_000_001)
    issued.controllerTransfer(originator, e, FACE // 2, b"", b"", {"from": trustee})  # epoch 2: forced
    book.move(originator, e, FACE // 2)
    check_all(issued, book, everyone)
    distribute(issued, servicer, book, 1_234_567, 0)
    issued.authorizeOperator(c, {"from": b})
    issued.operatorTransferByPartition(UNRESTRICTED, b, c, FACE // 9, b"", b"", {"from": c})  # epoch 3
    book.move(b, c, FACE // 9)
    distribute(issued, servicer, book, 5, 999_999)
    issued.approve(d, FACE, {"from": c})
    issued.transferFrom(c, d, FACE // 11, {"from": d})     # epoch 4: transferFrom
    book.move(c, d, FACE // 11)
    for h in everyone:
        claim(issued, h, book)
    check_all(issued, book, everyone)


def test_new_holder_enters_an_epoch_without_history(issued, servicer, verified, originator, book):
    """A holder with no balance and no checkpoint is moved into an epoch whose history is written by that
    very transfer, then earns from later epochs only."""
    a, newcomer = verified[0], verified[5]
    distribute(issued, servicer, book, 5_000_000, 0)
    distribute(issued, servicer, book, 0, 2_500_000)
    assert issued.withdrawableFundsOf(newcomer) == 0
    issued.transfer(newcomer, FACE // 4, {"from": a})
    book.move(a, newcomer, FACE // 4)
    assert issued.withdrawableFundsOf(newcomer) == 0  # earned nothing from epochs 1 and 2
    distribute(issued, servicer, book, 8_000_000, 4_000_000)
    check_all(issued, book, [a, newcomer, originator])
    assert claim(issued, newcomer, book) == (400_000, 200_000)  # 1/20 of the supply in epoch 3
    check_all(issued, book, [a, newcomer, originator])


def test_emptied_holder_swept_in_an_epoch_without_history(issued, servicer, verified, trustee, admin, originator, book):
    """sweepDust leaves an empty account's checkpoint alone; the account re-enters later with its old credit
    intact and earns exactly from its return."""
    a, b = verified[:2]
    everyone = list(verified[:4]) + [originator]
    distribute(issued, servicer, book, 7, 0)  # 1.4 units each
    issued.controllerTransfer(a, b, FACE, b"", b"", {"from": trustee})
    book.move(a, b, FACE)
    distribute(issued, servicer, book, 11, 5)  # epoch 2: nobody moves, no history
    tx = issued.sweepDust([a], {"from": admin})
    assert tx.events["DustSwept"]["amount"] == 0  # a's 0.4 closed, below one unit
    book.sweep(0, 1)
    assert issued.withdrawableFundsOf(a) == 1
    issued.transfer(a, FACE // 2, {"from": b})  # a and b move to epoch 2 here: history of epoch 2 written
    book.move(b, a, FACE // 2)
    distribute(issued, servicer, book, 10_000_000, 0)
    assert claim(issued, a, book) == (1 + 1_000_000, 0)
    for h in everyone:
        claim(issued, h, book)
    check_all(issued, book, everyone)


def test_history_is_written_once_per_epoch_and_only_when_needed(issued, servicer, verified):
    """Gas shows where the history slot is paid: by the first checkpoint of an epoch, once; never by the
    distribution, whether or not the previous epoch stored history."""
    a, b, c, d = verified[:4]
    tokens.distribute(issued, servicer, 1_000_000, 1_000_000)
    issued.transfer(b, 1_000, {"from": a})
    issued.transfer(d, 1_000, {"from": c})
    tokens.distribute(issued, servicer, 1_000_000, 1_000_000)
    first = issued.transfer(b, 1_000, {"from": a}).gas_used        # writes the history of this epoch
    second_pair = issued.transfer(d, 1_000, {"from": c}).gas_used  # same work, history already there
    warm = issued.transfer(b, 1_000, {"from": a}).gas_used          # both already checkpointed
    assert first - second_pair >= 20_000  # the new history slot
    assert second_pair > warm
    after_history = tokens.distribute(issued, servicer, 1_000_000, 1_000_000).gas_used
    after_none = tokens.distribute(issued, servicer, 1_000_000, 1_000_000).gas_used  # previous epoch: none
    assert after_history == after_none
