"""Random posts, takes, cancels, plain transfers, freezes, distributions (interest and principal: the factor
moves), claims and the passing of time on the venue and its tranche, against the venue's model
(chainabs.model.market.MarketModel) and the exact distribution model (plugins.token.ExactShares).

Each operation's outcome is predicted from the models (venue rules, the token's KYC / freeze / balance rules,
the buyer's cash): a predicted refusal must be refused, a predicted success must succeed with the model's cash.

Invariants: currency conserved (every holder's balance plus what the token holds for claims equals what was
minted; the venue never holds any); units conserved (balances add up to the supply, the venue holds none); no
unit ever reaches a non-eligible address; each holder's claimable plus claimed distributions equal its exact
share of what was distributed while it held; orders never overfill (filled + remaining = quantity, and the
venue's orders and price levels equal the model's)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import requests
from eth_abi import decode, encode
from eth_utils import keccak

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from chainabs.chain.contracts import UNRESTRICTED
from chainabs.chain.sender import TxError, transact
from chainabs.model.market import MarketError, MarketModel, OrderId, cash_for, factor_of
from plugins.market import CASH, DAY, P99, P101, PAR
from plugins.stateful import machine_settings, report_steps
from plugins.token import FACE, ExactShares

PRICES = (P99, PAR, P101, 1_234_567, 1)
ZERO = "0x" + "00" * 20
HALF_DAY = DAY // 2


def test_market_state_machine(venue, issued, currency, traders, investors, originator, servicer, kyc_agent, identity,
                              admin, chain, web3):
    outsider = investors[8]  # never verified: holds cash approved to the venue and made it its operator
    transact(currency.mint, outsider, CASH, sender=admin)
    transact(currency.approve, venue, 2**256 - 1, sender=outsider)
    transact(issued.authorizeOperator, venue, sender=outsider)
    transact(currency.mint, servicer, 10**15, sender=admin)
    transact(currency.approve, issued, 2**256 - 1, sender=servicer)
    people = [*traders, outsider]  # 0..5 verified traders, 6 the outsider
    holders = [*people, originator]
    cash_holders = [*holders, servicer, issued, venue]
    minted = sum(int(currency.balanceOf(a)) for a in cash_holders)
    rpc = str(web3.provider.endpoint_uri)
    chain.snapshot()
    steps: Counter[str] = Counter()

    class MarketMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            chain.revert()
            steps["runs"] += 1
            self.market = MarketModel()
            self.market.list(issued.address)
            self.shares = ExactShares(holders)
            for h in holders:
                self.shares.bal[str(h)] = int(issued.balanceOf(h))
            self.principal = int(issued.currentPrincipal())
            self.cash = {str(a): int(currency.balanceOf(a)) for a in people}
            self.frozen: set[str] = set()
            self.ids: list[int] = []
            self.quantity: dict[int, int] = {}

        # ------------------------------------------------------------------ predictions
        def factor(self) -> int:
            return factor_of(self.principal, self.shares.supply())

        def now(self) -> int:
            return chain.time()

        def eligible(self, account) -> bool:
            return account != outsider and str(account) not in self.frozen

        def attempt(self, expect_ok: bool, fn, *args, sender):
            name = fn._name.split(".")[-1]
            if expect_ok:
                receipt = transact(fn, *args, sender=sender)
                steps[f"{name} ok"] += 1
                return receipt
            try:
                transact(fn, *args, sender=sender)
            except TxError:
                steps[f"{name} refused"] += 1
                return None
            raise AssertionError(f"{name}{args} from {sender} should have been refused")

        # ------------------------------------------------------------------ rules
        @initialize(i=st.integers(0, 3), j=st.integers(4, 5), p=st.integers(0, 2))
        def open_book(self, i, j, p):
            """Every run starts with an ask of a holder and a bid of a newcomer on the book."""
            self.post_ask(i, p, 50, 5)
            self.post_bid(j, p, FACE // 3, 5)

        @rule(i=st.integers(0, 6), p=st.integers(0, len(PRICES) - 1), pct=st.integers(1, 120), days=st.integers(1, 6))
        def post_ask(self, i, p, pct, days):
            steps["steps"] += 1
            maker = people[i]
            quantity = max(1, self.shares.bal[str(maker)] * pct // 100)
            expiry = self.now() + days * DAY + HALF_DAY
            ok = self.eligible(maker) and quantity <= self.shares.bal[str(maker)] and \
                cash_for(PRICES[p], quantity, self.factor()) > 0
            receipt = self.attempt(ok, venue.postAsk, issued, UNRESTRICTED, PRICES[p], quantity, expiry, ZERO, sender=maker)
            if receipt:
                oid = self.market.post(str(maker), issued.address, True, PRICES[p], quantity, expiry, self.now(),
                                       factor=self.factor())
                assert int(receipt.event("OrderPosted")["id"]) == oid
                self.ids.append(oid)
                self.quantity[oid] = quantity

        @rule(i=st.integers(0, 6), p=st.integers(0, len(PRICES) - 1), quantity=st.integers(1, 2 * FACE),
              days=st.integers(1, 6))
        def post_bid(self, i, p, quantity, days):
            steps["steps"] += 1
            maker = people[i]
            expiry = self.now() + days * DAY + HALF_DAY
            cash = cash_for(PRICES[p], quantity, self.factor())
            ok = self.eligible(maker) and 0 < cash <= self.cash[str(maker)]
            receipt = self.attempt(ok, venue.postBid, issued, PRICES[p], quantity, expiry, ZERO, sender=maker)
            if receipt:
                oid = self.market.post(str(maker), issued.address, False, PRICES[p], quantity, expiry, self.now(),
                                       factor=self.factor())
                assert int(receipt.event("OrderPosted")["id"]) == oid
                self.ids.append(oid)
                self.quantity[oid] = quantity

        @rule(k=st.integers(0, 40), j=st.integers(0, 6), pct=st.integers(1, 110))
        def take(self, k, j, pct):
            steps["steps"] += 1
            if not self.ids:
                return
            oid = self.ids[k % len(self.ids)]
            taker = people[(j + 4) % 7]  # the simplest example: the opening bid's maker takes the opening ask
            order = self.market.orders[oid]
            quantity = max(1, order.remaining * pct // 100)
            terms = OrderId.decode(oid)
            cash = cash_for(terms.price, quantity, self.factor())
            try:
                self.market.check_take(str(taker), oid, quantity, self.now())
                venue_ok = cash > 0
            except MarketError:
                venue_ok = False
            buyer, seller = (taker, order.maker) if terms.ask else (order.maker, taker)
            buyer, seller = str(buyer), str(seller)
            ok = venue_ok and self.eligible(buyer) and self.eligible(seller) and \
                quantity <= self.shares.bal[seller] and cash <= self.cash[buyer]
            limit = 2**256 - 1 if terms.ask else 0
            receipt = self.attempt(ok, venue.take, oid, quantity, limit, sender=taker)
            if receipt:
                fill = self.market.take(str(taker), oid, quantity, self.now(), factor=self.factor())
                event = receipt.event("OrderFilled")
                assert (int(event["cash"]), int(event["quantity"]), event["buyer"], event["seller"]) == (
                    fill.cash, quantity, fill.buyer, fill.seller)
                self.shares.move(seller, buyer, quantity)
                self.cash[buyer] -= fill.cash
                self.cash[seller] += fill.cash

        @rule(k=st.integers(0, 40), j=st.integers(0, 7))
        def cancel(self, k, j):
            steps["steps"] += 1
            if not self.ids:
                return
            oid = self.ids[k % len(self.ids)]
            order = self.market.orders[oid]
            who = people[j] if j < 7 else order.maker
            ok = order.remaining > 0 and (str(who) == order.maker or self.now() > OrderId.decode(oid).expiry)
            if self.attempt(ok, venue.cancel, oid, sender=who):
                self.market.cancel(str(who), oid, self.now())

        @rule(i=st.integers(0, 6), j=st.integers(0, 6), pct=st.integers(0, 100))
        def transfer(self, i, j, pct):
            steps["steps"] += 1
            a, b = people[i], people[j]
            amount = self.shares.bal[str(a)] * pct // 100
            if a == b or amount == 0:
                return
            ok = self.eligible(a) and self.eligible(b)
            if self.attempt(ok, issued.transfer, b, amount, sender=a):
                self.shares.move(a, b, amount)

        @rule(i=st.integers(0, 5))
        def toggle_freeze(self, i):
            steps["steps"] += 1
            who = str(traders[i])
            frozen = who not in self.frozen
            transact(identity.setFrozen, who, frozen, sender=kyc_agent)
            (self.frozen.add if frozen else self.frozen.discard)(who)

        @rule(interest=st.integers(1, 10**10), principal_bps=st.integers(0, 2_000))
        def distribute(self, interest, principal_bps):
            steps["steps"] += 1
            principal = self.principal * principal_bps // 10_000
            transact(issued.distribute, interest, principal, sender=servicer)
            self.shares.distribute(interest, principal)
            self.principal -= principal

        @rule(i=st.integers(0, 5))
        def claim(self, i):
            steps["steps"] += 1
            holder = traders[i]
            receipt = self.attempt(self.eligible(holder), issued.claim, sender=holder)
            if receipt:
                got = self.shares.record_claim(holder, receipt)
                self.cash[str(holder)] += sum(got)

        @rule(days=st.integers(0, 4))
        def sleep(self, days):
            steps["steps"] += 1
            chain.sleep(days * DAY)
            chain.mine()

        # ------------------------------------------------------------------ invariants
        @invariant()
        def matches_the_models(self):
            """Every invariant from one batch of reads (one round trip per step)."""
            A, U, U2 = ["address"], ["uint256"], ["uint256", "uint256"]
            calls = [(currency, "balanceOf", A, [str(a)], U) for a in cash_holders]
            calls += [(issued, name, [], [], U) for name in ("totalSupply", "totalInterestDistributed",
                                                             "totalPrincipalDistributed", "sweepableDust", "factor")]
            calls += [(issued, "balanceOf", A, [str(a)], U) for a in (venue, outsider)]
            for h in holders:
                calls += [(issued, "withdrawnOf", A, [str(h)], U2), (issued, "withdrawableOf", A, [str(h)], U2),
                          (issued, "accumulativeFundsOf", A, [str(h)], U), (issued, "withdrawableFundsOf", A, [str(h)], U),
                          (issued, "balanceOf", A, [str(h)], U)]
            calls += [(venue, "orderOf", U, [oid], ["(address,address,bool,bytes32,uint256,uint256,uint256,address,bool)"])
                      for oid in self.ids]
            levels = list(self.market.levels.items())
            calls += [(venue, "level", ["address", "bool", "uint256"], [t, ask, price], ["uint256"] * 3)
                      for (t, ask, price), _ in levels]
            values = iter(_batch_read(rpc, calls))

            # currency conserved: the people's balances as modelled, the venue holds none, nothing created or lost
            balances = {str(a): int(next(values)[0]) for a in cash_holders}
            assert {str(a): balances[str(a)] for a in people} == self.cash
            assert balances[venue.address] == 0
            assert sum(balances.values()) == minted
            # units conserved, at eligible holders only; the factor follows the principal distributed
            supply, interest, principal, dust, factor, at_venue, at_outsider = (int(next(values)[0]) for _ in range(7))
            m = self.shares
            assert (supply, interest, principal) == (m.supply(), m.interest_distributed, m.principal_distributed)
            if m.dust_credit is not None:
                assert dust == m.dust_credit >> 32
            assert factor == self.factor()
            assert at_venue == 0 and at_outsider == 0  # never eligible: no fill or transfer reached it
            # each holder's claimed + claimable = its exact share of what was distributed while it held
            for h in holders:
                withdrawn, withdrawable = [int(v) for v in next(values)], [int(v) for v in next(values)]
                accumulated, withdrawable_total, balance = (int(next(values)[0]) for _ in range(3))
                key = str(h)
                assert withdrawn == m.paid[key] and balance == m.bal[key], key
                for kind in (0, 1):
                    exact = m.exact[key][kind]
                    got = withdrawn[kind] + withdrawable[kind]
                    assert exact - 1 < got <= exact + m.SLACK, (key, kind, got, exact)
                    if exact.denominator == 1:
                        assert got == exact
                assert accumulated == sum(withdrawn) + sum(withdrawable) and withdrawable_total == sum(withdrawable)
            # orders never overfill; the venue's orders and levels are the model's
            for oid in self.ids:
                order = self.market.orders[oid]
                assert 0 <= order.remaining <= self.quantity[oid]
                assert self.market.filled(oid) + order.remaining == self.quantity[oid] or order.remaining == 0
                assert int(next(values)[0][5]) == order.remaining
            for _, lvl in levels:
                assert tuple(int(x) for x in next(values)) == (lvl.quantity, lvl.posted, lvl.max_expiry)

    run_state_machine_as_test(MarketMachine, settings=machine_settings(ci_examples=16, ci_steps=15))
    report_steps("market", steps)
    assert steps["take ok"] and steps["take refused"], steps


def _batch_read(rpc: str, calls: list[tuple[Any, str, list[str], list[Any], list[str]]]) -> list[tuple]:
    """Many view calls (contract, function, argument types, arguments, return types) in one JSON-RPC batch of
    raw eth_calls, decoded with eth-abi (web3's per-call ABI lookup would cost more than the chain)."""
    payload = []
    for i, (contract, name, types, args, _) in enumerate(calls):
        data = keccak(text=f"{name}({','.join(types)})")[:4] + encode(types, args)
        payload.append({"jsonrpc": "2.0", "id": i, "method": "eth_call",
                        "params": [{"to": str(contract.address if hasattr(contract, "address") else contract),
                                    "data": "0x" + data.hex()}, "latest"]})
    replies = sorted(requests.post(rpc, json=payload, timeout=30).json(), key=lambda r: r["id"])
    out = []
    for reply, (_, name, _, _, returns) in zip(replies, calls, strict=True):
        assert "result" in reply, (name, reply)
        out.append(decode(returns, bytes.fromhex(reply["result"][2:])))
    return out
