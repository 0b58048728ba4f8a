"""What the venue does when it accepts: full and partial fills on both sides move exactly the units and the cash
the model computes (model parity: orders, levels, depth and every fill's cash equal to the unit), the cash
follows the token's factor, the views (best bid and ask, depth, levels, orders) and the events, and no yield
is lost: a seller keeps earning until the fill, and a distribution between post and fill changes nothing for
the seller's claim. Also the library's client (chainabs.chain.market) against the same venue."""

from __future__ import annotations

import random

import pytest

from chainabs.chain import tokens
from chainabs.chain.contracts import UNRESTRICTED
from chainabs.chain.market import explain
from chainabs.chain.sender import TxError
from chainabs.model.market import MarketModel, OrderId, cash_for, cash_remainder, factor_of
from plugins.market import DAY, P99, P101, PAR, ZERO, expiry, order_id
from plugins.token import FACE

MAX_UINT = 2**256 - 1


def _now(chain) -> int:
    return int(chain[-1].timestamp)


def _check_parity(model: MarketModel, venue, token, ids, chain) -> None:
    """The venue's orders, levels and depth equal the model's."""
    now = _now(chain)
    for oid in ids:
        o = venue.orderOf(oid)
        m = model.orders[oid]
        assert (str(o[0]), int(o[5])) == (m.maker, m.remaining), oid
        assert bool(o[8]) == (m.remaining != 0 and now <= OrderId.decode(oid).expiry)
    for (tok, ask, price), lvl in model.levels.items():
        assert tuple(int(x) for x in venue.level(tok, ask, price)) == (lvl.quantity, lvl.posted, lvl.max_expiry)
    for ask in (True, False):
        prices, quantities = venue.depth(token, ask, 20)
        assert list(zip((int(p) for p in prices), (int(q) for q in quantities))) == model.depth(token.address, ask, now, 20)


def test_fills_on_both_sides_equal_the_model(venue, issued, currency, traders, chain):
    a, b, c, d, e, f = traders
    model = MarketModel()
    model.list(issued.address)
    factor = int(issued.factor())
    later = expiry(chain)
    ids = []

    def post(maker, ask, price, quantity, counterparty=None):
        if ask:
            tx = venue.postAsk(issued, UNRESTRICTED, price, quantity, later, counterparty or ZERO, {"from": maker})
        else:
            tx = venue.postBid(issued, price, quantity, later, counterparty or ZERO, {"from": maker})
        oid = order_id(tx)
        assert oid == model.post(str(maker), issued.address, ask, price, quantity, later, _now(chain), factor=factor,
                                 counterparty=str(counterparty) if counterparty else None)
        ev = tx.events["OrderPosted"]
        assert (ev["maker"], ev["token"], ev["ask"], ev["price"], ev["quantity"], ev["expiry"], ev["counterparty"]) == (
            maker, issued.address, ask, price, quantity, later, str(counterparty) if counterparty else ZERO)
        ids.append(oid)
        return oid

    def take(taker, oid, quantity):
        units = {str(x): int(issued.balanceOf(x)) for x in traders}
        cash = {str(x): int(currency.balanceOf(x)) for x in traders}
        tx = venue.take(oid, quantity, MAX_UINT if OrderId.decode(oid).ask else 0, {"from": taker})
        fill = model.take(str(taker), oid, quantity, _now(chain), factor=factor)
        ev = tx.events["OrderFilled"]
        assert (ev["token"], ev["buyer"], ev["seller"], ev["id"], ev["price"], ev["quantity"], ev["cash"], ev["factor"],
                ev["remaining"]) == (issued.address, fill.buyer, fill.seller, oid, fill.price, quantity, fill.cash,
                                     factor, fill.remaining)
        assert tx.return_value == fill.cash
        # delivery versus payment: exactly these units and this cash moved, nothing else
        units[fill.seller] -= quantity
        units[fill.buyer] += quantity
        cash[fill.buyer] -= fill.cash
        cash[fill.seller] += fill.cash
        assert {str(x): int(issued.balanceOf(x)) for x in traders} == units
        assert {str(x): int(currency.balanceOf(x)) for x in traders} == cash
        assert currency.balanceOf(venue) == 0 and issued.balanceOf(venue) == 0  # nothing escrowed
        return fill

    ask1 = post(a, True, P101, 3 * 10**9 + 7)
    ask2 = post(b, True, P101, 10**9)  # same level: sequence 2
    ask3 = post(c, True, PAR, 5 * 10**8, counterparty=f)
    bid1 = post(e, False, P99, 2 * 10**9 + 3)
    bid2 = post(f, False, P99 - 2_500, 10**9)
    assert OrderId.decode(ask2).sequence == 2 and OrderId.decode(ask1).sequence == 1
    assert tuple(venue.bestAsk(issued)) == (PAR, 5 * 10**8)
    assert tuple(venue.bestBid(issued)) == (P99, 2 * 10**9 + 3)
    _check_parity(model, venue, issued, ids, chain)

    take(e, ask1, 10**9 + 1)  # partial fills leave exact remainders
    take(f, ask1, 2 * 10**9 + 6)  # then the rest: filled exactly
    take(f, ask3, 5 * 10**8)  # the named counterparty
    take(d, bid1, 777_777)  # selling into a bid
    take(a, bid1, 2 * 10**9 + 3 - 777_777)
    take(c, bid2, 3)  # 3 units at 98.75 per 100: 2.9625 base units of cash, rounded down to 2
    _check_parity(model, venue, issued, ids, chain)
    assert tuple(venue.bestAsk(issued)) == (P101, 10**9)
    assert tuple(venue.bestBid(issued)) == (P99 - 2_500, 10**9 - 3)
    assert venue.orderOf(ask1)[5] == 0 and not venue.orderOf(ask1)[8]
    assert model.filled(ask1) == 3 * 10**9 + 7  # never more than its quantity


