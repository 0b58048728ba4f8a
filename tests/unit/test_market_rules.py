"""Every rule of the venue and every refusal, each with its error and with nothing written: listing (role-gated,
the currency checked), the terms of an order, the token's own rules at posting (ERC-1066 code and reason of
the token) and at the fill (for the seller and the buyer), the cash leg, and cancels."""

from __future__ import annotations

import functools

from chainabs.chain import tokens
from chainabs.chain.contracts import LOCKED, UNRESTRICTED
from plugins.market import (CASH, DAY, P99, PAR, ZERO, blocked_by_token, expiry, market_state, order_id,
                            refused)
from plugins.token import FACE, YEAR, access_denied, b32

MAX_PRICE = 2**24 - 1


def _state(venue, issued, currency, accounts, ids=(), levels=()):
    return functools.partial(market_state, venue, issued, currency, accounts, ids, levels)


def test_listing_is_role_gated_and_checks_the_currency(venue, issued, currency, admin, stranger, traders, chain,
                                                        identity, originator):
    from brownie import TestStablecoin

    assert tuple(venue.listing(issued)) == (True, identity.address)
    assert venue.currency() == currency.address
    access_denied(venue.list, issued, sender=stranger, role="LISTER_ROLE")
    access_denied(venue.delist, issued, sender=stranger, role="LISTER_ROLE")
    access_denied(venue.grantRole, venue.LISTER_ROLE(), stranger, sender=stranger, role="DEFAULT_ADMIN_ROLE")
    refused(venue.list, ZERO, sender=admin, error="ZeroAddressNotAllowed(bytes32)", values=(b32("token"),))
    other = TestStablecoin.deploy("Other", "OTH", 6, {"from": admin})
    foreign = tokens.deploy_tranche(name="Other A", symbol="OA", currency=other, registry=identity, admin=admin,
                                    coupon_bps=100, residual_recipient=originator)
    refused(venue.list, foreign, sender=admin, error="CurrencyMismatch(address,address,address)",
            values=(foreign.address, other.address, currency.address))
    a, e = traders[0], traders[4]
    posted = order_id(venue.postAsk(issued, UNRESTRICTED, PAR, 10**6, expiry(chain), ZERO, {"from": a}))
    tx = venue.delist(issued, {"from": admin})
    assert dict(tx.events["TokenDelisted"]) == {"lister": admin, "token": issued.address}
    assert tuple(venue.listing(issued)) == (False, identity.address)
    state = _state(venue, issued, currency, [a, e], [posted])
    refused(venue.take, posted, 10**6, 2**256 - 1, sender=e, error="TokenNotListed(address)", values=(issued.address,),
            state=state)
    refused(venue.postBid, issued, PAR, 10**6, expiry(chain), ZERO, sender=e, error="TokenNotListed(address)",
            state=state)
    refused(venue.delist, issued, sender=admin, error="TokenNotListed(address)", values=(issued.address,))
    tx = venue.list(issued, {"from": admin})
    assert dict(tx.events["TokenListed"]) == {"lister": admin, "token": issued.address, "registry": identity.address}
    venue.take(posted, 10**6, 2**256 - 1, {"from": e})  # listed again: the order fills


def test_cancel_works_on_a_delisted_token(venue, issued, admin, traders, chain):
    posted = order_id(venue.postAsk(issued, UNRESTRICTED, PAR, 10**6, expiry(chain), ZERO, {"from": traders[0]}))
    venue.delist(issued, {"from": admin})
    tx = venue.cancel(posted, {"from": traders[0]})
    assert tx.events["OrderCancelled"]["quantity"] == 10**6


