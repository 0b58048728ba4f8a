"""Rules that the gas work of issue 17 moved: the holding rules are read only when a flag in the tranche's state
says one is set (the flag must follow both settings), the holder count lives in that state word, and the venue
tries the cash leg before reading the buyer's balance and allowance (a refusal must still name its cause, or
pass the currency's own error through)."""

from __future__ import annotations

from chainabs.chain.contracts import UNRESTRICTED
from plugins.market import ZERO, PAR, expiry, order_id, refused
from plugins.token import FACE, blocked, revert_data


def test_holding_rules_flag_follows_both_settings(issued, verified, admin):
    a, new = verified[0], verified[5]  # verified[5] holds no unit
    issued.setMaxHolders(issued.holderCount(), {"from": admin})
    issued.setMinimumHolding(FACE // 2, {"from": admin})
    blocked(issued.transfer, new, 1, sender=a, frm=a, to=new, code=0x50, reason="MIN_HOLDING_RECEIVER")
    issued.setMinimumHolding(0, {"from": admin})  # the maximum number of holders still applies
    blocked(issued.transfer, new, 1, sender=a, frm=a, to=new, code=0x50, reason="MAX_HOLDERS")
    code, reason, _ = issued.canTransfer(new, 1, b"", {"from": a})
    assert str(code) == "0x50"
    issued.setMaxHolders(0, {"from": admin})  # no rule left: the configuration is not even read
    issued.transfer(new, 1, {"from": a})
    assert issued.holderCount() == 6 and issued.balanceOf(new) == 1
    issued.transfer(a, 1, {"from": new})  # the new holder leaves again
    assert issued.holderCount() == 5
    issued.setMinimumHolding(FACE // 2, {"from": admin})
    blocked(issued.transfer, new, 1, sender=a, frm=a, to=new, code=0x50, reason="MIN_HOLDING_RECEIVER")


def test_pause_is_a_state_flag_that_forced_transfers_ignore(issued, verified, admin, trustee):
    a, b = verified[:2]
    issued.pause({"from": admin})
    assert issued.paused()
    blocked(issued.transfer, b, 1, sender=a, frm=a, to=b, code=0x54, reason="PAUSED")
    issued.controllerTransfer(a, b, 1, b"", b"", {"from": trustee})
    issued.unpause({"from": admin})
    assert not issued.paused()
    issued.transfer(b, 1, {"from": a})
    assert issued.balanceOf(b) == FACE + 2 and issued.holderCount() == 5


def test_take_passes_the_currencys_own_refusal_through(venue, issued, currency, traders, admin, chain):
    a, e = traders[0], traders[4]
    ask = order_id(venue.postAsk(issued, UNRESTRICTED, PAR, 10**6, expiry(chain), ZERO, {"from": a}))
    currency.setBlocked(a, True, {"from": admin})  # the seller may not receive the currency any more
    data = revert_data(venue.take, ask, 10**6, 2**256 - 1, sender=e)
    # the currency's own error (not CashUnavailable: the buyer's balance and allowance cover the cash)
    assert data[2:10] == _selector("AccountBlocked(address)") and data.lower().endswith(str(a)[2:].lower())
    currency.setBlocked(a, False, {"from": admin})
    venue.take(ask, 10**6, 2**256 - 1, {"from": e})
    assert issued.balanceOf(e) == 10**6


def _selector(signature: str) -> str:
    from brownie import web3

    return bytes(web3.keccak(text=signature))[:4].hex()
