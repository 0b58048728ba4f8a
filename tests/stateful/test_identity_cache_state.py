"""The identity cache never lets through what the registry refuses: a differential state machine.

Two tranche tokens share one identity registry and receive the same operations: ``cached`` is the registry's
listener (each holder's clearance is stamped on its account and the registry is asked only about parties without a
valid stamp), ``direct`` is not (it asks the registry on every transfer and claim, as every token did before the
cache). Random KYC changes (freeze and unfreeze, removal and re-registration, an update to another jurisdiction or
another expiry, a jurisdiction disallowed and allowed again), time passing over expiries, distributions, the listener
removed and added again, transfers, forced transfers and claims.

Checked after every step: both tokens answer ``canTransfer`` identically for every holder (the cached one without
asking the registry about stamped holders); at every claim, ``canClaim`` too; every transfer, forced transfer and
claim has the same outcome (the same ``TransferBlocked`` / ``ClaimBlocked`` reason or the same amounts), and the parties'
balances and withdrawable funds are equal."""

from __future__ import annotations

from collections import Counter

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from chainabs.chain import tokens
from chainabs.chain.sender import TxError, transact
from plugins.stateful import machine_settings, report_steps
from plugins.token import FACE, GB, US, chain_now, plain

DAY = 24 * 3600
JURISDICTIONS = (US, GB)


