"""Random servicing of two sealed pools: status updates by the pool's servicer, recovery steps by its disposal
agent, repurchases by the pool owner, pool transfers (true sales) and strangers' calls, against a model rebuilt
from the registry's events.

Invariants: pool aggregates (count, principal, status tallies) equal the model, where every asset touched
by the run is replayed from its own events (:func:`chainabs.chain.registry.asset_history` /
:func:`chainabs.chain.registry.replay_history`) and untouched assets keep their tape state; an asset is in at
most one pool; only a repurchase releases an asset; ``ownerOf`` of a pooled asset is its pool's owner; the
pool's cumulative recoveries are the cash of the recovery updates that landed and its defaulted claims the
principal of its assets in recovery; the disposal agent never moves a loan that has not defaulted; in pool B,
which tracks its obligors (4 obligors, 3 loans each), every obligor's live exposure is the principal of its
pooled assets."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from chainabs.chain import registry as rc
from chainabs.chain.sender import TxError, transact
from chainabs.model import assets, synthetic
from chainabs.model import tape as tp
from plugins.registry import CUTOFF, relaxed_criteria
from plugins.spvtests import batch_call
from plugins.stateful import machine_settings, report_steps

STATUSES = assets.STATUSES


def test_registry_state_machine(registry, originator, servicer, disposal_agent, stranger, investors, sealed_pool,
                                chain):
    pool_a, tape_a = sealed_pool
    raw_b = synthetic.generate_tape(12, seed=41, prefix="SM")
    raw_b["obligor"] = [raw_b["obligor"].iloc[i % 4] for i in range(len(raw_b))]  # 4 obligors, 3 loans each
    pool_b = rc.create_pool(registry, originator, relaxed_criteria(), track_obligors=True)
    rc.set_pool_servicers(registry, originator, pool_b, servicer, disposal_agent)
    rc.onboard(registry, pool_b, raw_b, originator, today=CUTOFF, progress=False)
    tape_b = rc.prepare_tape(raw_b, relaxed_criteria(), today=CUTOFF)
    pools = (pool_a, pool_b)
    initial: dict[int, tuple[int, str, int]] = {}  # asset id -> (pool, status, principal) at cut-off
    ids: dict[int, list[int]] = {}
    for pool, frame in ((pool_a, tape_a), (pool_b, tape_b)):
        ids[pool] = tp.asset_ids(frame, originator.address)
        for asset, (_, row) in zip(ids[pool], frame.iterrows(), strict=True):
            late = int(row["days_delinquent"])
            initial[asset] = (pool, STATUSES[1 + (late >= 30) + (late >= 60) + (late >= 90)], int(row["principal"]))
    obligor_of = dict(zip(ids[pool_b], tape_b["obligor"], strict=True))  # pool B tracks its obligors
    buyers = [investors[0], investors[1]]
    chain.snapshot()

    steps: Counter[str] = Counter()

    class RegistryMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            chain.revert()
            steps["runs"] += 1
            self.touched: set[int] = set()
            self.owner = {pool: originator.address for pool in pools}
            self.recovered = {pool: 0 for pool in pools}

        def _asset(self, pool_index: int, i: int) -> int:
            pool = pools[pool_index]
            return ids[pool][i % len(ids[pool])]

        @rule(
            p=st.integers(0, 1),
            changes=st.lists(
                st.tuples(st.integers(0, 39), st.integers(1, 12), st.sampled_from([0, 50, 100]),
                          st.sampled_from([0, 0, 777])),
                min_size=1, max_size=4,
            ),
        )
        def servicer_updates(self, p, changes):
            for i, to, pct, cash in changes:
                self._update(p, i, to, pct, cash, servicer)

        @rule(p=st.integers(0, 1), i=st.integers(0, 39), to=st.sampled_from([5, 9, 10, 11, 12]),
              pct=st.sampled_from([0, 50, 100]), cash=st.sampled_from([0, 1_234]))
        def disposal_agent_steps(self, p, i, to, pct, cash):
            before = STATUSES[int(registry.assetInfo(self._asset(p, i))[0])]
            landed = self._update(p, i, to, pct, cash, disposal_agent)
            assert not landed or before in assets.RECOVERING_STATUSES, (before, STATUSES[to])

        def _update(self, p: int, i: int, to: int, pct: int, cash: int, sender) -> bool:
            asset = self._asset(p, i)
            principal = int(registry.assetInfo(asset)[2]) * pct // 100
            try:
                transact(registry.updateAssets, [(asset, to, principal, b"\x01" * 32, cash)], sender=sender)
            except TxError:
                return False  # an illegal transition, amount or sender: the invariants check nothing changed
            self.touched.add(asset)
            self.recovered[pools[p]] += cash
            return True

        @rule(p=st.integers(0, 1), i=st.integers(0, 39))
        def owner_repurchases(self, p, i):
            asset = self._asset(p, i)
            try:
                transact(registry.repurchase, asset, b"\x02" * 32, sender=self.owner[pools[p]])
                self.touched.add(asset)
            except TxError:
                pass  # already released or final (prepaid / repaid)

        @rule(p=st.integers(0, 1), b=st.integers(0, 1))
        def pool_is_sold(self, p, b):
            pool = pools[p]
            transact(registry.transferPool, pool, buyers[b], sender=self.owner[pool])
            self.owner[pool] = buyers[b].address

        @rule(p=st.integers(0, 1), i=st.integers(0, 39), call=st.integers(0, 3))
        def stranger_is_refused(self, p, i, call):
            asset, pool = self._asset(p, i), pools[p]
            with pytest.raises(TxError):
                if call == 0:
                    transact(registry.updateAssets, [(asset, 5, 0, b"\x03" * 32, 0)], sender=stranger)
                elif call == 1:
                    transact(registry.repurchase, asset, b"\x03" * 32, sender=stranger)
                elif call == 2:
                    transact(registry.setPoolServicers, pool, stranger, stranger, sender=stranger)
                else:
                    transact(registry.transferPool, pool, stranger, sender=stranger)

        def _model(self) -> dict[int, tuple[int, str, int]]:
            """(pool, status, principal) per asset: replayed from events if touched, else the tape's."""
            model = dict(initial)
            for asset in self.touched:
                state = rc.replay_history(rc.asset_history(registry, asset))
                model[asset] = (int(state["pool_id"]), state["status"], int(state["principal"]))
                if state["pool_id"]:  # the replayed owner is ownerOf's: the originator, then each pool buyer
                    assert state["owner"] == self.owner[int(state["pool_id"])], (asset, state["owner"])
            return model

        @invariant()
        def aggregates_match_the_events(self):
            steps["steps"] += 1
            model = self._model()
            for pool in pools:
                members = [v for v in model.values() if v[0] == pool]
                info = rc.pool_info(registry, pool)
                assert int(info["count"]) == len(members)
                assert int(info["principal"]) == sum(v[2] for v in members)
                codes = [c for c in range(1, len(STATUSES)) if STATUSES[c] != "Repurchased"]
                tallies = batch_call([(registry.statusTally, (pool, code)) for code in codes])  # one round trip
                for code, (count, principal) in zip(codes, tallies, strict=True):
                    in_status = [v for v in members if v[1] == STATUSES[code]]
                    assert (int(count), int(principal)) == (len(in_status), sum(v[2] for v in in_status))
                figures = rc.servicing_figures(registry, pool)
                assert figures["flows"]["recoveries"] == self.recovered[pool]
                assert figures["defaulted_claims"] == sum(v[2] for v in members if v[1] in assets.RECOVERING_STATUSES)
                assert (figures["servicer"], figures["disposal_agent"]) == (servicer.address, disposal_agent.address)
            held: Counter[str] = Counter()
            for asset, obligor in obligor_of.items():
                held[obligor] += model[asset][2] if model[asset][0] == pool_b else 0
            assert rc.obligor_exposures(registry, pool_b, list(held)) == list(held.values())

        @invariant()
        def one_pool_only_repurchase_releases_and_owner_is_pool_owner(self):
            model = self._model()
            checked = sorted(self.touched) + [ids[pool][0] for pool in pools]
            answers = iter(batch_call([call for asset in checked
                                       for call in ((registry.assetInfo, (asset,)), (registry.ownerOf, (asset,)))]))
            for asset in checked:
                status, pool_id = next(answers)[:2]
                owner = next(answers)
                assert int(pool_id) == model[asset][0]
                assert (int(pool_id) == 0) == (STATUSES[int(status)] == "Repurchased")
                assert int(pool_id) in (0, initial[asset][0])  # never moved to another pool
                if int(pool_id):
                    assert owner == self.owner[int(pool_id)]
                else:
                    assert owner == originator.address
            total = sum(int(rc.pool_info(registry, pool)["count"]) for pool in pools)
            assert total == sum(1 for v in model.values() if v[0] != 0)

    run_state_machine_as_test(RegistryMachine, settings=machine_settings(ci_examples=10, ci_steps=15))
    report_steps("registry", steps)
