"""Random sequences of transfers, distributions, claims, issues, redemption attempts (refused until the deal
settles the tranche), settlement and redemptions, and controller transfers against an exact Python model
(integers and Fractions).

Invariants: sum of balances == totalSupply; for every holder and each kind (interest, principal),
withdrawn + withdrawable is the exact share within the stated dust bound
(exact - 1 < paid <= exact + 2**-24), and the distributed totals and sweepable dust equal the model's; no unverified address ever holds a token; the principal identity
currentPrincipal + cumulativeWriteDown + principalDistributed + principalRetired == totalIssued."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from collections import Counter

from chainabs.chain.sender import transact
from plugins.stateful import machine_settings, report_steps
from plugins.token import FACE, ExactShares, assert_error, blocked


def test_tranche_token_state_machine(tranche, servicer, trustee, verified, accounts, currency, admin, chain):
    holders = list(verified[:6])
    outsiders = [accounts[18], accounts[19]]  # never verified
    transact(currency.mint, servicer, 10**15, sender=admin)
    transact(currency.approve, tranche, 2**256 - 1, sender=servicer)
    chain.snapshot()

    steps: Counter[str] = Counter()

    class TokenMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            chain.revert()
            steps["runs"] += 1
            self.model = ExactShares(holders)
            self.bal = self.model.bal
            self.distributed = False
            self.principal = 0
            self.interest_per_token = 0  # the token's interest accumulator (2**96 scale), capped at 2**128 - 1

        def supply(self) -> int:
            return sum(self.bal.values())

        @initialize(amounts=st.lists(st.integers(1, 10 * FACE), min_size=3, max_size=3))
        def issue_initial(self, amounts):
            for h, amount in zip(holders[:3], amounts):
                transact(tranche.issue, h, amount, b"", sender=servicer)
                self.model.issue(h, amount)
                self.principal += amount

        @rule(i=st.integers(0, 5), j=st.integers(0, 5), pct=st.integers(0, 100))
        def transfer(self, i, j, pct):
            a, b = holders[i], holders[j]
            amount = self.bal[str(a)] * pct // 100
            transact(tranche.transfer, b, amount, sender=a)
            self.model.move(a, b, amount)

        @rule(i=st.integers(0, 5), j=st.integers(0, 1), amount=st.integers(1, FACE))
        def transfer_to_outsider_fails(self, i, j, amount):
            code, _, _ = tranche.canTransfer(outsiders[j], amount, b"", {"from": holders[i]})
            assert int(str(code), 16) in (0x52, 0x57)

        @rule(i=st.integers(0, 5), j=st.integers(0, 5), pct=st.integers(0, 100))
        def controller_transfer(self, i, j, pct):
            a, b = holders[i], holders[j]
            amount = self.bal[str(a)] * pct // 100
            transact(tranche.controllerTransfer, a, b, amount, b"", b"", sender=trustee)
            self.model.move(a, b, amount)

        @rule(i=st.integers(0, 5), amount=st.integers(0, 5 * FACE))
        def issue(self, i, amount):
            if self.distributed or tranche.isSettled():
                return
            transact(tranche.issue, holders[i], amount, b"", sender=servicer)
            self.model.issue(holders[i], amount)
            self.principal += amount

        @rule(i=st.integers(0, 5), pct=st.integers(1, 100))
        def redeem_refused_while_principal_owed(self, i, pct):
            # Before the deal settles the tranche nothing can be redeemed: the books stay the deal's.
            if tranche.isSettled():
                return
            h = holders[i]
            amount = max(1, self.bal[str(h)] * pct // 100)
            blocked(tranche.redeem, amount, b"", sender=h, frm=h, to=None, code=0x55, reason="PRINCIPAL_OWED")

        @rule(i=st.integers(0, 5), pct=st.integers(0, 100))
        def settle_and_redeem(self, i, pct):
            # Settlement is final (the deal is over): redemptions from here on, no more distributions.
            if not tranche.isSettled():
                tranche.settle({"from": servicer})
            h = holders[i]
            amount = self.bal[str(h)] * pct // 100
            transact(tranche.redeem, amount, b"", sender=h)
            supply = self.supply()
            if amount:
                self.principal = self.principal * (supply - amount) // supply
            self.model.redeem(h, amount)

        @rule(interest=st.integers(0, 10**12), pct=st.integers(0, 30))
        def distribute(self, interest, pct):
            supply = self.supply()
            if supply == 0 or tranche.isSettled():
                return
            principal = self.principal * pct // 100
            per_token = self.interest_per_token + interest * 2**96 // supply
            if per_token >= 2**128:
                # More interest than 2**32 times the supply in all: the accumulator's range, refused by name.
                # (A real tranche pays a small multiple of its face; the machine's tiny supplies get there.)
                assert_error(tranche.distribute, interest, principal, sender=servicer,
                             error="ValueOutOfRange(bytes32,uint256,uint256)",
                             values=(b"interestPerToken".ljust(32, b"\0"), per_token, 2**128 - 1))
                steps["distributions past the accumulator's range refused"] += 1
                return
            transact(tranche.distribute, interest, principal, sender=servicer)
            self.interest_per_token = per_token
            self.model.distribute(interest, principal)
            self.principal -= principal
            self.distributed = True

        @rule(i=st.integers(0, 5))
        def claim(self, i):
            h = holders[i]
            self.model.record_claim(h, transact(tranche.claim, sender=h))

        @invariant()
        def balances_match(self):
            steps["steps"] += 1
            assert tranche.totalSupply() == self.supply()
            for h in holders:
                assert tranche.balanceOf(h) == self.bal[str(h)]
            for o in outsiders:
                assert tranche.balanceOf(o) == 0
            assert tranche.holderCount() == sum(1 for b in self.bal.values() if b)

        @invariant()
        def entitlements_exact_within_dust_bound(self):
            for h in holders:
                self.model.check_holder(tranche, h)
            self.model.check_totals(tranche)  # distributed totals; sweepable dust mirrored, never above the true

        @invariant()
        def principal_identity(self):
            cp, wd = tranche.currentPrincipal(), tranche.cumulativeWriteDown()
            assert cp == self.principal
            assert cp + wd + tranche.totalPrincipalDistributed() + tranche.principalRetired() == tranche.totalIssued()
            assert currency.balanceOf(tranche) >= sum(tranche.withdrawableFundsOf(h) for h in holders)

    run_state_machine_as_test(TokenMachine, settings=machine_settings(ci_examples=8, ci_steps=16))
    report_steps("token", steps)
