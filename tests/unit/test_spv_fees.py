"""SPV fees: booked at each close (never sent by it), paid out to the recipient by anyone, settled to the old
recipient when the trustee replaces it, and a recipient that cannot receive never stops the waterfall."""

from __future__ import annotations

from chainabs.chain import spv as spvlib
from chainabs.dev.sandbox import roll_rate_reports
from plugins.spvtests import run_period
from plugins.token import assert_error


def _owed(d) -> list[int]:
    return [int(d.spv.feeOwed(k)) for k in range(len(d.model.fees_paid))]


def test_a_close_books_the_fees_and_pays_no_recipient(deal, stranger):
    d = deal
    recipients = list(d.spv.feeRecipients())
    before = [int(d.currency.balanceOf(r)) for r in recipients]
    for report in roll_rate_reports(d, months=2):
        run_period(d, report, stranger)
    earned = d.model.fees_paid
    assert all(earned) and _owed(d) == earned == [int(d.spv.feePaidTotal(k)) for k in range(len(earned))]
    assert [int(d.currency.balanceOf(r)) for r in recipients] == before
    ledger = spvlib.read_ledger(d.spv)
    assert ledger == d.model.ledger and ledger.fees_owed == sum(earned) and ledger.fees_paid == 0
    ledger.check()
    assert int(d.currency.balanceOf(d.spv)) == ledger.held


def test_anyone_withdraws_a_fee_but_only_its_recipient_is_paid(deal, stranger):
    d = deal
    run_period(d, roll_rate_reports(d, months=1)[0], stranger)
    recipient = d.spv.feeRecipients()[0]
    owed = d.model.fee_owed(0)
    stranger_before, recipient_before = int(d.currency.balanceOf(stranger)), int(d.currency.balanceOf(recipient))
    tx = spvlib.withdraw_fees(d.spv, stranger, 0)
    assert owed > 0 and d.model.withdraw_fees(0) == owed
    ev = tx.event("FeesWithdrawn")
    assert (ev["feeIndex"], ev["recipient"], ev["caller"], ev["amount"]) == (0, recipient, stranger, owed)
    assert int(d.currency.balanceOf(recipient)) == recipient_before + owed
    assert int(d.currency.balanceOf(stranger)) == stranger_before
    assert int(d.spv.feeOwed(0)) == 0 and int(d.spv.feePaidTotal(0)) == d.model.fees_paid[0]
    # Nothing left: a second withdrawal pays nothing and says nothing.
    again = spvlib.withdraw_fees(d.spv, stranger, 0)
    assert "FeesWithdrawn" not in again.events and int(d.currency.balanceOf(recipient)) == recipient_before + owed
    ledger = spvlib.read_ledger(d.spv)
    assert ledger == d.model.ledger and ledger.fees_paid == owed
    ledger.check()
    assert_error(d.spv.withdrawFees, 9, sender=stranger, error="UnknownFee(uint256)", values=(9,))
    assert_error(d.spv.feeOwed, 9, sender=stranger, error="UnknownFee(uint256)", values=(9,))


def test_a_new_recipient_is_paid_only_what_the_fee_earns_after_the_change(deal, stranger, trustee, investors):
    d = deal
    reports = roll_rate_reports(d, months=2)
    run_period(d, reports[0], stranger)
    old, new = d.spv.feeRecipients()[1], investors[7]
    earned_before = d.model.fee_owed(1)
    old_before = int(d.currency.balanceOf(old))
    tx = d.spv.setFeeRecipient(1, new, {"from": trustee})
    assert d.model.withdraw_fees(1) == earned_before > 0
    assert tx.events["FeesWithdrawn"]["recipient"] == old and tx.events["FeesWithdrawn"]["amount"] == earned_before
    assert tx.events["FeeRecipientChanged"]["current"] == new
    assert int(d.currency.balanceOf(old)) == old_before + earned_before
    run_period(d, reports[1], stranger)
    new_before = int(d.currency.balanceOf(new))
    spvlib.withdraw_fees(d.spv, stranger, 1)
    assert int(d.currency.balanceOf(new)) == new_before + d.model.withdraw_fees(1)
    assert int(d.currency.balanceOf(old)) == old_before + earned_before
    assert spvlib.read_ledger(d.spv) == d.model.ledger


def test_a_blocked_recipient_cannot_stop_the_waterfall(deal, stranger, trustee, investors):
    d = deal
    reports = roll_rate_reports(d, months=2)
    blocked = d.spv.feeRecipients()[0]
    d.currency.setBlocked(blocked, True, {"from": d.roles["arranger"]})
    for report in reports:  # every close still runs: fees are only booked
        run_period(d, report, stranger)
    owed = d.model.fee_owed(0)
    assert owed > 0 and _owed(d)[0] == owed
    assert_error(d.spv.withdrawFees, 0, sender=stranger, error="AccountBlocked(address)", values=(blocked,))
    # The trustee redirects the fee: paying the blocked recipient fails, so what it earned stays with the fee.
    tx = d.spv.setFeeRecipient(0, investors[8], {"from": trustee})
    ev = tx.events["FeeSettlementFailed"]
    assert (ev["feeIndex"], ev["previous"], ev["amount"]) == (0, blocked, owed)
    assert "FeesWithdrawn" not in tx.events and int(d.spv.feeOwed(0)) == owed
    before = int(d.currency.balanceOf(investors[8]))
    spvlib.withdraw_fees(d.spv, stranger, 0)
    assert int(d.currency.balanceOf(investors[8])) == before + d.model.withdraw_fees(0)
    assert spvlib.read_ledger(d.spv) == d.model.ledger


def test_only_the_owner_blocks_accounts_on_the_test_currency(deal, stranger):
    d = deal
    assert_error(d.currency.setBlocked, stranger, True, sender=stranger, error="OwnableUnauthorizedAccount(address)",
                 values=(stranger,))
    tx = d.currency.setBlocked(stranger, True, {"from": d.roles["arranger"]})
    assert tx.events["Blocklisted"]["account"] == stranger and d.currency.isBlocked(stranger)