def test_cash_follows_the_factor_and_equals_the_model(venue, issued, currency, traders, servicer, admin, chain):
    a, e = traders[0], traders[4]
    rng = random.Random(14)
    cases = [(1, 10**6), (PAR, 1), (P99, 3), (2**24 - 1, 2**96 - 1), (P101, FACE)]
    cases += [(rng.randint(1, 2**24 - 1), rng.randint(1, 10**13)) for _ in range(12)]
    # factor 1, then after a principal distribution (factor below 1, not a round number)
    factors = []
    for principal in (0, 1_234_567_891):
        if principal:
            tokens.distribute(issued, servicer, 0, principal)
        factor = int(issued.factor())
        assert factor == factor_of(int(issued.currentPrincipal()), int(issued.totalSupply()))
        factors.append(factor)
        for price, quantity in cases:
            assert venue.cashFor(issued, price, quantity) == cash_for(price, quantity, factor), (price, quantity, factor)
    assert factors[0] == 10**18 and factors[1] < 10**18
    # a fill at the new factor pays the model's cash; the remainder stays with the buyer
    quantity = 123_456_789
    oid = order_id(venue.postAsk(issued, UNRESTRICTED, P99 + 1, quantity, expiry(chain), ZERO, {"from": a}))
    cash, remainder = cash_remainder(P99 + 1, quantity, factors[1])
    assert remainder != 0
    tx = venue.take(oid, quantity, cash, {"from": e})
    assert tx.events["OrderFilled"]["cash"] == cash and tx.events["OrderFilled"]["factor"] == factors[1]


def test_views_skip_expired_and_empty_levels_and_prune(venue, issued, traders, stranger, chain):
    a, e = traders[0], traders[4]
    soon, later = expiry(chain, 1), expiry(chain, 10)
    short = order_id(venue.postAsk(issued, UNRESTRICTED, P99, 10**6, soon, ZERO, {"from": a}))
    venue.postAsk(issued, UNRESTRICTED, PAR, 2 * 10**6, later, ZERO, {"from": a})
    venue.postAsk(issued, UNRESTRICTED, PAR + 256 * 300, 3 * 10**6, later, ZERO, {"from": a})  # another index word
    venue.postBid(issued, P99 - 70_000, 4 * 10**6, later, ZERO, {"from": e})
    bid = order_id(venue.postBid(issued, P99 - 1, 5 * 10**6, later, ZERO, {"from": e}))
    prices, quantities = venue.depth(issued, True, 10)
    assert list(prices) == [P99, PAR, PAR + 256 * 300] and list(quantities) == [10**6, 2 * 10**6, 3 * 10**6]
    assert list(venue.depth(issued, True, 2)[0]) == [P99, PAR]
    assert list(venue.depth(issued, False, 10)[0]) == [P99 - 1, P99 - 70_000]
    assert tuple(venue.level(issued, True, P99)) == (10**6, 1, soon)
    chain.sleep(2 * DAY)
    chain.mine()
    assert tuple(venue.bestAsk(issued)) == (PAR, 2 * 10**6)  # the expired level is skipped
    order = venue.orderOf(short)
    assert (order[5], order[8]) == (10**6, False)  # still there, no longer open
    venue.cancel(bid, {"from": e})
    assert tuple(venue.bestBid(issued)) == (P99 - 70_000, 4 * 10**6)
    venue.cancel(short, {"from": stranger})
    venue.prune(issued, True, [P99, PAR, 2**24], {"from": stranger})  # PAR still holds orders: kept; 2**24 ignored
    venue.prune(issued, False, [P99 - 1], {"from": stranger})
    assert list(venue.depth(issued, True, 10)[0]) == [PAR, PAR + 256 * 300]
    assert tuple(venue.level(issued, True, P99)) == (0, 1, soon)  # the level remembers its sequence
    again = order_id(venue.postAsk(issued, UNRESTRICTED, P99, 10**6, later, ZERO, {"from": a}))
    assert OrderId.decode(again).sequence == 2 and again != short
    assert tuple(venue.bestAsk(issued)) == (P99, 10**6)


