"""The closed consumer deal driven by random sequences of actions, against ``chainabs.model.deal.DealModel`` and an
exact model of every holder's entitlement (integers and Fractions).

Rules: the servicer submits a random report consistent with the pool balance (collections, defaults,
recoveries, delinquency; sometimes one that takes the pool down to near the clean-up call level, with the
registry brought in line with it) and anyone closes it after the payment date (a close before it reverts);
the trustee sometimes cancels a pending report, the depositors withdraw what it owed them and the servicer
submits the cancelled tape again (its registry updates stay on chain); holders claim
(themselves or through ``claimFor``); holders transfer any class to each other (the retained equity only after
its lock-up, nothing while the books are closed at a record date) and never to an unverified address; holders,
operators and the controller try to redeem (refused while the deal owes principal, allowed once it settled);
the controller forces transfers and recovers a holder's wallet to another wallet of the same investor; the KYC
agent freezes and unfreezes holders (their claims and transfers are refused, their money stays owed); the
stablecoin issuer blocks a tranche token (its payments are held by the SPV, then released); strangers and role
holders without the role try every privileged call; the originator exercises the clean-up call (once its
close sold the pool a report is refused, PoolSold, and the deal ends at once instead); anyone ends the deal (sometimes
after jumping to legal final; the trustee when periods are still open); the KYC agent renews verifications a
year before they lapse.
Whatever the model refuses, the SPV must refuse with the same custom error and arguments.

Invariants after every step:
* conservation: ``SPV.ledger()`` balances (received == accounted) and the SPV's currency balance is what it
  holds for named owners (fees owed, payments held for classes, reserve, pending collections, returnable
  deposits);
* books in sync: every token's current principal and write-down equal the SPV's class book (plus what is held
  for the class), and the token's principal identity holds;
* the record date: while the deal is active, every token's books are closed exactly while a report is pending;
* every accepted report can be closed: a pending report's close succeeds at its payment date (an eth_call with
  the block time moved there);
* the registry's pool aggregates equal the sum of its assets (principal, count, status tallies);
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
from brownie import web3
from hypothesis import Phase as HypothesisPhase
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from chainabs.chain import spv as spvlib
from chainabs.chain.contracts import UNRESTRICTED, role_id
from chainabs.chain.sender import transact
from chainabs.model.deal import Ledger, Phase
from chainabs.model.waterfall import BPS, PeriodReport
from chainabs.chain.connection import advance_to
from plugins.spvtests import (
    EMPTY_REPORT,

    assert_reconciled,
    batch_call,
    check_close_events,
    end_settlements,
    end_terms,
    expect_model_error,
    fund,
    model_or_error,
    odd_pool,
    deploy_and_close,
    sleep_to_payment_date,
)
from chainabs.dev.sandbox import books, serve, serve_tape
from chainabs.model.assets import STATUSES
from plugins.stateful import fuzzing, machine_settings, report_steps
from plugins.token import assert_error, b32
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

    spec, registry, pool_id, _, tape = odd_pool(originator, admin, servicer)
    return deploy_and_close(spec, (registry, pool_id, tape), accounts, currency, project.get_loaded_projects()[0],
                            tmp_path_factory.mktemp("machine"), list(investors[:4]))


def test_spv_state_machine(machine_deal, investors, stranger, accounts, chain, kyc_agent):
    d0 = machine_deal
    base_model = copy.deepcopy(d0.model)
    base_book = copy.deepcopy(books(d0))  # the servicer's books at the snapshot (cut-off tape, registry state)
    spv, toks, currency, identity = d0.spv, d0.tokens, d0.currency, d0.identity
    roles = d0.roles
    servicer, originator, arranger, trustee = roles["servicer"], roles["originator"], roles["arranger"], roles["trustee"]
    # investors 6 and 7 hold nothing at first: wallets that recoveries and forced transfers may fill
    holders = [*investors[:8], originator]
    outsiders = [accounts[7], accounts[8], stranger]  # never KYC'd
    n = len(toks)
    for t in toks:  # the trustee is each tranche's controller (ERC-1644 forced transfers, wallet recovery)
        t.grantRole(t.CONTROLLER_ROLE(), trustee, {"from": arranger})
    supply = [int(t.totalSupply()) for t in toks]
    bal0 = [[int(t.balanceOf(h)) for h in holders] for t in toks]
    assert [sum(b) for b in bal0] == supply, "the closed deal's tokens are all with the tracked holders"
    lockup_end = [int(t.lockupEnd()) for t in toks]
    level = base_model.clean_up_level()
    # Privileged calls and the role each needs (AccessControlUnauthorizedAccount(sender, role)).
    report_abi = EMPTY_REPORT.as_abi()
    privileged = [
        (spv.submitReport, (report_abi, spvlib.EMPTY_COMMITMENT, ""), _role("SERVICER_ROLE")),
        (spv.setPoolServicers, (str(stranger), str(stranger)), _role("TRUSTEE_ROLE")),
        (spv.closeDeal, (), _role("ARRANGER_ROLE")),
        (spv.exerciseCleanUpCall, (report_abi,), _role("ORIGINATOR_ROLE")),
        (spv.subscribeRetained, (n - 1, 1), _role("ORIGINATOR_ROLE")),
        (spv.setFeeRecipient, (0, str(stranger)), _role("TRUSTEE_ROLE")),
        (spv.cancelReport, (), _role("TRUSTEE_ROLE")),
        (spv.grantRole, (_role("SERVICER_ROLE"), str(stranger)), DEFAULT_ADMIN),
        (toks[1].sweepDust, ([],), DEFAULT_ADMIN),
        (toks[0].controllerTransfer, (str(investors[0]), str(investors[1]), 1, b"", b""), _role("CONTROLLER_ROLE")),
        (toks[0].recoverWallet, (str(investors[0]), str(investors[1])), _role("CONTROLLER_ROLE")),
        (identity.setFrozen, (str(investors[0]), True), _role("KYC_AGENT_ROLE")),
    ]
    # Only the SPV moves a token's books: anyone else (the admin included) gets NotDeal(caller, spv).
    deal_only = [
        (toks[0].distribute, (1, 0)),
        (toks[0].writeDown, (1,)),
        (toks[n - 1].setInterestShortfall, (1,)),
        (toks[1].issue, (str(stranger), 1, b"")),
        (toks[1].cancel, (str(investors[0]),)),
        (toks[2].closeBooks, ()),
        (toks[0].settle, ()),
    ]
    role_holders = {  # who holds which role on the SPV / tokens (an attempt from them without it must fail too)
        _role("SERVICER_ROLE"): {str(servicer)},
        _role("ARRANGER_ROLE"): {str(arranger)},
        _role("ORIGINATOR_ROLE"): {str(originator)},
        _role("TRUSTEE_ROLE"): {str(trustee)},
        _role("CONTROLLER_ROLE"): {str(trustee)},
        _role("KYC_AGENT_ROLE"): {str(kyc_agent)},
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
            self.d = dataclasses.replace(d0, model=copy.deepcopy(base_model), book=copy.deepcopy(base_book))
            self.bal = copy.deepcopy(bal0)
            self.locked = [[0] * len(holders) for _ in range(n)]
            self.locked[n - 1][holders.index(originator)] = bal0[n - 1][holders.index(originator)]
            self.exact = [[[Fraction(0), Fraction(0)] for _ in holders] for _ in range(n)]
            self.claimed = [[[0, 0] for _ in holders] for _ in range(n)]
            self.seen = [(t.interest_distributed, t.principal_distributed) for t in self.d.model.tranches]
            self.supply = list(supply)
            self.frozen: set[int] = set()
            self.blocked_tokens: set[int] = set()
            self.returnable: dict[str, int] = {}
            self.cancelled = False  # the trustee cancelled the pending report: its tape is submitted again
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
                    self.exact[c][h][0] += Fraction(di * b, self.supply[c])
                    self.exact[c][h][1] += Fraction(dp * b, self.supply[c])
                self.seen[c] = (t.interest_distributed, t.principal_distributed)

        # ------------------------------------------------------------------------------------ servicer
        def _submit(self, projected: PeriodReport) -> None:
            """The servicer's period, loan by loan (tape, registry updates, committed report) for a projection;
            refused as the model refuses it when no report can be submitted now."""
            m = self.model
            if m.phase != Phase.ACTIVE or m.pending is not None or m.pool_sold:
                _, err = model_or_error(lambda: copy.deepcopy(m).submit(projected))
                expect_model_error(err, spv.submitReport, projected.as_abi(), spvlib.EMPTY_COMMITMENT, "",
                                   sender=servicer)
                done[f"refused: {err.name}"] += 1
                if err.name == "PoolSold":
                    # No report on a pool the deal no longer owns: the deal ends instead, at once (the trustee's
                    # call also works past legal final with periods open).
                    self.end_deal(jump=0, caller=trustee)
                    assert m.phase == Phase.ENDED, "a deal whose pool the clean-up call sold must be able to end"
                    done["deals ended after the call instead of a report"] += 1
                return
            if self.cancelled:
                # The cancelled report's tape again: its registry updates are on chain already.
                served = serve_tape(self.d, books(self.d).last)
                self.cancelled = False
                done["cancelled tapes submitted again"] += 1
            else:
                served = serve(self.d, projected)
            assert served.submitted.event("ReportSubmitted")["collections"] == m.submit(served.report)
            done["submitted"] += 1
            done["registry updates"] += len(served.updates)
            done["recovery steps"] += sum(u.recovery for u in served.updates)

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
            self.renew_kyc()
            before = m.state.triggers_breached
            tx = spvlib.close_period(spv, caller, m.pending)
            closed = m.close_period(refused=self.blocked_tokens)
            check_close_events(self.d, tx, closed, before)
            done["closes holding a class's payment"] += "ClassPaymentHeld" in tx.events
            self.credit_distributions()
            done["closed"] += 1
            done["closed with a write-down"] += any(closed.result.write_down)
            done["closed with a trigger breached"] += closed.result.triggers_breached != 0
            done["closed with an interest shortfall"] += any(closed.state.interest_shortfalls)

        def renew_kyc(self) -> None:
            """The KYC agent renews, to five years on, every holder's verification that would lapse within a year
            (the deal's periods run past the test investors' first five years; a renewal to a later expiry keeps
            a frozen holder frozen and tells no token)."""
            now = chain.time()
            ids = batch_call([(identity.identityOf, (str(h),)) for h in holders])
            due = [(str(h), i) for h, i in zip(holders, ids) if int(i[4]) < now + 365 * DAY]
            if due:
                identity.registerInvestors([a for a, _ in due], [int(i[3]) for _, i in due], [int(i[2]) for _, i in due],
                                           [now + 5 * 365 * DAY] * len(due), {"from": kyc_agent})
                done["verifications renewed"] += len(due)

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
                                   st.integers(1, len(holders) - 1), st.integers(1, 100)),
                    intruder=st.tuples(st.integers(0, len(privileged) - 1), st.sampled_from(callers)))
        def first_period(self, shape, claim, sale, intruder):
            """Every run opens with a privileged call from someone without the role (refused), a period closed, a
            holder claiming and one selling to another."""
            self.privileged_call_without_the_role_reverts(*intruder)
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

        @rule(where=st.sampled_from(["at", "below"]), keep_bps=st.integers(1, 10_000), interest_bps=st.integers(0, 200))
        def run_down_and_call(self, where, keep_bps, interest_bps):
            """The end of life, as often as the many other rules allow: the pool runs down to the call level or
            below it, the originator calls, the period closes and the deal ends if it can."""
            self.period_to_call_level(where, keep_bps, interest_bps, 0)

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
            h = entitled[index % len(entitled)] if entitled else index % len(holders)
            holder = holders[h]
            expected = [int(v) for v in toks[c].withdrawableOf(holder)]
            if h in self.frozen:
                assert_error(toks[c].claimFor, str(holder), sender=stranger, error="ClaimBlocked(address,bytes1,bytes32)",
                             values=(str(holder), b"\x56", b32("SENDER_FROZEN")))
                done["claims of frozen holders refused (money stays owed)"] += 1
                return
            if c in self.blocked_tokens and sum(expected):
                assert_error(toks[c].claimFor, str(holder), sender=stranger, error="AccountBlocked(address)")
                done["claims from a blocked token refused"] += 1
                return
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
            if self.model.pending is not None and self.model.phase == Phase.ACTIVE:
                _, _, code, reason = assert_error(toks[c].transfer, str(receiver), amount, sender=sender,
                                                  error="TransferBlocked(address,address,bytes1,bytes32)")
                assert (code, reason.rstrip(b"\0")) == (b"\x54", b"BOOKS_CLOSED")  # record date passed
                done["transfers refused while the books are closed"] += 1
                return
            if a in self.frozen or b in self.frozen:
                if from_locked and now < lockup_end[c]:
                    return  # the lock-up answers first
                _, _, code, reason = assert_error(toks[c].transfer, str(receiver), amount, sender=sender,
                                                  error="TransferBlocked(address,address,bytes1,bytes32)")
                assert code == (b"\x56" if a in self.frozen else b"\x57"), (code, reason)
                done["transfers of frozen holders refused"] += 1
                return
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
            # What the token answers first: the books closed at a record date (0x54), a frozen sender (0x56),
            # else the unverified receiver (ERC-1066 0x57, invalid receiver).
            books_closed = self.model.pending is not None and self.model.phase == Phase.ACTIVE
            expected = b"\x54" if books_closed else b"\x56" if a in self.frozen else b"\x57"
            assert to == outsiders[o] and code == expected, (to, code, expected)
            done["transfers to unverified refused"] += 1

        def _eligible_holders(self) -> list[int]:
            return [h for h in range(len(holders)) if h not in self.frozen]

        @rule(c=st.integers(0, n - 1), index=st.integers(0, len(holders) - 1),
              path=st.sampled_from(["redeem", "by partition", "operator", "controller"]), pct=st.integers(1, 100))
        def redeem_attempt(self, c, index, path, pct):
            """A holder (itself, through an operator, or the controller) tries to redeem: refused with 0x55
            PRINCIPAL_OWED while the deal owes principal; once the deal ended and settled the tranche, allowed."""
            a = self.pick(c, index)
            if a is None:
                return
            holder = holders[a]
            amount = max(1, self.bal[c][a] * pct // 100)
            t = toks[c]
            settled = bool(t.isSettled())
            if path == "operator":
                t.authorizeOperator(str(investors[0]), {"from": holder})
            call = {
                "redeem": (t.redeem, (amount, b""), holder),
                "by partition": (t.redeemByPartition, (UNRESTRICTED, amount, b""), holder),
                "operator": (t.operatorRedeemByPartition, (UNRESTRICTED, str(holder), amount, b""), investors[0]),
                "controller": (t.controllerRedeem, (str(holder), amount, b"", b""), trustee),
            }[path]
            fn, args, sender = call
            if not settled:
                _, _, code, reason = assert_error(fn, *args, sender=sender,
                                                  error="TransferBlocked(address,address,bytes1,bytes32)")
                assert (code, reason.rstrip(b"\0")) == (b"\x55", b"PRINCIPAL_OWED")
                done["redemptions refused while principal is owed"] += 1
                return
            if path != "controller":
                return  # settled redemptions by holders and operators (lock-up, KYC) are the token tests' business
            unrestricted = self.bal[c][a] - self.locked[c][a]
            fn(*args, {"from": sender})
            self.model.redeem(c, amount)
            self.bal[c][a] -= amount
            self.locked[c][a] -= max(0, amount - unrestricted)
            self.supply[c] -= amount
            done["redemptions after settlement"] += 1

        @rule(c=st.integers(0, n - 1), index=st.integers(0, len(holders) - 1), to=st.integers(1, len(holders) - 1),
              pct=st.integers(1, 100))
        def controller_transfer(self, c, index, to, pct):
            """The controller forces a transfer (court order): allowed while paused, frozen or with closed books;
            the receiver is checked in full; units keep their partition; earned credit stays with the sender."""
            a = self.pick(c, index)
            if a is None:
                return
            b = (a + to) % len(holders)
            amount = max(1, self.bal[c][a] * pct // 100)
            if b in self.frozen:
                _, _, code, _ = assert_error(toks[c].controllerTransfer, str(holders[a]), str(holders[b]), amount, b"", b"",
                                             sender=trustee, error="TransferBlocked(address,address,bytes1,bytes32)")
                assert code == b"\x57"
                done["forced transfers to a frozen holder refused"] += 1
                return
            unrestricted = self.bal[c][a] - self.locked[c][a]
            from_locked = max(0, amount - unrestricted)
            toks[c].controllerTransfer(holders[a], holders[b], amount, b"", b"", {"from": trustee})
            self.bal[c][a] -= amount
            self.bal[c][b] += amount
            self.locked[c][a] -= from_locked
            self.locked[c][b] += from_locked
            done["forced transfers"] += 1

        @rule(index=st.integers(0, len(holders) - 1), to=st.integers(1, len(holders) - 1))
        def recover_wallet(self, index, to):
            """A holder lost its keys: the KYC agent links a replacement wallet to the same investor and the
            controller moves its units (both partitions) and unclaimed credit there, in every class."""
            a, b = index, (index + to) % len(holders)
            lost, replacement = holders[a], holders[b]
            investor = bytes([a + 1]) * 32
            identity.setInvestorId([str(lost), str(replacement)], investor, {"from": kyc_agent})
            for c in range(n):
                if b in self.frozen:
                    assert_error(toks[c].recoverWallet, str(lost), str(replacement), sender=trustee,
                                 error="RecoveryRefused(address,address,bytes1,bytes32)")
                    done["recoveries to a frozen wallet refused"] += 1
                    return
                toks[c].recoverWallet(lost, replacement, {"from": trustee})
                self.bal[c][b] += self.bal[c][a]
                self.locked[c][b] += self.locked[c][a]
                self.bal[c][a] = self.locked[c][a] = 0
                for kind in (0, 1):
                    self.exact[c][b][kind] += self.exact[c][a][kind]
                    self.claimed[c][b][kind] += self.claimed[c][a][kind]
                self.exact[c][a] = [Fraction(0), Fraction(0)]
                self.claimed[c][a] = [0, 0]
            done["wallet recoveries"] += 1

        @rule(index=st.integers(0, len(holders) - 1), on=st.booleans())
        def freeze(self, index, on):
            """The KYC agent freezes (sanctions, court order) or unfreezes a holder."""
            identity.setFrozen(holders[index], on, {"from": kyc_agent})
            (self.frozen.add if on else self.frozen.discard)(index)
            done["freezes" if on else "unfreezes"] += 1

        @rule(c=st.integers(0, n - 1), on=st.booleans())
        def block_token(self, c, on):
            """The stablecoin issuer blocks (or unblocks) a tranche token's address: closes hold its payment."""
            currency.setBlocked(toks[c], on, {"from": arranger})
            (self.blocked_tokens.add if on else self.blocked_tokens.discard)(c)
            done["tokens blocked" if on else "tokens unblocked"] += 1

        @rule(c=st.integers(0, n - 1), caller=st.sampled_from(callers))
        def release_held(self, c, caller):
            """Anyone delivers what is held for a class: refused while nothing is held or the token is still
            blocked (nothing changes then)."""
            m = self.model
            if sum(m.held[c]) == 0:
                assert_error(spv.releaseHeld, c, sender=caller, error="NothingOwed()")
                return
            if c in self.blocked_tokens:
                assert_error(spv.releaseHeld, c, sender=caller, error="AccountBlocked(address)")
                done["releases to a blocked token refused"] += 1
                return
            spvlib.release_held(spv, caller, c)
            m.release_held(c)
            self.credit_distributions()
            done["held payments released"] += 1

        @rule(c=st.integers(0, n - 1), shape=period_shapes, caller=st.sampled_from(callers))
        def held_payment_released_at_a_record_date(self, c, shape, caller):
            """The stablecoin issuer blocks a class's token through a close (its payment held), then unblocks it,
            and anyone releases the held payment while the next report is pending: the class's books stay closed
            until that report's close (the record date holds; ``books_in_sync_and_every_report_closable``)."""
            m = self.model
            self._settle_pending()
            if m.phase != Phase.ACTIVE or m.pool_sold:
                return
            if c not in self.blocked_tokens:
                self.block_token(c, True)
            self._submit(self._report(shape))
            self._close(False, stranger)
            self.block_token(c, False)
            if m.phase != Phase.ACTIVE or m.pool_sold or sum(m.held[c]) == 0:
                return
            self._submit(self._report(shape))
            if m.pending is None:
                return
            self.release_held(c, caller)
            assert bool(toks[c].booksClosed()), f"class {c}: a release at a record date reopened its books"
            done["held payments released at a record date"] += 1

        @rule(action=st.sampled_from(["cancel", "withdraw servicer", "withdraw originator"]))
        def trustee_cancels_report(self, action):
            """The trustee cancels the pending report (deposits become returnable, books reopen); depositors
            withdraw what cancelled reports owe them."""
            m = self.model
            if action == "cancel":
                collections_call, err = model_or_error(m.cancel_report)
                if err is not None:
                    expect_model_error(err, spv.cancelReport, sender=trustee)
                    done[f"refused: {err.name}"] += 1
                    return
                collections, price = collections_call
                spvlib.cancel_report(spv, trustee)
                self.cancelled = True
                self.returnable[str(servicer)] = self.returnable.get(str(servicer), 0) + collections
                self.returnable[str(originator)] = self.returnable.get(str(originator), 0) + price
                done["reports cancelled by the trustee"] += 1
                return
            who = servicer if action == "withdraw servicer" else originator
            owed = self.returnable.get(str(who), 0)
            assert int(spv.returnable(who)) == owed
            if owed == 0:
                assert_error(spv.withdrawReturned, sender=who, error="NothingOwed()")
                return
            assert spvlib.withdraw_returned(spv, who) == owed
            m.withdraw_returned(owed)
            self.returnable[str(who)] = 0
            done["returned deposits withdrawn"] += 1

        # ------------------------------------------------------------------------------------ privileges
        @rule(k=st.integers(0, len(privileged) - 1), who=st.sampled_from(callers))
        def privileged_call_without_the_role_reverts(self, k, who):
            fn, args, role = privileged[k]
            if str(who) in role_holders[role]:
                who = stranger
            assert_error(fn, *args, sender=who, error="AccessControlUnauthorizedAccount(address,bytes32)",
                         values=(str(who), role))
            done["privileged calls refused"] += 1

        @rule(k=st.integers(0, len(deal_only) - 1), who=st.sampled_from([*callers, arranger]))
        def book_moves_by_anyone_but_the_spv_revert(self, k, who):
            fn, args = deal_only[k]
            assert_error(fn, *args, sender=who, error="NotDeal(address,address)", values=(str(who), str(spv)))
            done["book moves by others refused"] += 1

        # -------------------------------------------------------------------------------------- end of life
        def clean_up_call(self) -> None:
            m = self.model
            report = m.pending or EMPTY_REPORT
            live, defaulted = spvlib.clean_up_price(spv, report)  # the report's pool, the registry's claims
            _, err = model_or_error(lambda: m.exercise_clean_up_call(live, defaulted))
            if err is not None:
                expect_model_error(err, spv.exerciseCleanUpCall, report.as_abi(), sender=originator)
                done[f"refused: {err.name}"] += 1
                return
            fund(self.d, originator, live + defaulted)
            tx = spvlib.exercise_clean_up_call(spv, originator, report)
            assert tx.event("CleanUpCallExercised")["price"] == live + defaulted == m.pending_clean_up
            assert d0.registry.poolOwner(d0.pool_id) == spv  # the pool goes with the close that books the price
            done["clean-up calls"] += 1

        @rule(jump=st.integers(0, 7), caller=st.sampled_from(callers))
        def end_deal(self, jump, caller):
            """Anyone ends the deal; sometimes (jump == 7, some periods in) after legal final has passed."""
            m = self.model
            if jump == 7 and m.state.periods_closed >= 4 and m.phase == Phase.ACTIVE and chain.time() < d0.times.legal_final:
                advance_to(d0.times.legal_final + DAY)
                self.renew_kyc()
            terms = end_terms(self.d) if m.phase == Phase.ACTIVE else {}
            ended, err = model_or_error(lambda: m.end_deal(**terms, trustee=caller == trustee, refused=self.blocked_tokens))
            if err is not None:
                expect_model_error(err, spv.endDeal, sender=caller)
                done[f"refused: {err.name}"] += 1
                return
            tx = spvlib.end_deal(spv, caller)
            assert (tx.event("DealEnded")["releasedToEquity"], tx.event("DealEnded")["finalWriteDown"]) == ended
            assert end_settlements(tx) == m.end_settlements
            if m.end_settlements:
                done["deals ended with carried shortfalls"] += 1
            owed = sum(m.fee_owed(k) for k in range(len(m.fees_paid)))
            named = owed + m.ledger.held_for_classes + m.ledger.deposits_returnable
            assert int(currency.balanceOf(spv)) == named, "only money owed to named owners may be left in the SPV"
            for c, t in enumerate(toks):
                assert bool(t.isSettled()) == (sum(m.held[c]) == 0)
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
        def books_in_sync_and_every_report_closable(self):
            if self.skip_check():
                return
            calls = [(spv.dealState, ())]
            for c, t in enumerate(toks):
                calls += [(t.currentPrincipal, ()), (t.cumulativeWriteDown, ()), (t.totalPrincipalDistributed, ()),
                          (t.principalRetired, ()), (t.totalIssued, ()), (spv.heldForClass, (c,)), (t.booksClosed, ())]
            values = iter(batch_call(calls))
            state = next(values)
            balances, pdl = state[2], state[4]
            pending = self.model.phase == Phase.ACTIVE and self.model.pending is not None
            for c in range(n):
                principal, written, paid, retired, issued, held, closed = (next(values) for _ in range(7))
                if self.model.phase == Phase.ACTIVE:
                    # The record date holds: every class's books are closed exactly while a report is pending
                    # (a held payment released meanwhile does not reopen them).
                    assert bool(closed) == pending, f"class {c}: books closed {closed}, report pending {pending}"
                if self.model.phase != Phase.ENDED:
                    assert principal == balances[c] - pdl[c] + int(held[1]), f"class {c}: token principal vs book"
                    assert written == pdl[c], f"class {c}: token write-down vs PDL"
                assert principal + written + paid + retired == issued, f"class {c}: principal identity"
            m = self.model
            if m.phase == Phase.ACTIVE and m.pending is not None:
                # A report the SPV accepted can be closed once due: a call at its payment date succeeds.
                due = int(spv.paymentDate(m.state.periods_closed + 1))
                call = {"from": str(stranger), "to": str(spv), "data": spv.closePeriod.encode_input(m.pending.as_abi())}
                reply = web3.provider.make_request("eth_call", [call, "latest", {}, {"time": hex(max(due, chain.time()) + 1)}])
                assert "error" not in reply, f"the pending report cannot be closed: {reply['error']}"

        @invariant()
        def registry_aggregates(self):
            if self.skip_check():
                return
            registry = d0.registry
            statuses = [k for k in range(1, len(STATUSES)) if STATUSES[k] != "Repurchased"]
            calls = [(registry.poolInfo, (d0.pool_id,))] + [(registry.statusTally, (d0.pool_id, k)) for k in statuses]
            info, *tallies = batch_call(calls)
            state = self.d.book.registry
            assert int(info[6]) == int(state["principal"].sum()), "pool principal = the sum of its loans' principal"
            assert int(info[5]) == len(state), "pool count = its loans"
            for k, (count, principal) in zip(statuses, tallies):
                mine = state[state["status"] == STATUSES[k]]
                assert (int(count), int(principal)) == (len(mine), int(mine["principal"].sum())), STATUSES[k]

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
                calls += [(currency.balanceOf, (str(t),)), (t.totalDustSwept, ()), (t.sweepableDust, ()), (t.totalSupply, ()), (t.holderCount, ())]
                for h in holders:
                    calls += [(t.balanceOf, (str(h),)), (t.withdrawnOf, (str(h),)), (t.withdrawableOf, (str(h),))]
                calls += [(t.balanceOf, (str(o),)) for o in outsiders]
            calls += [(identity.identityOf, (str(h),)) for h in holders]
            values = iter(batch_call(calls))
            for c, t in enumerate(self.model.tranches):
                cash, swept, dust, total, count = (next(values) for _ in range(5))
                claimed = [sum(x[0] for x in self.claimed[c]), sum(x[1] for x in self.claimed[c])]
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
                assert total == self.supply[c] == sum(self.bal[c])
                assert count == sum(1 for b in self.bal[c] if b)
                assert all(next(values) == 0 for _ in outsiders), f"class {c}: an unverified address holds tokens"
            verified = [bool(next(values)[0]) for _ in holders]  # frozen holders keep their units: verified
            for c in range(n):
                for h, b in enumerate(self.bal[c]):
                    assert not b or verified[h], f"class {c}: holder {h} holds tokens but is not verified"
            snapshot_verified[0] = True
            self.at_snapshot = False

    # Hypothesis first runs about ten small examples (a step or a few each) whatever max_examples is; the
    # runs after them have the full step count. The target phase is off: it would spend the remaining
    # examples on mutations of the small ones.
    run_state_machine_as_test(SPVMachine, settings=machine_settings(
        ci_examples=30, ci_steps=8, phases=(HypothesisPhase.generate, HypothesisPhase.shrink)))
    report_steps("spv", done)
    if fuzzing():
        return  # the campaign's coverage is checked on the derandomized CI run; a fuzz run reports its steps
    for what in ("closed", "claims paying something", "transfers", "privileged calls refused",
                 "held payments released at a record date"):
        assert done[what] > 0, f"no run exercised {what!r}: {dict(done)}"
    # The end of life is exercised one way or the other (done, or refused exactly as the model refuses it).
    assert done["clean-up calls"] + done["refused: CleanUpCallNotAvailable"] > 0, dict(done)
    assert done["deals ended"] + done["refused: CannotEnd"] + done["refused: PeriodsOutstanding"] > 0, dict(done)
