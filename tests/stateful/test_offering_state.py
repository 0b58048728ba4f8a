"""The consumer deal's offering driven by random sequences of actions, against ``chainabs.model.deal.DealModel``.

Rules: KYC'd investors subscribe random amounts of random classes (the originator its retained equity); holders
pass units to each other during the offering; the originator tries to repurchase loans out of its sealed pool
and the registry servicer tries to default or write them down (both refused: the pool is frozen until its
sale); time passes, sometimes beyond the offering deadline; the arranger (any time) or anyone (after the
deadline) cancels; anyone refunds any holder; the arranger closes (refused unless fully subscribed, before the
deadline). Whatever the model refuses, the SPV must refuse with the same custom error and arguments.

Invariants after every step: the ledger balances and the SPV holds exactly the unsettled subscriptions; each
token's supply is its tracked holders' units, equal to what was subscribed less what was refunded; the sealed
pool keeps its cut-off count and principal until its sale, and a pool sold to the SPV was sold with them; no
unverified address holds a unit; after a cancellation, once every holder is refunded, the SPV holds nothing.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter

import pytest
from hypothesis import Phase as HypothesisPhase
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from brownie import web3

from chainabs.chain import spv as spvlib
from chainabs.chain.sender import transact
from chainabs.model.deal import Phase
from chainabs.dev.sandbox import onboarded_pool, sandbox_deal
from chainabs.model.assets import asset_id
from plugins.spvtests import batch_call, expect_model_error, fund, model_or_error
from plugins.stateful import fuzzing, machine_settings, report_steps
from plugins.token import assert_error

DAY = 86_400


@pytest.fixture(scope="module")
def offering_deal(originator, admin, servicer, accounts, currency, tmp_path_factory):
    """The consumer deal deployed on a sealed pool approved to its SPV, nothing subscribed."""
    from brownie import project

    spec, registry, pool_id, tape = onboarded_pool(originator, admin, servicer, seed=5, prefix="OF")
    return sandbox_deal(spec, accounts, currency, registry, pool_id, project.get_loaded_projects()[0],
                        tmp_path_factory.mktemp("offering"), tape)


def test_offering_state_machine(offering_deal, investors, stranger, chain, admin, servicer):
    d0 = offering_deal
    spv, toks, currency, registry = d0.spv, d0.tokens, d0.currency, d0.registry
    arranger, originator = d0.roles["arranger"], d0.roles["originator"]
    sizes = d0.sizes()
    n = len(toks)
    holders = [*investors[:5], originator]
    cutoff = registry.poolInfo(d0.pool_id)
    loan_ids = [asset_id(originator.address, str(lid)) for lid in d0.tape["loan_id"][:5]]
    deadline = d0.times.offering_deadline
    base_model = copy.deepcopy(d0.model)
    done: Counter[str] = Counter()
    chain.snapshot()

    class OfferingMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            chain.revert()
            done["runs"] += 1
            self.d = dataclasses.replace(d0, model=copy.deepcopy(base_model))
            self.units = [[0] * len(holders) for _ in range(n)]
            self.sold = False

        @property
        def model(self):
            return self.d.model

        @initialize(shares=st.lists(st.integers(1, 1_000), min_size=n, max_size=n))
        def first_subscriptions(self, shares):
            """Every run opens with a subscription to each class."""
            for c, share in enumerate(shares):
                self.subscribe(c, c % (len(holders) - 1), share, False)

        @rule(who=st.sampled_from(["arranger", "stranger"]), days=st.integers(0, 3))
        def cancel_and_refund_everyone(self, who, days):
            """Time passes; the offering is cancelled (if the caller may) and every holder is refunded."""
            self.time_passes(days)
            self.cancel(who)
            for h in range(len(holders)):
                self.refund(h)

        @rule(c=st.integers(0, n - 1), h=st.integers(0, len(holders) - 2), share=st.integers(1, 1_000), full=st.booleans())
        def subscribe(self, c, h, share, full):
            """An investor (the originator for the equity class, retained) subscribes part or all of what is left."""
            m = self.model
            equity = c == n - 1
            who = len(holders) - 1 if equity else h
            investor = holders[who]
            available = sizes[c] - m.subscribed[c]
            amount = available if full else max(1, available * share // 1_000)
            _, err = model_or_error(lambda: m.subscribe(c, amount, now=chain.time() + 1))
            fund(self.d, investor, amount)
            transact(currency.approve, spv, amount, sender=investor)
            fn = spv.subscribeRetained if equity else spv.subscribe
            if err is not None:
                expect_model_error(err, fn, c, amount, sender=investor)
                done[f"refused: {err.name}"] += 1
                return
            transact(fn, c, amount, sender=investor)
            self.units[c][who] += amount
            done["subscriptions"] += 1

        @rule(c=st.integers(0, n - 2), a=st.integers(0, len(holders) - 2), b=st.integers(0, len(holders) - 2),
              pct=st.integers(1, 100))
        def pass_units(self, c, a, b, pct):
            """Holders trade units during the offering (both ends KYC'd)."""
            amount = self.units[c][a] * pct // 100
            if a == b or amount == 0 or self.model.phase not in (Phase.OFFERING, Phase.CANCELLED):
                return
            transact(toks[c].transfer, holders[b], amount, sender=holders[a])
            self.units[c][a] -= amount
            self.units[c][b] += amount
            done["units passed"] += 1

        @rule(k=st.integers(0, len(loan_ids) - 1), who=st.sampled_from(["originator", "servicer"]))
        def shrink_the_sealed_pool(self, k, who):
            """Finding 2: the originator repurchases or the servicer defaults a loan of the sealed pool before its
            sale: refused, the pool is frozen until sold."""
            if self.sold:
                return
            if who == "originator":
                assert_error(registry.repurchase, loan_ids[k], b"\0" * 32, sender=originator,
                             error="PoolAwaitingSale(uint256)", values=(d0.pool_id,))
            else:
                assert_error(registry.updateAssets, [(loan_ids[k], 5, 0, b"\0" * 32, 0)], sender=servicer,
                             error="PoolAwaitingSale(uint256)", values=(d0.pool_id,))
            done["pre-sale changes to the pool refused"] += 1

        @rule(days=st.integers(0, 3))
        def time_passes(self, days):
            if days:
                chain.sleep(days * DAY)
                chain.mine()
                done["days passed"] += days

        @rule(who=st.sampled_from(["arranger", "stranger"]))
        def cancel(self, who):
            caller = arranger if who == "arranger" else stranger
            now = chain.time() + 1
            after, err = model_or_error(lambda: self.model.cancel_offering(arranger=who == "arranger", now=now))
            if err is not None:
                expect_model_error(err, spv.cancelOffering, sender=caller)
                done[f"refused: {err.name}"] += 1
                return
            tx = spvlib.cancel_offering(spv, caller)
            assert bool(tx.event("OfferingCancelled")["afterDeadline"]) == (web3.eth.get_block(tx.block_number)["timestamp"] > deadline)
            done["offerings cancelled"] += 1

        @rule(h=st.integers(0, len(holders) - 1))
        def refund(self, h):
            holder = holders[h]
            units = sum(self.units[c][h] for c in range(n))
            _, err = model_or_error(lambda: self.model.refund(units))
            if err is not None:
                expect_model_error(err, spv.refund, str(holder), sender=stranger)
                done[f"refused: {err.name}"] += 1
                return
            before = int(currency.balanceOf(holder))
            assert spvlib.refund(spv, stranger, holder) == units
            assert int(currency.balanceOf(holder)) == before + units
            for c in range(n):
                self.units[c][h] = 0
            done["refunds"] += 1

        @rule()
        def close(self):
            m = self.model
            info = registry.poolInfo(d0.pool_id)
            _, err = model_or_error(lambda: m.close_deal(now=chain.time() + 1))
            fund(self.d, arranger, int(spv.terms()[6]))
            if err is not None:
                expect_model_error(err, spv.closeDeal, sender=arranger)
                done[f"refused: {err.name}"] += 1
                return
            spvlib.close_deal(spv, arranger)
            after = registry.poolInfo(d0.pool_id)
            # The pool sold to the SPV is the sealed cut-off pool, whole.
            assert (info["count"], info["principal"]) == (cutoff["cutoffCount"], cutoff["cutoffPrincipal"])
            assert after["owner"] == spv.address and not any(t.isIssuable() for t in toks)
            self.sold = True
            done["deals closed"] += 1

        @invariant()
        def books(self):
            m = self.model
            ledger = spvlib.read_ledger(spv)
            ledger.check()
            assert ledger == m.ledger
            values = iter(batch_call([(currency.balanceOf, (str(spv),))] + [  # one round trip for every figure
                call for t in toks for call in ((t.totalSupply, ()), *((t.balanceOf, (str(h),)) for h in holders),
                                                (t.balanceOf, (str(stranger),)))]))
            held = int(next(values))
            assert held == ledger.held
            for c, _ in enumerate(toks):
                tracked = sum(self.units[c])
                assert int(next(values)) == tracked
                if m.phase != Phase.CANCELLED:
                    assert tracked == m.subscribed[c]
                for h, _ in enumerate(holders):
                    assert int(next(values)) == self.units[c][h]
                assert int(next(values)) == 0, "a stranger holds units"
            if m.phase == Phase.CANCELLED and not any(any(u) for u in self.units):
                assert held == 0, "a cancelled offering fully refunded leaves nothing"
            if not self.sold:
                info = registry.poolInfo(d0.pool_id)
                assert (info["count"], info["principal"]) == (cutoff["cutoffCount"], cutoff["cutoffPrincipal"])
                assert info["owner"] == originator.address
            done["steps"] += 1

    run_state_machine_as_test(OfferingMachine, settings=machine_settings(
        ci_examples=12, ci_steps=10, phases=(HypothesisPhase.generate, HypothesisPhase.shrink)))
    report_steps("offering", done)
    if fuzzing():
        return  # the campaign's coverage is checked on the derandomized CI run; a fuzz run reports its steps
    for what in ("subscriptions", "offerings cancelled", "refunds", "pre-sale changes to the pool refused"):
        assert done[what] > 0, f"no run exercised {what!r}: {dict(done)}"