def test_no_yield_is_lost_to_the_venue(venue, issued, currency, traders, servicer, chain):
    """The seller's units stay in its wallet until the fill: a distribution between post and fill is the seller's,
    exactly; the buyer earns from the fill on."""
    a, e = traders[0], traders[4]  # a holds FACE, e none
    holders_face = int(issued.totalSupply())
    oid = order_id(venue.postAsk(issued, UNRESTRICTED, PAR, FACE // 2, expiry(chain), ZERO, {"from": a}))
    assert issued.balanceOf(a) == FACE  # no escrow
    interest = holders_face // 10**6 * 3_000  # divides exactly by the supply
    tokens.distribute(issued, servicer, interest, 0)
    share = interest * FACE // holders_face
    assert tuple(issued.withdrawableOf(a)) == (share, 0)
    venue.take(oid, FACE // 2, MAX_UINT, {"from": e})
    assert tuple(issued.withdrawableOf(a)) == (share, 0)  # the fill changed nothing for the seller's claim
    assert tuple(issued.withdrawableOf(e)) == (0, 0)
    tokens.distribute(issued, servicer, interest, 0)  # the next one: half each
    assert tuple(issued.withdrawableOf(a)) == (share + share // 2, 0)
    assert tuple(issued.withdrawableOf(e)) == (share // 2, 0)
    assert tokens.claim(issued, a) == (share + share // 2, 0)


@pytest.mark.parametrize("side", ["ask", "bid"])
def test_the_client_posts_takes_and_reads_the_tape(client, venue, issued, traders, chain, side):
    a, e = traders[0], traders[4]
    later = expiry(chain)
    if side == "ask":
        posted = client.post_ask(a, issued.address, P99, 10**9, later)
        maker, taker = a, e
    else:
        posted = client.post_bid(e, issued.address, P99, 10**9, later)
        maker, taker = e, a
    view = client.order(posted.id)
    assert (view.maker, view.side, view.price, view.remaining, view.open, view.counterparty) == (
        str(maker), side, P99, 10**9, True, None)
    assert [o.id for o in client.open_orders(str(maker))] == [posted.id]
    book = client.book(issued.address)
    assert book.to_dict("records") == [{"side": side, "price": P99, "quantity": 10**9}]
    with pytest.raises(TxError) as refused:
        client.take(taker, posted.id, 10**9, cash_limit=1 if side == "ask" else 10**12)
    assert "refused by the venue: CashOutsideLimit" in explain(refused.value)
    trade = client.take(taker, posted.id, 4 * 10**8)
    assert trade.fill.cash == cash_for(P99, 4 * 10**8, 10**18) and trade.fill.remaining == 6 * 10**8
    client.cancel(maker, posted.id)
    assert client.open_orders(str(maker)) == []
    tape = client.trades()
    assert len(tape) == 1
    row = tape.iloc[0]
    assert (row["buyer"], row["seller"], row["price"], row["quantity"], row["cash"], row["taker_side"], row["period"]) == (
        str(e), str(a), P99, 4 * 10**8, trade.fill.cash,
        "buy" if side == "ask" else "sell", 1)
    with pytest.raises(TxError) as blocked:
        client.post_bid(traders[4], issued.address, P99, 10**9, later, counterparty=str(traders[4]))
    assert "SelfTrade" in explain(blocked.value)