def test_identity_cache_matches_the_registry(admin, kyc_agent, servicer, trustee, investors, originator, currency,
                                             chain, web3):
    registry = tokens.deploy_identity_registry(admin, [kyc_agent])
    tokens.allow_jurisdictions(registry, admin, list(JURISDICTIONS))
    holders = list(investors[:5])
    rows = [{"address": str(h), "jurisdiction": JURISDICTIONS[i % 2], "investor_type": 1,
             "expiry": chain.time() + 40 * DAY} for i, h in enumerate(holders)]
    tokens.register_investors(registry, kyc_agent, rows)
    stranger = investors[5]  # never registered at the start; the machine may register it
    everyone = holders + [stranger]

    def tranche(symbol: str, cache: bool):
        tok = tokens.deploy_tranche(name=symbol, symbol=symbol, currency=currency, registry=registry, admin=admin,
                                    coupon_bps=500, residual_recipient=originator, deal=servicer,
                                    roles={"CONTROLLER_ROLE": [trustee]}, identity_cache=cache)
        transact(currency.approve, tok, 2**256 - 1, sender=servicer)
        return tok

    cached, direct = tranche("CACHED", True), tranche("DIRECT", False)
    both = (cached, direct)
    assert plain(registry.identityListeners()) == (str(cached.address),)
    transact(currency.mint, servicer, 10**15, sender=admin)
    chain.snapshot()
    steps: Counter[str] = Counter()

    def outcome(fn_name: str, *args, sender) -> list:
        """The same call on both tokens: each one's result, or its one-line error."""
        results = []
        for tok in both:
            try:
                receipt = transact(getattr(tok, fn_name), *args, sender=sender)
                paid = [(int(e["interest"]), int(e["principal"])) for e in receipt.events.get("FundsWithdrawn", ())]
                results.append(("ok", tuple(paid)))
            except TxError as exc:
                assert exc.name, f"{fn_name} failed without a custom error: {exc}"
                results.append(("refused", exc.name, plain(tuple(exc.error_args))))
        return results

    class CacheMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            chain.revert()
            steps["runs"] += 1
            self.listening = True

        @initialize(amounts=st.lists(st.integers(1, 10 * FACE), min_size=5, max_size=5))
        def issue(self, amounts):
            for h, amount in zip(holders, amounts):
                for tok in both:
                    transact(tok.issue, h, amount, b"", sender=servicer)

        def _same(self, results: list, kind: str) -> None:
            assert results[0] == results[1], f"{kind}: cached token {results[0]} but direct token {results[1]}"
            steps[f"{kind} {results[0][0]}"] += 1
            steps["steps"] += 1

        @rule(i=st.integers(0, 5), j=st.integers(0, 5), pct=st.integers(0, 100))
        def transfer(self, i, j, pct):
            sender, receiver = everyone[i], everyone[j]
            amount = int(cached.balanceOf(sender)) * pct // 100
            self._same(outcome("transfer", receiver, amount, sender=sender), "transfer")
            self._same_books(sender, receiver)

        def _same_books(self, *parties) -> None:
            for h in parties:
                assert int(cached.balanceOf(h)) == int(direct.balanceOf(h))
                assert plain(cached.withdrawableOf(h)) == plain(direct.withdrawableOf(h))

        @rule(i=st.integers(0, 5), j=st.integers(0, 5), pct=st.integers(1, 100))
        def forced_transfer(self, i, j, pct):
            sender, receiver = everyone[i], everyone[j]
            amount = int(cached.balanceOf(sender)) * pct // 100
            self._same(outcome("controllerTransfer", sender, receiver, amount, b"", b"", sender=trustee), "forced")
            self._same_books(sender, receiver)

        @rule(i=st.integers(0, 5))
        def claim(self, i):
            for j, h in enumerate(everyone):
                answer = plain(cached.canClaim(h))
                assert answer == plain(direct.canClaim(h)), f"canClaim {j}"
                steps["canClaim " + ("ok" if bytes(answer[0]) == b"\x51" else "refused")] += 1
            self._same(outcome("claim", sender=everyone[i]), "claim")

        @rule(interest=st.integers(1, 10**12))
        def distribute(self, interest):
            for tok in both:
                transact(tok.distribute, interest, 0, sender=servicer)
            steps["distribute"] += 1

        def _change(self, kind: str, i: int, k: int, days: int, hours: int) -> None:
            investor = everyone[i]
            if kind in ("freeze", "unfreeze", "remove") and not registry.identityOf(investor)[0]:
                kind, days = "register", max(days, 1)  # nothing to change: the investor is registered instead
            if kind in ("freeze", "unfreeze"):
                transact(registry.setFrozen, investor, kind == "freeze", sender=kyc_agent)
            elif kind == "remove":
                transact(registry.removeInvestor, investor, sender=kyc_agent)
            elif kind == "register":
                expiry = chain_now(web3) + days * DAY + hours * 3600
                transact(registry.registerInvestor, investor, JURISDICTIONS[k], 1, expiry, sender=kyc_agent)
            else:
                transact(registry.setJurisdictionAllowed, JURISDICTIONS[k], kind == "allow", sender=admin)
            steps[kind] += 1

        @rule(kind=st.sampled_from(["freeze", "remove", "disallow"]), i=st.integers(0, 5), k=st.integers(0, 1))
        def restrict(self, kind, i, k):
            """A change that refuses what was allowed: a freeze, a removal, a jurisdiction disallowed."""
            self._change(kind, i, k, 0, 0)

        @rule(kind=st.sampled_from(["unfreeze", "allow"]), i=st.integers(0, 5), k=st.integers(0, 1))
        def relax(self, kind, i, k):
            """A change that allows again: an unfreeze, a jurisdiction allowed."""
            self._change(kind, i, k, 0, 0)

        @rule(i=st.integers(0, 5), k=st.integers(0, 1), days=st.integers(1, 12), hours=st.integers(0, 23))
        def register(self, i, k, days, hours):
            """A registration or an update: the same or another jurisdiction, an earlier or later expiry (hours into
            a day: stamps only keep the day)."""
            self._change("register", i, k, days, hours)

        @rule(hours=st.integers(1, 96))
        def time_passes(self, hours):
            chain.sleep(hours * 3600)
            chain.mine()
            steps["time passes"] += 1

        @rule()
        def listener_toggled(self):
            if self.listening:
                transact(registry.removeIdentityListener, cached, sender=admin)
            else:
                transact(registry.addIdentityListener, cached, sender=admin)
            self.listening = not self.listening
            assert cached.identityCache()[0] == self.listening
            steps["listener toggled"] += 1

        @invariant()
        def same_answers(self):
            for i, h in enumerate(everyone):
                receiver = everyone[(i + 1) % len(everyone)]
                amount = int(cached.balanceOf(h))
                assert plain(cached.canTransfer(receiver, amount, b"", {"from": h})) == plain(
                    direct.canTransfer(receiver, amount, b"", {"from": h})), f"canTransfer {i} -> {receiver}"

    run_state_machine_as_test(CacheMachine, settings=machine_settings(10, 30))
    report_steps("identity_cache", steps)
    # The campaign reached the cases that matter: stamps used and dropped, refusals after restrictive changes.
    assert steps["transfer ok"] and steps["transfer refused"] and steps["canClaim ok"] and steps["canClaim refused"]
    assert steps["freeze"] + steps["remove"] + steps["disallow"] and steps["listener toggled"]
