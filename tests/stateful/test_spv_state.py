"""The closed consumer deal driven by random sequences of actions, against ``chainabs.model.deal.DealModel`` and an
exact model of every holder's entitlement (integers and Fractions).

Rules: the servicer submits a random report consistent with the pool balance (collections, defaults,
recoveries, delinquency; sometimes one that takes the pool down to near the clean-up call level) and
anyone closes it after the payment date (a close before it reverts); holders claim (themselves or through
``claimFor``); holders transfer any class to each other (the retained equity only after its lock-up) and
never to an unverified address; strangers and role holders without the role try every privileged call;
the originator exercises the clean-up call; anyone ends the deal (sometimes after jumping to legal final).
Whatever the model refuses, the SPV must refuse with the same custom error and arguments.

Invariants after every step:
* conservation: ``SPV.ledger()`` balances (received == accounted) and the SPV's currency balance is
  reserve + pending collections + unsettled subscriptions;
* every on-chain figure equals the model's (``reconcile`` plus per-class/per-fee totals and the pending
  report);
* each tranche token: its currency balance == what the SPV distributed to it (model) - what its holders
  claimed (events) - swept dust, exactly; the holders' withdrawable funds plus ``sweepableDust()`` fit in it
  with less than one unit per holder of rounding left; each holder's withdrawn + withdrawable equals its
  exact pro-rata share of every distribution (given its balance at the time) within the token's dust bound,
  per kind (interest, principal);
* balances equal the tracked ones, the supply is all with tracked (verified) holders, ``holderCount`` is
  right, and no unverified address holds a token.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import Phase as HypothesisPhase
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from chainabs.chain import spv as spvlib
from chainabs.chain.contracts import role_id
from chainabs.chain.sender import transact
from chainabs.model.deal import Ledger, Phase
from chainabs.model.waterfall import BPS, PeriodReport
from chainabs.chain.connection import advance_to
from plugins.spvtests import (
    EMPTY_REPORT,
    ZERO32,
    assert_reconciled,
    batch_call,
    check_close_events,
    expect_model_error,
    fund,
    model_or_error,
    odd_pool,
    deploy_and_close,
    sleep_to_payment_date,
)
from plugins.token import assert_error
from plugins.waterfall import period_shapes, report_from_shape

#: A payout may exceed the exact share by at most 2**-24 units (``DistributionMath.ROUNDING_SLACK``).
SLACK = Fraction(1, 2**24)
DAY = 86_400
DEFAULT_ADMIN = b"\0" * 32


def _role(name: str) -> bytes:
    return bytes.fromhex(role_id(name)[2:])


@pytest.fixture(scope="module")
def machine_deal(originator, admin, servicer, accounts, currency, investors, tmp_path_factory):
    """The consumer deal on a pool whose principal is not a round number of base units (so every bps division
    rounds), closed: senior and mezzanine split between investors 0-3, equity retained by the originator."""
    from brownie import project

    spec, registry, pool_id, _ = odd_pool(originator, admin, servicer)
    return deploy_and_close(spec, (registry, pool_id), accounts, currency, project.get_loaded_projects()[0],
                            tmp_path_factory.mktemp("machine"), list(investors[:4]))


def test_spv_state_machine(machine_deal, investors, stranger, accounts, chain):
    d0 = machine_deal
    base_model = copy.deepcopy(d0.model)
    spv, toks, currency, identity = d0.spv, d0.tokens, d0.currency, d0.identity
    roles = d0.roles
    servicer, originator, arranger, trustee = roles["servicer"], roles["originator"], roles["arranger"], roles["trustee"]
    holders = [*investors[:6], originator]
    outsiders = [accounts[7], accounts[8], stranger]  # never KYC'd
    n = len(toks)
    supply = [int(t.totalSupply()) for t in toks]
    bal0 = [[int(t.balanceOf(h)) for h in holders] for t in toks]
    assert [sum(b) for b in bal0] == supply, "the closed deal's tokens are all with the tracked holders"
    lockup_end = [int(t.lockupEnd()) for t in toks]
    level = base_model.clean_up_level()
    # Privileged calls and the role each needs (AccessControlUnauthorizedAccount(sender, role)).
    report_abi = EMPTY_REPORT.as_abi()
    privileged = [
        (spv.submitReport, (report_abi, ZERO32, ""), _role("SERVICER_ROLE")),
        (spv.closeDeal, (), _role("ARRANGER_ROLE")),
        (spv.exerciseCleanUpCall, (report_abi,), _role("ORIGINATOR_ROLE")),
        (spv.subscribeRetained, (n - 1, 1), _role("ORIGINATOR_ROLE")),
        (spv.setFeeRecipient, (0, str(stranger)), _role("TRUSTEE_ROLE")),
        (spv.grantRole, (_role("SERVICER_ROLE"), str(stranger)), DEFAULT_ADMIN),
        (toks[0].distribute, (1, 0), _role("DISTRIBUTOR_ROLE")),
        (toks[0].writeDown, (1,), _role("DISTRIBUTOR_ROLE")),
        (toks[n - 1].setInterestShortfall, (1,), _role("DISTRIBUTOR_ROLE")),
        (toks[1].issue, (str(stranger), 1, b""), _role("ISSUER_ROLE")),
        (toks[1].sweepDust, ([],), DEFAULT_ADMIN),
    ]
    role_holders = {  # who holds which role on the SPV / tokens (an attempt from them without it must fail too)
        _role("SERVICER_ROLE"): {str(servicer)},
        _role("ARRANGER_ROLE"): {str(arranger)},
        _role("ORIGINATOR_ROLE"): {str(originator)},
        _role("TRUSTEE_ROLE"): {str(trustee)},
        _role("DISTRIBUTOR_ROLE"): {str(spv)},
        _role("ISSUER_ROLE"): {str(spv)},
        DEFAULT_ADMIN: {str(arranger)},
    }
    callers = [stranger, servicer, originator, trustee, investors[0]]
    per_run: list[int] = []
    snapshot_verified = [False]
    done: Counter[str] = Counter()  # what the runs actually did (checked at the end: no vacuous run)
    chain.snapshot()

    class SPVMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            chain.revert()
            done["runs"] += 1
            per_run.append(0)
            self.d = dataclasses.replace(d0, model=copy.deepcopy(base_model))
            self.bal = copy.deepcopy(bal0)
            self.locked = [[0] * len(holders) for _ in range(n)]
            self.locked[n - 1][holders.index(originator)] = bal0[n - 1][holders.index(originator)]
            self.exact = [[[Fraction(0), Fraction(0)] for _ in holders] for _ in range(n)]
            self.claimed = [[[0, 0] for _ in holders] for _ in range(n)]
            self.seen = [(t.interest_distributed, t.principal_distributed) for t in self.d.model.tranches]
            # Hypothesis checks the invariants once before the first step of every run: that state is the
            # snapshot's, identical in every run, so it is verified in the first run only.
            self.at_snapshot = True

        def skip_check(self) -> bool:
            return self.at_snapshot and snapshot_verified[0]

        @property
        def model(self):
            return self.d.model

        def credit_distributions(self) -> None:
            """What the model distributed since the last step is owed to the holders pro rata to balances."""
            for c, t in enumerate(self.model.tranches):
                di = t.interest_distributed - self.seen[c][0]
                dp = t.principal_distributed - self.seen[c][1]
                for h, b in enumerate(self.bal[c]):
                    self.exact[c][h][0] += Fraction(di * b, supply[c])
                    self.exact[c][h][1] += Fraction(dp * b, supply[c])
                self.seen[c] = (t.interest_distributed, t.principal_distributed)

        # ------------------------------------------------------------------------------------ servicer
        def _submit(self, report: PeriodReport) -> None:
            _, err = model_or_error(lambda: self.model.submit(report))
            if err is not None:
                expect_model_error(err, spv.submitReport, report.as_abi(), ZERO32, "", sender=servicer)
                done[f"refused: {err.name}"] += 1
                return
            fund(self.d, servicer, report.cash_in)
            tx = spvlib.submit_report(spv, servicer, report, b"\x5a" * 32, "ipfs://servicing-tape")
            assert tx.event("ReportSubmitted")["collections"] == report.cash_in
            done["submitted"] += 1

        def _close(self, early: bool, caller) -> None:
            m = self.model
            if m.phase != Phase.ACTIVE or m.pending is None:
                _, err = model_or_error(m.close_period)
                expect_model_error(err, spv.closePeriod, report_abi, sender=caller)
                done[f"refused: {err.name}"] += 1
                return
            period = m.state.periods_closed + 1
            due = int(spv.paymentDate(period))
            if early and chain.time() + 60 < due:
                assert_error(spv.closePeriod, m.pending.as_abi(), sender=caller,
                             error="PaymentDateNotReached(uint256,uint256,uint256)")
                done["closes before the payment date refused"] += 1
            sleep_to_payment_date(self.d, period)
            before = m.state.triggers_breached
            tx = spvlib.close_period(spv, caller, m.pending)
            closed = m.close_period()
            check_close_events(self.d, tx, closed, before)
            self.credit_distributions()
            done["closed"] += 1
            done["closed with a write-down"] += any(closed.result.write_down)
            done["closed with a trigger breached"] += closed.result.triggers_breached != 0
            done["closed with an interest shortfall"] += any(closed.state.interest_shortfalls)

        def _report(self, shape: tuple[int, ...]) -> PeriodReport:
            """A random report for the current pool (``report_from_shape``) with the principal shares quartered, so
            that the pool runs off over many periods rather than in one or two."""
            interest, sched, prepay, default, *rest = shape
            return report_from_shape(self.model.state, (interest, sched // 4, prepay // 4, default // 4, *rest))

        def _settle_pending(self) -> None:
            """A report left pending by ``submit_only`` is closed first (its payment date comes first)."""
            if self.model.pending is not None and self.model.phase == Phase.ACTIVE:
                self._close(False, stranger)

        @initialize(shape=period_shapes, claim=st.tuples(st.integers(0, n - 1), st.integers(0, len(holders) - 1)),
                    sale=st.tuples(st.integers(0, n - 1), st.integers(0, len(holders) - 1),
                                   st.integers(1, len(holders) - 1), st.integers(1, 100)))
        def first_period(self, shape, claim, sale):
            """Every run opens with a period closed, a holder claiming and one selling to another."""
            self.period(shape, False, stranger, claim, sale)

        @rule(shape=period_shapes, early=st.booleans(), caller=st.sampled_from(callers),
              claim_after=st.none() | st.tuples(st.integers(0, n - 1), st.integers(0, len(holders) - 1)),
              transfer_after=st.none() | st.tuples(st.integers(0, n - 1), st.integers(0, len(holders) - 1),
                                                   st.integers(1, len(holders) - 1), st.integers(1, 100)))
        def period(self, shape, early, caller, claim_after, transfer_after):
            """The servicer submits a random report; anyone closes it once the payment date has come; a holder
            may claim, and one may sell part of its notes to another, right after."""
            self._settle_pending()
            self._submit(self._report(shape))
            self._close(early, caller)
            if claim_after is not None:
                self.claim(*claim_after, for_them=False)
            if transfer_after is not None:
                self.transfer(*transfer_after)

        @rule(shapes=st.lists(period_shapes, min_size=2, max_size=6),
              claims=st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, len(holders) - 1)), max_size=3))
        def several_periods(self, shapes, claims):
            """Months go by: one report per period, each closed on its payment date; then some holders claim."""
            self._settle_pending()
            for shape in shapes:
                self._submit(self._report(shape))
                self._close(False, stranger)
            for c, index in claims:
                self.claim(c, index, for_them=True)

        @rule(where=st.sampled_from(["at", "below", "above"]), keep_bps=st.integers(1, 10_000),
              interest_bps=st.integers(0, 200), call=st.integers(0, 3))
        def period_to_call_level(self, where, keep_bps, interest_bps, call):
            """Principal collections that leave exactly the clean-up call level in the pool, 0.01-100% of it, or
            one unit above it (the call is refused); the originator sometimes (call == 0) calls the deal, the
            period closes, and the deal ends if it can."""
            self._settle_pending()
            begin = self.model.state.pool_balance
            target = {"at": level, "above": level + 1, "below": max(1, level * keep_bps // BPS)}[where]
            end = min(begin, target)
            sched = (begin - end) // 3
            self._submit(PeriodReport(begin * interest_bps // BPS, sched, begin - end - sched, 0, 0, end // 10, 0, 0, end))
            if call == 0:
                self.clean_up_call()
            self._close(False, stranger)
            if call == 0:
                self.end_deal(jump=0, caller=stranger)  # called and paid: the deal can usually end now

        @rule(action=st.sampled_from(["submit", "close", "call"]), shape=period_shapes, early=st.booleans(),
              caller=st.sampled_from(callers))
        def pending_report(self, action, shape, early, caller):
            """One thing about the pending report: the servicer submits one (refused if one is pending), anyone
            closes it (refused if none, or before its payment date), or the originator calls the deal on it."""
            if action == "submit":
                self._submit(self._report(shape))
            elif action == "close":
                self._close(early, caller)
            else:
                self.clean_up_call()

        # ------------------------------------------------------------------------------------- holders
        def pick(self, c: int, index: int, unrestricted: bool = False) -> int | None:
            """The ``index``-th (modulo) tracked holder with a balance (unrestricted: outside the lock-up)."""
            have = [h for h, b in enumerate(self.bal[c]) if b - (self.locked[c][h] if unrestricted else 0) > 0]
            return have[index % len(have)] if have else None

        @rule(kind=st.sampled_from(["claim", "claim for", "transfer", "to unverified"]), c=st.integers(0, n - 1),
              index=st.integers(0, len(holders) - 1), to=st.integers(1, len(holders) - 1), pct=st.integers(1, 100))
        def holder_action(self, kind, c, index, to, pct):
            """A holder of class ``c`` claims (itself, or anyone for it), sends part of its tokens to another
            holder, or tries to send one unit to an unverified address (refused)."""
            if kind.startswith("claim"):
                self.claim(c, index, kind == "claim for")
            elif kind == "transfer":
                self.transfer(c, index, to, pct)
            else:
                self.transfer_to_unverified(c, index, to % len(outsiders))

        def claim(self, c: int, index: int, for_them: bool) -> None:
            entitled = [h for h in range(len(holders)) if self.bal[c][h] or sum(self.exact[c][h]) - sum(self.claimed[c][h]) >= 1]
            h = entitled[index % len(entitled)] if entitled else index
            holder = holders[h]
            expected = [int(v) for v in toks[c].withdrawableOf(holder)]
            cash = int(currency.balanceOf(holder))
            tx = transact(toks[c].claimFor, holder, sender=stranger) if for_them else transact(toks[c].claim, sender=holder)
            got = [0, 0]
            if "FundsWithdrawn" in tx.events:
                ev = tx.event("FundsWithdrawn")
                assert ev["holder"] == holder
                got = [int(ev["interest"]), int(ev["principal"])]
            assert got == expected
            assert int(currency.balanceOf(holder)) - cash == sum(got)
            done["claims paying something"] += sum(got) > 0
            self.claimed[c][h] = [a + b for a, b in zip(self.claimed[c][h], got)]

        def transfer(self, c: int, index: int, to: int, pct: int) -> None:
            a = self.pick(c, index)
            b = (a + to) % len(holders)  # never the sender itself
            amount = max(1, self.bal[c][a] * pct // 100)
            sender, receiver = holders[a], holders[b]
            unrestricted = self.bal[c][a] - self.locked[c][a]
            from_locked = max(0, amount - unrestricted)
            now = chain.time()
            if from_locked and abs(now - lockup_end[c]) < 120:
                return  # too close to the end of the lock-up to know which block decides
            if from_locked and now < lockup_end[c]:
                _, _, code, reason = assert_error(toks[c].transfer, str(receiver), amount, sender=sender,
                                                  error="TransferBlocked(address,address,bytes1,bytes32)")
                assert (code, reason.rstrip(b"\0")) == (b"\x55", b"LOCKUP")  # ERC-1066 funds locked
                done["transfers blocked by the lock-up"] += 1
                return
            transact(toks[c].transfer, receiver, amount, sender=sender)
            self.bal[c][a] -= amount
            self.locked[c][a] -= from_locked
            self.bal[c][b] += amount  # what leaves the lock-up lands unrestricted
            done["transfers"] += 1
            done["transfers out of the lock-up"] += from_locked > 0

        def transfer_to_unverified(self, c: int, index: int, o: int) -> None:
            a = self.pick(c, index, unrestricted=True)
            if a is None:
                return
            _, to, code, _ = assert_error(toks[c].transfer, str(outsiders[o]), 1, sender=holders[a],
                                          error="TransferBlocked(address,address,bytes1,bytes32)")
            assert to == outsiders[o] and code == b"\x57", (to, code)  # ERC-1066 invalid receiver
            done["transfers to unverified refused"] += 1

        # ------------------------------------------------------------------------------------ privileges
        @rule(k=st.integers(0, len(privileged) - 1), who=st.sampled_from(callers))
        def privileged_call_without_the_role_reverts(self, k, who):
            fn, args, role = privileged[k]
            if str(who) in role_holders[role]:
                who = stranger
            assert_error(fn, *args, sender=who, error="AccessControlUnauthorizedAccount(address,bytes32)",
                         values=(str(who), role))
            done["privileged calls refused"] += 1

        # -------------------------------------------------------------------------------------- end of life
        def clean_up_call(self) -> None:
            m = self.model
            _, err = model_or_error(m.exercise_clean_up_call)
            report = m.pending or EMPTY_REPORT
            if err is not None:
                expect_model_error(err, spv.exerciseCleanUpCall, report.as_abi(), sender=originator)
                done[f"refused: {err.name}"] += 1
                return
            fund(self.d, originator, report.pool_ending_balance)
            tx = spvlib.exercise_clean_up_call(spv, originator, report)
            assert tx.event("CleanUpCallExercised")["price"] == report.pool_ending_balance == m.pending_clean_up
            assert d0.registry.poolOwner(d0.pool_id) == originator
            done["clean-up calls"] += 1

        @rule(jump=st.integers(0, 7), caller=st.sampled_from(callers))
        def end_deal(self, jump, caller):
            """Anyone ends the deal; sometimes (jump == 7, some periods in) after legal final has passed."""
            m = self.model
            if jump == 7 and m.state.periods_closed >= 4 and m.phase == Phase.ACTIVE and chain.time() < d0.times.legal_final:
                advance_to(d0.times.legal_final + DAY)
            ended, err = model_or_error(lambda: m.end_deal(legal_final=chain.time() >= d0.times.legal_final))
            if err is not None:
                expect_model_error(err, spv.endDeal, sender=caller)
                done[f"refused: {err.name}"] += 1
                return
            tx = spvlib.end_deal(spv, caller)
            assert (tx.event("DealEnded")["releasedToEquity"], tx.event("DealEnded")["finalWriteDown"]) == ended
            owed = sum(m.fee_owed(k) for k in range(len(m.fees_paid)))
            assert int(currency.balanceOf(spv)) == owed, "only earned fees may be left in the ended SPV"
            self.credit_distributions()
            done["deals ended"] += 1

        @rule(k=st.integers(0, 1), caller=st.sampled_from(callers))
        def withdraw_fees(self, k, caller):
            """Anyone pays a fee's recipient what the fee earned; the money never goes to the caller."""
            m = self.model
            if k >= len(m.fees_paid):
                return
            recipient = spv.feeRecipients()[k]
            before = int(currency.balanceOf(recipient))
            amount = m.withdraw_fees(k)
            spvlib.withdraw_fees(spv, caller, k)
            assert int(currency.balanceOf(recipient)) == before + amount
            done["fee withdrawals" if amount else "fee withdrawals of nothing"] += 1

        # ------------------------------------------------------------------------------------- invariants
        @invariant()
        def conservation(self):
            if self.skip_check():
                return
            done["steps checked"] += 1
            per_run[-1] += 1
            raw, cash = batch_call([(spv.ledger, ()), (currency.balanceOf, (str(spv),))])
            ledger = Ledger(*(int(v) for v in raw))
            assert ledger.received == ledger.accounted, ledger
            assert cash == ledger.held, (cash, ledger)

        @invariant()
        def chain_equals_model(self):
            if self.skip_check():
                return
            assert_reconciled(spv, self.model, f"after {self.model.state.periods_closed} closes")

        @invariant()
        def tokens_and_holders(self):
            if self.skip_check():
                self.at_snapshot = False
                return
            calls = []
            for t in toks:
                calls += [(currency.balanceOf, (str(t),)), (t.totalInterestClaimed, ()), (t.totalPrincipalClaimed, ()),
                          (t.totalDustSwept, ()), (t.sweepableDust, ()), (t.totalSupply, ()), (t.holderCount, ())]
                for h in holders:
                    calls += [(t.balanceOf, (str(h),)), (t.withdrawnOf, (str(h),)), (t.withdrawableOf, (str(h),))]
                calls += [(t.balanceOf, (str(o),)) for o in outsiders]
            calls += [(identity.isEligible, (str(h),)) for h in holders]
            values = iter(batch_call(calls))
            for c, t in enumerate(self.model.tranches):
                cash, i_claimed, p_claimed, swept, dust, total, count = (next(values) for _ in range(7))
                claimed = [sum(x[0] for x in self.claimed[c]), sum(x[1] for x in self.claimed[c])]
                assert [i_claimed, p_claimed] == claimed, f"class {c}: claims"
                assert swept == 0
                distributed = t.interest_distributed + t.principal_distributed
                assert cash == distributed - sum(claimed) - swept, f"class {c}: token cash {cash} != {distributed} - {claimed}"
                withdrawable_total = 0
                for h in range(len(holders)):
                    balance, withdrawn, withdrawable = next(values), next(values), next(values)
                    assert balance == self.bal[c][h], f"class {c} holder {h}: balance"
                    assert [int(v) for v in withdrawn] == self.claimed[c][h], f"class {c} holder {h}: withdrawn"
                    withdrawable_total += sum(int(v) for v in withdrawable)
                    for kind in (0, 1):
                        paid = int(withdrawn[kind]) + int(withdrawable[kind])
                        exact = self.exact[c][h][kind]
                        assert exact - 1 < paid <= exact + SLACK, (c, h, kind, paid, float(exact))
                assert withdrawable_total + dust <= cash <= withdrawable_total + dust + len(holders), (
                    f"class {c}: withdrawable {withdrawable_total} + dust {dust} vs cash {cash}")
                assert total == supply[c] == sum(self.bal[c])
                assert count == sum(1 for b in self.bal[c] if b)
                assert all(next(values) == 0 for _ in outsiders), f"class {c}: an unverified address holds tokens"
            eligible = [next(values) for _ in holders]
            for c in range(n):
                for h, b in enumerate(self.bal[c]):
                    assert not b or eligible[h], f"class {c}: holder {h} holds tokens but is not verified"
            snapshot_verified[0] = True
            self.at_snapshot = False

    # Hypothesis first runs about ten small examples (a step or a few each) whatever max_examples is; the
    # runs after them have the full step count. The target phase is off: it would spend the remaining
    # examples on mutations of the small ones.
    run_state_machine_as_test(SPVMachine, settings=settings(
        max_examples=20, stateful_step_count=8, deadline=None, database=None,
        phases=(HypothesisPhase.generate, HypothesisPhase.shrink),
    ))
    print("\nSPV state machine:", dict(sorted(done.items())), "steps per run:", per_run)
    for what in ("closed", "claims paying something", "transfers", "privileged calls refused"):
        assert done[what] > 0, f"no run exercised {what!r}: {dict(done)}"
    # The end of life is exercised one way or the other (done, or refused exactly as the model refuses it).
    assert done["clean-up calls"] + done["refused: CleanUpCallNotAvailable"] > 0, dict(done)
    assert done["deals ended"] + done["refused: CannotEnd"] > 0, dict(done)