def test_order_terms_are_checked_on_both_sides(venue, issued, currency, traders, chain, stranger, admin):
    a, e = traders[0], traders[4]
    later = expiry(chain)
    state = _state(venue, issued, currency, [a, e])
    for post, maker, head in ((venue.postAsk, a, (issued, UNRESTRICTED)), (venue.postBid, e, (issued,))):
        refused(post, *head, PAR, 0, later, ZERO, sender=maker, error="ZeroQuantity()", state=state)
        refused(post, *head, 0, 10**6, later, ZERO, sender=maker, error="ZeroPrice()", state=state)
        refused(post, *head, MAX_PRICE + 1, 10**6, later, ZERO, sender=maker, error="ValueOutOfRange(bytes32,uint256,uint256)",
                values=(b32("price"), MAX_PRICE + 1, MAX_PRICE), state=state)
        refused(post, *head, PAR, 2**96, later, ZERO, sender=maker, error="ValueOutOfRange(bytes32,uint256,uint256)",
                values=(b32("quantity"), 2**96, 2**96 - 1), state=state)
        now = chain[-1].timestamp  # the latest block's time: the next block's is never earlier (chain.time() can be)
        refused(post, *head, PAR, 10**6, now - 1, ZERO, sender=maker, error="ExpiryNotInFuture(uint256,uint256)",
                state=state)
        refused(post, *head, PAR, 10**6, 2**40, ZERO, sender=maker, error="ValueOutOfRange(bytes32,uint256,uint256)",
                values=(b32("expiry"), 2**40, 2**40 - 1), state=state)
        refused(post, *head, PAR, 10**6, later, maker, sender=maker, error="SelfTrade(uint256,address)",
                values=(0, str(maker)), state=state)
        # one unit at a price of 0.0001 per 100 is no cash at all
        refused(post, *head, 1, 1, later, ZERO, sender=maker, error="ZeroCash(uint256,uint256)", values=(1, 10**18),
                state=state)
    refused(venue.postAsk, stranger, UNRESTRICTED, PAR, 10**6, later, ZERO, sender=a, error="TokenNotListed(address)",
            values=(str(stranger),), state=state)


