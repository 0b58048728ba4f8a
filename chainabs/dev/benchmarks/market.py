"""Secondary market gas: a full fill between two verified holders on a shallow book and on a book of 1,000
resting orders (the same by construction: a fill reads and writes a fixed set of slots), and the cost of
posting an order.

Conditions, stated because they move the figures: both holders already hold units and currency and were
checkpointed in the current distribution epoch (a holder's first move after a distribution also writes its
accrued distributions, as any transfer does: ``market_take_gas_first_after_distribution``); the buyer approved
the venue for an unlimited amount (an exact approval adds the allowance write, about 2,900 gas); gas figures
are whole transactions (21,000 intrinsic gas included), as ``cast`` and wallets show them.
"""

from __future__ import annotations

from typing import Any

from chainabs.chain import connection as chain
from chainabs.chain import signers
from chainabs.chain import tokens
from chainabs.chain.market import MAX_UINT256, Market, deploy_market
from chainabs.chain.sender import deploy, transact
from chainabs.dev.benchmarks import benchmark

US = 840
FACE = 1_000_000 * 10**6
PRICE = 995_000  # 99.5 per 100 of current principal
QUANTITY = 10_000 * 10**6
RESTING = 1_000


def _setup(holders: list[Any], admin: Any) -> tuple[Any, Any, Market, dict[str, int]]:
    """Currency, tranche (``admin`` standing for its deal) with ``holders`` verified holding FACE and currency,
    a listed venue; each holder made the venue its operator and approved it for its currency."""
    from brownie import chain as bchain

    proj = chain.load_project()
    currency = deploy(proj.TestStablecoin, "Bench USD", "bUSD", 6, sender=admin)[0]
    registry = tokens.deploy_identity_registry(admin, [admin])
    tokens.allow_jurisdictions(registry, admin, [US])
    rows = [{"address": str(h), "jurisdiction": US, "investor_type": 1, "expiry": bchain.time() + 10**8}
            for h in holders]
    tokens.register_investors(registry, admin, rows, batch_size=200)
    token = tokens.deploy_tranche(name="Bench A", symbol="BA", currency=currency, registry=registry, admin=admin,
                                  coupon_bps=500, residual_recipient=admin, deal=admin)
    market = deploy_market(admin, currency, [admin])
    market.list(admin, token.address)
    once: dict[str, int] = {}
    for h in holders:
        transact(token.issue, h, FACE, b"", sender=admin)
        transact(currency.mint, h, 10**14, sender=admin)
        authorized = market.authorize_seller(h, token.address)
        approved = market.approve_cash(h, MAX_UINT256)
        once.setdefault("market_authorize_operator_gas", int(authorized.gas_used))
        once.setdefault("market_approve_cash_gas", int(approved.gas_used))
    transact(currency.mint, admin, 10**15, sender=admin)
    transact(currency.approve, token, 2**256 - 1, sender=admin)
    return currency, token, market, once


def _take(market: Market, maker: Any, taker: Any, token: Any, price: int, expiry: int) -> int:
    posted = market.post_ask(maker, token.address, price, QUANTITY, expiry)
    return int(market.take(taker, posted.id, QUANTITY).receipt.gas_used)


@benchmark("market", needs_chain=True)
def market_gas() -> dict[str, float]:
    """Gas of a full fill (shallow and 1,000-order book), of posts, of a cancel."""
    from brownie import accounts
    from brownie import chain as bchain

    admin = signers.deployer()
    a, b = accounts[1], accounts[2]
    makers = list(accounts[3:8])
    _, token, market, once = _setup([a, b, *makers], admin)
    expiry = bchain.time() + 30 * 86_400
    transact(token.distribute, 1_000_000, 1_000_000, sender=admin)
    first_after = _take(market, a, b, token, PRICE - 100, expiry)  # a and b checkpointed by this fill
    shallow = _take(market, a, b, token, PRICE, expiry)
    # Posts: the first order at a new price level, then one at a level already used (the venue never clears a
    # level once used, so re-quoting a price costs the latter).
    new_level = int(market.post_ask(a, token.address, PRICE + 5, QUANTITY, expiry).receipt.gas_used)
    used_level = int(market.post_ask(a, token.address, PRICE + 5, QUANTITY, expiry).receipt.gas_used)
    bid_new_level = int(market.post_bid(b, token.address, PRICE - 300, QUANTITY, expiry).receipt.gas_used)
    bid_used_level = int(market.post_bid(b, token.address, PRICE - 300, QUANTITY, expiry).receipt.gas_used)
    resting = market.post_ask(a, token.address, PRICE + 7, QUANTITY, expiry)
    cancel = int(market.cancel(a, resting.id).gas_used)
    # 1,000 resting orders from five makers on both sides at 200 price levels; then the same fill as above.
    for i in range(RESTING):
        maker = makers[i % len(makers)]
        if i % 2:
            market.post_ask(maker, token.address, PRICE + 1_000 + 10 * (i % 200), 10**6 + i, expiry)
        else:
            market.post_bid(maker, token.address, PRICE - 1_000 - 10 * (i % 200), 10**6 + i, expiry)
    # The same order terms as the shallow fill (second order at that price: its id differs only in the sequence
    # byte, so the calldata costs the same).
    deep = _take(market, a, b, token, PRICE, expiry)
    bid_price, ask_price = market.best(token.address)
    assert bid_price[0] == PRICE - 300 and ask_price[0] == PRICE + 5, (bid_price, ask_price)
    metrics = {
        "market_take_gas": shallow,
        "market_take_gas_deep_book": deep,
        "market_take_gas_first_after_distribution": first_after,
        "market_post_gas": used_level,
        "market_post_gas_new_level": new_level,
        "market_post_bid_gas": bid_used_level,
        "market_post_bid_gas_first_of_book": bid_new_level,
        "market_cancel_gas": cancel,
        **once,
        # a whole trade between holders who already use the venue: the seller posts, the buyer takes
        "market_trade_gas_end_to_end": used_level + shallow,
    }
    return metrics