def test_posting_an_ask_runs_the_token_rules_of_the_seller(venue, issued, currency, traders, originator, verified,
                                                           investors, kyc_agent, admin, servicer, identity, chain):
    a, b, e = traders[0], traders[1], traders[4]
    later = expiry(chain)
    state = _state(venue, issued, currency, [a, b, e, originator])
    # the venue must be the seller's operator (ERC-1410)
    blocked_by_token(venue.postAsk, issued, UNRESTRICTED, PAR, 10**6, later, ZERO, sender=originator, frm=originator,
                     to=None, code=0x58, reason="NOT_OPERATOR", state=state)
    issued.authorizeOperatorByPartition(LOCKED, venue, {"from": originator})
    # lock-up partition before the end of the lock-up
    blocked_by_token(venue.postAsk, issued, LOCKED, PAR, 10**6, later, ZERO, sender=originator, frm=originator, to=None,
                     code=0x55, reason="LOCKUP", state=state)
    blocked_by_token(venue.postAsk, issued, b32("other"), PAR, 10**6, later, ZERO, sender=a, frm=a, to=None, code=0x50,
                     reason="INVALID_PARTITION", state=state)
    blocked_by_token(venue.postAsk, issued, UNRESTRICTED, PAR, FACE + 1, later, ZERO, sender=a, frm=a, to=None,
                     code=0x52, reason="INSUFFICIENT_BALANCE", state=state)
    blocked_by_token(venue.postAsk, issued, UNRESTRICTED, PAR, 10**6, later, ZERO, sender=e, frm=e, to=None, code=0x52,
                     reason="INSUFFICIENT_BALANCE", state=state)
    # a named counterparty must be able to receive
    blocked_by_token(venue.postAsk, issued, UNRESTRICTED, PAR, 10**6, later, investors[8], sender=a, frm=a,
                     to=investors[8], code=0x57, reason="RECEIVER_NOT_VERIFIED", state=state)
    # minimum holding of what the seller keeps
    issued.setMinimumHolding(FACE // 4, {"from": admin})
    blocked_by_token(venue.postAsk, issued, UNRESTRICTED, PAR, FACE - FACE // 8, later, ZERO, sender=a, frm=a, to=None,
                     code=0x50, reason="MIN_HOLDING_SENDER", state=state)
    venue.postAsk(issued, UNRESTRICTED, PAR, FACE, later, ZERO, {"from": a})  # selling everything leaves nothing: fine
    issued.setMinimumHolding(0, {"from": admin})
    identity.setFrozen(a, True, {"from": kyc_agent})
    blocked_by_token(venue.postAsk, issued, UNRESTRICTED, PAR, 10**6, later, ZERO, sender=a, frm=a, to=None, code=0x56,
                     reason="SENDER_FROZEN", state=state)
    identity.setFrozen(a, False, {"from": kyc_agent})
    issued.pause({"from": admin})
    blocked_by_token(venue.postAsk, issued, UNRESTRICTED, PAR, 10**6, later, ZERO, sender=a, frm=a, to=None, code=0x54,
                     reason="PAUSED", state=state)
    issued.unpause({"from": admin})
    issued.closeBooks({"from": servicer})  # the record date
    blocked_by_token(venue.postAsk, issued, UNRESTRICTED, PAR, 10**6, later, ZERO, sender=a, frm=a, to=None, code=0x54,
                     reason="BOOKS_CLOSED", state=state)
    issued.openBooks({"from": servicer})
    # after the lock-up the retained units can be offered
    chain.sleep(YEAR + DAY)
    chain.mine()
    tx = venue.postAsk(issued, LOCKED, PAR, 10**6, expiry(chain), ZERO, {"from": originator})
    assert tx.events["OrderPosted"]["partition"] == "0x" + LOCKED.hex()


def test_posting_a_bid_runs_the_token_rules_of_the_buyer_and_checks_its_cash(
        venue, issued, currency, traders, verified, investors, kyc_agent, admin, servicer, identity, chain):
    a, e = traders[0], traders[4]
    g = verified[6]  # verified, no cash
    later = expiry(chain)
    state = _state(venue, issued, currency, [a, e, g, investors[8]])
    blocked_by_token(venue.postBid, issued, PAR, 10**6, later, ZERO, sender=investors[8], frm=None, to=investors[8],
                     code=0x57, reason="RECEIVER_NOT_VERIFIED", state=state)
    identity.setFrozen(e, True, {"from": kyc_agent})
    blocked_by_token(venue.postBid, issued, PAR, 10**6, later, ZERO, sender=e, frm=None, to=e, code=0x57,
                     reason="RECEIVER_FROZEN", state=state)
    identity.setFrozen(e, False, {"from": kyc_agent})
    identity.setFrozen(a, True, {"from": kyc_agent})  # the named seller as sender
    blocked_by_token(venue.postBid, issued, PAR, 10**6, later, a, sender=e, frm=a, to=e, code=0x56,
                     reason="SENDER_FROZEN", state=state)
    identity.setFrozen(a, False, {"from": kyc_agent})
    issued.setMinimumHolding(FACE // 4, {"from": admin})
    blocked_by_token(venue.postBid, issued, PAR, FACE // 8, later, ZERO, sender=e, frm=None, to=e, code=0x50,
                     reason="MIN_HOLDING_RECEIVER", state=state)
    issued.setMinimumHolding(0, {"from": admin})
    issued.pause({"from": admin})
    blocked_by_token(venue.postBid, issued, PAR, 10**6, later, ZERO, sender=e, frm=None, to=e, code=0x54,
                     reason="PAUSED", state=state)
    issued.unpause({"from": admin})
    issued.closeBooks({"from": servicer})
    blocked_by_token(venue.postBid, issued, PAR, 10**6, later, ZERO, sender=e, frm=None, to=e, code=0x54,
                     reason="BOOKS_CLOSED", state=state)
    issued.openBooks({"from": servicer})
    # the cash of the whole order at today's factor: balance, then allowance to the venue
    cash = PAR * 10**9 * 10**18 // 10**24
    refused(venue.postBid, issued, PAR, 10**9, later, ZERO, sender=g, error="CashUnavailable(address,bytes1,uint256,uint256)",
            values=(str(g), b"\x52", cash, 0), state=state)
    currency.mint(g, cash, {"from": admin})
    refused(venue.postBid, issued, PAR, 10**9, later, ZERO, sender=g, error="CashUnavailable(address,bytes1,uint256,uint256)",
            values=(str(g), b"\x53", cash, 0))
    currency.approve(venue, cash, {"from": g})
    venue.postBid(issued, PAR, 10**9, later, ZERO, {"from": g})


def test_take_refusals_of_the_venue(venue, issued, currency, traders, chain):
    a, b, e, f = traders[0], traders[1], traders[4], traders[5]
    later = expiry(chain, 2)
    ask = order_id(venue.postAsk(issued, UNRESTRICTED, P99, 10**9, later, ZERO, {"from": a}))
    named = order_id(venue.postAsk(issued, UNRESTRICTED, P99, 10**9, later, e, {"from": b}))
    bid = order_id(venue.postBid(issued, P99, 10**9, later, ZERO, {"from": e}))
    levels = [(True, P99), (False, P99)]
    state = _state(venue, issued, currency, [a, b, e, f], [ask, named, bid], levels)
    cash = P99 * 10**9 * 10**18 // 10**24
    refused(venue.take, ask + 2**20, 1, 2**256 - 1, sender=e, error="OrderNotFound(uint256)", values=(ask + 2**20,),
            state=state)
    refused(venue.take, ask, 0, 2**256 - 1, sender=e, error="ZeroQuantity()", state=state)
    refused(venue.take, ask, 10**9 + 1, 2**256 - 1, sender=e, error="QuantityExceedsRemaining(uint256,uint256,uint256)",
            values=(ask, 10**9 + 1, 10**9), state=state)
    refused(venue.take, ask, 10**9, 2**256 - 1, sender=a, error="SelfTrade(uint256,address)", values=(ask, str(a)),
            state=state)
    refused(venue.take, named, 10**6, 2**256 - 1, sender=f, error="NotCounterparty(uint256,address,address)",
            values=(named, str(f), str(e)), state=state)
    refused(venue.take, ask, 10**9, cash - 1, sender=e, error="CashOutsideLimit(uint256,uint256)", values=(cash, cash - 1),
            state=state)
    refused(venue.take, bid, 10**9, cash + 1, sender=a, error="CashOutsideLimit(uint256,uint256)", values=(cash, cash + 1),
            state=state)
    refused(venue.take, ask, 1, 2**256 - 1, sender=e, error="ZeroCash(uint256,uint256)", values=(1, 10**18), state=state)
    venue.take(named, 10**6, cash, {"from": e})  # the named counterparty may
    venue.take(ask, 10**9, cash, {"from": e})  # exactly the limit
    refused(venue.take, ask, 1, 2**256 - 1, sender=f, error="OrderClosed(uint256)", values=(ask,))
    venue.cancel(bid, {"from": e})
    refused(venue.take, bid, 1, 0, sender=a, error="OrderClosed(uint256)", values=(bid,))
    chain.sleep(3 * DAY)
    chain.mine()
    state = _state(venue, issued, currency, [a, b, e, f], [named], levels)
    refused(venue.take, named, 10**6, 2**256 - 1, sender=e, error="OrderExpired(uint256,uint256)", values=(named, later),
            state=state)


def test_the_fill_runs_the_token_rules_for_seller_and_buyer(venue, issued, currency, traders, investors, identity,
                                                            kyc_agent, admin, servicer, chain):
    a, b, c, d, e, f = traders
    outsider = investors[8]  # not verified, holds cash approved to the venue
    currency.mint(outsider, CASH, {"from": admin})
    currency.approve(venue, 2**256 - 1, {"from": outsider})
    later = expiry(chain)
    ask = order_id(venue.postAsk(issued, UNRESTRICTED, PAR, FACE, later, ZERO, {"from": a}))
    bid = order_id(venue.postBid(issued, PAR, FACE // 2, later, ZERO, {"from": e}))
    state = _state(venue, issued, currency, [a, d, e, f, outsider], [ask, bid], [(True, PAR), (False, PAR)])
    # non-verified taker buying
    blocked_by_token(venue.take, ask, 10**6, 2**256 - 1, sender=outsider, frm=a, to=outsider, code=0x57,
                     reason="RECEIVER_NOT_VERIFIED", state=state)
    # a frozen holder selling into a bid
    identity.setFrozen(d, True, {"from": kyc_agent})
    blocked_by_token(venue.take, bid, 10**6, 0, sender=d, frm=d, to=e, code=0x56, reason="SENDER_FROZEN", state=state)
    identity.setFrozen(d, False, {"from": kyc_agent})
    # the seller revoked the venue, or moved the units away, after posting
    issued.revokeOperator(venue, {"from": a})
    blocked_by_token(venue.take, ask, 10**6, 2**256 - 1, sender=f, frm=a, to=f, code=0x58, reason="NOT_OPERATOR",
                     state=state)
    issued.authorizeOperator(venue, {"from": a})
    issued.transfer(b, FACE - 10**6, {"from": a})
    blocked_by_token(venue.take, ask, 2 * 10**6, 2**256 - 1, sender=f, frm=a, to=f, code=0x52,
                     reason="INSUFFICIENT_BALANCE", state=state)
    issued.transfer(a, FACE - 10**6, {"from": b})
    # the buyer's cash: allowance withdrawn, then balance spent
    cash = PAR * 10**6 * 10**18 // 10**24
    currency.approve(venue, cash - 1, {"from": f})
    refused(venue.take, ask, 10**6, 2**256 - 1, sender=f, error="CashUnavailable(address,bytes1,uint256,uint256)",
            values=(str(f), b"\x53", cash, cash - 1), state=state)
    currency.approve(venue, 2**256 - 1, {"from": f})
    currency.transfer(c, CASH - cash + 1, {"from": f})
    refused(venue.take, ask, 10**6, 2**256 - 1, sender=f, error="CashUnavailable(address,bytes1,uint256,uint256)",
            values=(str(f), b"\x52", cash, cash - 1), state=state)
    # minimum holding broken by a partial fill: for the seller and for a new buyer
    issued.setMinimumHolding(FACE // 4, {"from": admin})
    blocked_by_token(venue.take, ask, FACE - FACE // 8, 2**256 - 1, sender=c, frm=a, to=c, code=0x50,
                     reason="MIN_HOLDING_SENDER", state=state)
    blocked_by_token(venue.take, ask, FACE // 8, 2**256 - 1, sender=outsider, frm=a, to=outsider, code=0x57,
                     reason="RECEIVER_NOT_VERIFIED", state=state)
    identity.registerInvestor(outsider, 840, 1, chain.time() + YEAR, {"from": kyc_agent})
    blocked_by_token(venue.take, ask, FACE // 8, 2**256 - 1, sender=outsider, frm=a, to=outsider, code=0x50,
                     reason="MIN_HOLDING_RECEIVER", state=state)
    issued.setMinimumHolding(0, {"from": admin})
    # maximum holders: a partial sale to a new holder would add one
    issued.setMaxHolders(issued.holderCount(), {"from": admin})
    blocked_by_token(venue.take, ask, 10**6, 2**256 - 1, sender=outsider, frm=a, to=outsider, code=0x50,
                     reason="MAX_HOLDERS", state=state)
    issued.setMaxHolders(0, {"from": admin})
    issued.pause({"from": admin})
    blocked_by_token(venue.take, ask, 10**6, 2**256 - 1, sender=c, frm=a, to=c, code=0x54, reason="PAUSED", state=state)
    issued.unpause({"from": admin})
    issued.closeBooks({"from": servicer})
    blocked_by_token(venue.take, ask, 10**6, 2**256 - 1, sender=c, frm=a, to=c, code=0x54, reason="BOOKS_CLOSED",
                     state=state)
    issued.openBooks({"from": servicer})
    venue.take(ask, 10**6, 2**256 - 1, {"from": outsider})  # now verified, no limits: fills


def test_a_lock_up_extended_after_posting_refuses_the_fill(venue, issued, currency, traders, originator, admin, chain):
    c = traders[2]
    issued.authorizeOperatorByPartition(LOCKED, venue, {"from": originator})
    chain.sleep(YEAR + DAY)
    chain.mine()
    ask = order_id(venue.postAsk(issued, LOCKED, PAR, 10**6, expiry(chain), ZERO, {"from": originator}))
    issued.setLockupEnd(chain.time() + YEAR, {"from": admin})
    state = _state(venue, issued, currency, [originator, c], [ask])
    blocked_by_token(venue.take, ask, 10**6, 2**256 - 1, sender=c, frm=originator, to=c, code=0x55, reason="LOCKUP",
                     state=state)


def test_cancel_rules(venue, issued, currency, traders, stranger, chain):
    a, e = traders[0], traders[4]
    later = expiry(chain, 1)
    ask = order_id(venue.postAsk(issued, UNRESTRICTED, PAR, 10**6, later, ZERO, {"from": a}))
    state = _state(venue, issued, currency, [a, e], [ask], [(True, PAR)])
    refused(venue.cancel, ask, sender=stranger, error="NotMaker(uint256,address,address)", values=(ask, str(stranger), str(a)),
            state=state)
    refused(venue.cancel, ask + 1, sender=a, error="OrderNotFound(uint256)", values=(ask + 1,), state=state)
    tx = venue.cancel(ask, {"from": a})
    assert dict(tx.events["OrderCancelled"]) == {"id": ask, "maker": a, "by": a, "quantity": 10**6}
    assert tuple(venue.level(issued, True, PAR))[0] == 0
    refused(venue.cancel, ask, sender=a, error="OrderClosed(uint256)", values=(ask,))
    # anyone may clear an expired order
    bid = order_id(venue.postBid(issued, PAR, 10**6, later, ZERO, {"from": e}))
    chain.sleep(2 * DAY)
    chain.mine()
    tx = venue.cancel(bid, {"from": stranger})
    assert dict(tx.events["OrderCancelled"]) == {"id": bid, "maker": e, "by": stranger, "quantity": 10**6}
