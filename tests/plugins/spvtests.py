"""Helpers for the SPV property tests (tests/stateful/test_spv_state.py, tests/integration/test_spv_differential.py).

* :func:`mismatches` / :func:`assert_reconciled`: every on-chain figure against :class:`chainabs.model.deal.DealModel`
  (``chainabs.chain.spv.reconcile`` plus the per-class and per-fee totals, the phase and the pending report);
* :func:`expect_model_error`: when the model refuses an action, the SPV must revert with the same custom
  error and arguments;
* :func:`run_period` / :func:`check_close_events`: one period on chain and in the model, and the close's
  events against the model's result;
* strategies :func:`deal_specs` (random valid specs perturbed from ``deals/consumer_loan.yaml``) and
  :func:`collection_paths` (projected collections with random CPR/CDR/severity, converted to period
  reports and perturbed), and :func:`deploy_and_close` to put a spec on chain over an onboarded pool.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import yaml
from eth_abi import encode
from hypothesis import strategies as st
from web3 import Web3

from chainabs.model import cashflows
from chainabs.model import delinquency
from chainabs.chain import spv as spvlib
from chainabs.model.collections import period_reports
from chainabs.model.deal import ClosedPeriod, DealModel, DealModelError
from chainabs.model.spec import DEALS_DIR, DealSpec, parse_deal
from chainabs.chain import orchestration
from chainabs.chain.sender import transact
from chainabs.dev.sandbox import sandbox_deal, serve
from chainabs.chain.calls import ViewCall
from chainabs.chain.connection import advance_to, connected_web3
from chainabs.chain.read.deal import batch_call as web3_batch_call
from chainabs.model.waterfall import BPS, PeriodReport
from chainabs.model import terms
from plugins.spv import DealFixture
from plugins.token import assert_error

#: Solidity signatures of the SPV errors the model raises (``DealModelError.name`` -> signature).
SPV_ERRORS: dict[str, str] = {
    "WrongPhase": "WrongPhase(uint8,uint8)",
    "UnknownClass": "UnknownClass(uint256)",
    "ZeroAmount": "ZeroAmount()",
    "OverSubscribed": "OverSubscribed(uint256,uint256,uint256)",
    "NotFullySubscribed": "NotFullySubscribed(uint256,uint256,uint256)",
    "ReportPending": "ReportPending(uint256)",
    "NoReportPending": "NoReportPending(uint256)",
    "CleanUpCallNotAvailable": "CleanUpCallNotAvailable(uint256,uint256)",
    "CannotEnd": "CannotEnd(uint256,uint256,uint256)",
    "PeriodsOutstanding": "PeriodsOutstanding(uint256,uint256)",
    "RecoveriesOutstanding": "RecoveriesOutstanding(uint256)",
    "RegistryMismatch": "RegistryMismatch(uint256,uint256)",
    "OfferingExpired": "OfferingExpired(uint256,uint256)",
    "OfferingStillOpen": "OfferingStillOpen(uint256,uint256)",
    "NothingOwed": "NothingOwed()",
    "BuyBackNotAllowed": "BuyBackNotAllowed(uint256)",
    "PoolSold": "PoolSold(uint256,address)",
}
ZERO32 = b"\0" * 32
#: A report of nothing, for calls that must fail before the report is looked at.
EMPTY_REPORT = PeriodReport(0, 0, 0, 0, 0, 0, 0, 0, 0)


# ------------------------------------------------------------------------------------------ reconciliation


def batch_call(calls: list[tuple[Any, tuple]]) -> list[Any]:
    """Brownie view calls ``[(contract.fn, args), ...]`` in one JSON-RPC batch
    (:func:`chainabs.chain.read.deal.batch_call`): the state machines read hundreds of figures per step."""
    return web3_batch_call(connected_web3(), [ViewCall(str(fn._address), fn.abi, tuple(args)) for fn, args in calls])


def report_hash(report: PeriodReport | None) -> bytes:
    """``keccak256(abi.encode(report))`` as the SPV stores it for the pending report (zero if none)."""
    if report is None:
        return ZERO32
    return bytes(Web3.keccak(encode(["uint256"] * 9, list(report.as_abi()))))


def mismatches(spv: Any, model: DealModel) -> pd.DataFrame:
    """Rows of ``reconcile`` plus the SPV's own per-class/per-fee totals and pending figures that differ."""
    table = spvlib.reconcile(spv, model)
    n, fees = len(model.distributed), len(model.fees_paid)
    calls = [(spv.phase, ()), (spv.pendingReportHash, ()), (spv.pendingCleanUpPrice, ())]
    calls += [(spv.distributedToClass, (i,)) for i in range(n)] + [(spv.feePaidTotal, (k,)) for k in range(fees)]
    values = batch_call(calls)
    names = ["phase", "pendingReportHash", "pendingCleanUpPrice"]
    names += [f"distributedToClass({i})" for i in range(n)] + [f"feePaidTotal({k})" for k in range(fees)]
    expected = [int(model.phase), report_hash(model.pending), model.pending_clean_up, *model.distributed, *model.fees_paid]
    got = [bytes(v) if isinstance(v, bytes) else int(v) for v in values]
    extra = pd.DataFrame([{"figure": f, "chain": c, "model": m, "match": c == m} for f, c, m in zip(names, got, expected)])
    table = pd.concat([table, extra], ignore_index=True)
    return table[~table["match"].astype(bool)]


def assert_reconciled(spv: Any, model: DealModel, context: str = "") -> None:
    """Every on-chain figure equals the model's, and the SPV's ledger balances."""
    bad = mismatches(spv, model)
    assert bad.empty, f"{context}: chain differs from the model:\n{bad.to_string()}"
    ledger = spvlib.read_ledger(spv)
    assert ledger.received == ledger.accounted, f"{context}: ledger does not balance: {ledger}"


def expect_model_error(error: DealModelError, fn: Any, *args: Any, sender: Any) -> None:
    """The SPV must refuse ``fn(*args)`` from ``sender`` with the model's custom error and arguments.

    The chain's error may carry more arguments than the model's (``CannotEnd`` adds the legal final date);
    the model's are compared with the leading ones. Checked with an eth_call: no state changes.
    """
    decoded = assert_error(fn, *args, sender=sender, error=SPV_ERRORS[error.name])
    expected = tuple(int(a) for a in error.error_args)
    assert tuple(int(v) for v in decoded[: len(expected)]) == expected, (error, decoded)


def model_or_error(action: Callable[[], Any]) -> tuple[Any, DealModelError | None]:
    """Run a model action; return (its result, None) or (None, the error it raised)."""
    try:
        return action(), None
    except DealModelError as exc:
        return None, exc


# --------------------------------------------------------------------------------------------------- periods


def fund(d: DealFixture, account: Any, amount: int) -> None:
    """The test currency minted to ``account`` (the servicer's collections, the originator's call price)."""
    if amount:
        transact(d.currency.mint, account, amount, sender=d.roles["arranger"])


def sleep_to_payment_date(d: DealFixture, period: int) -> None:
    """Advance the chain to the payment date of ``period`` (no-op if already there)."""
    advance_to(int(d.spv.paymentDate(period)))


def submit(d: DealFixture, projected: PeriodReport) -> PeriodReport:
    """The servicer's period from a pool-level projection (:func:`chainabs.dev.sandbox.serve`: loan-level tape,
    registry updates, report with its commitment); the model takes the same report, which is returned."""
    served = serve(d, projected)
    assert served.submitted.event("ReportSubmitted")["collections"] == d.model.submit(served.report)
    return served.report


def close(d: DealFixture, caller: Any) -> tuple[Any, ClosedPeriod]:
    """Close the pending period once its payment date has come, on chain and in the model."""
    period = d.model.state.periods_closed + 1
    sleep_to_payment_date(d, period)
    tx = spvlib.close_period(d.spv, caller, d.model.pending)
    before = d.model.state
    closed = d.model.close_period()
    check_close_events(d, tx, closed, before.triggers_breached)
    return tx, closed


def end_terms(d: DealFixture) -> dict[str, Any]:
    """What ``DealModel.end_deal`` needs to know of the chain now: at legal final? a period due by legal
    final still open (its payment date from the model's calendar, which must equal the SPV's)? defaulted
    principal in the registry while the SPV still owns the pool? (The model knows whether the clean-up call sold the
    pool, as the SPV does.)"""
    from brownie import chain

    from chainabs.model.deal import payment_date

    closed = d.model.state.periods_closed
    due = payment_date(d.times.first_payment, d.model.params.period_months, closed + 1)
    assert int(d.spv.paymentDate(closed + 1)) == due, "calendar of the SPV and of the model differ"
    defaulted = 0
    owned = d.registry.poolOwner(d.pool_id) == d.spv.address
    if owned:
        defaulted = spvlib.defaulted_claims(d.spv)
    return {"legal_final": chain.time() >= d.times.legal_final, "periods_outstanding": due <= d.times.legal_final,
            "recoveries_outstanding": defaulted}


def end_settlements(tx: Any) -> list[tuple[str, int, int, int]]:
    """The end of the deal's settlements of carried shortfalls in ``tx`` as ``DealModel.end_settlements`` lists
    them: (event, fee or class index, paid, lost), the fees' first."""
    names = ("FeeShortfallSettled", "InterestShortfallSettled")
    return [(name, int(e["feeIndex" if name == names[0] else "classIndex"]), int(e["paid"]), int(e["lost"]))
            for name in names for e in _events(tx, name)]


def run_period(d: DealFixture, report: PeriodReport, caller: Any) -> tuple[Any, ClosedPeriod]:
    """Submit ``report`` and close its period."""
    submit(d, report)
    return close(d, caller)


def _events(tx: Any, name: str) -> list[Any]:
    return list(tx.events[name]) if name in tx.events else []


def check_close_events(d: DealFixture, tx: Any, closed: ClosedPeriod, triggers_before: int) -> None:
    """The close's events say exactly what the model paid: result, fees, classes, reserve draw, triggers."""
    from chainabs.model.waterfall import PeriodResult

    res = closed.result
    assert PeriodResult.from_abi(tx.event("PeriodClosed")["result"]) == res, "PeriodClosed result"
    recipients = [str(a) for a in d.spv.feeRecipients()]
    tokens = {str(a) for a in d.spv.classTokens()}
    fees = [
        (str(e["to"]), int(e["value"])) for e in _events(tx, "Transfer")
        if e.address == d.currency.address and str(e["from"]) == d.spv.address and str(e["to"]) not in tokens
    ]
    assert fees == [], "a close books fees for their recipients to withdraw; it sends them nothing"
    owed = [int(d.spv.feeOwed(k)) for k in range(len(recipients))]
    assert owed == [d.model.fee_owed(k) for k in range(len(recipients))], "fees owed"
    balances = [
        (int(e["classIndex"]), int(e["balance"]), int(e["pdl"]), int(e["interestShortfall"]))
        for e in _events(tx, "ClassBalances")
    ]
    st_ = closed.state
    assert balances == [
        (i, st_.class_balances[i], st_.pdl[i], st_.interest_shortfalls[i]) for i in range(len(st_.class_balances))
    ], "ClassBalances events"
    draws = [int(e["amount"]) for e in _events(tx, "ReserveDrawn")]
    assert draws == ([res.reserve_draw] if res.reserve_draw else []), "ReserveDrawn events"
    changed = triggers_before ^ res.triggers_breached
    breached = [int(e["triggerIndex"]) for e in _events(tx, "TriggerBreached")]
    cured = [int(e["triggerIndex"]) for e in _events(tx, "TriggerCured")]
    assert breached == [j for j in range(len(res.trigger_values)) if changed >> j & 1 and res.triggers_breached >> j & 1]
    assert cured == [j for j in range(len(res.trigger_values)) if changed >> j & 1 and not res.triggers_breached >> j & 1]


def report_ending_at(report: PeriodReport, end: int) -> PeriodReport:
    """``report`` with more prepayments so that the pool ends at ``end`` (at most the report's own ending
    balance); the delinquency buckets are capped to the smaller pool."""
    if end > report.pool_ending_balance:
        raise ValueError(f"cannot end at {end}: above the report's ending balance {report.pool_ending_balance}")
    d30 = min(report.delinquent_30, end)
    d60 = min(report.delinquent_60, end - d30)
    d90 = min(report.delinquent_90_plus, end - d30 - d60)
    return replace(report, prepayments=report.prepayments + report.pool_ending_balance - end, pool_ending_balance=end,
                   delinquent_30=d30, delinquent_60=d60, delinquent_90_plus=d90)


# ------------------------------------------------------------------------------------------------ deploying


def odd_pool(originator: Any, admin: Any, servicer: Any, loans: int = 1_000) -> tuple[DealSpec, Any, int, int, Any]:
    """A sealed registry pool of eligible synthetic consumer loans whose cut-off principal is NOT a multiple of
    10,000 base units: (the sample deal sized to it, registry, pool id, principal, cut-off tape).

    Synthetic balances are whole fen (10,000 base units at 6 decimals), so every ``x * bps / 10,000`` of a
    pool made of them is exact and rounding down is never exercised; a few odd base units added to the
    balances of amortised loans (balance still below the original principal) make each such division leave a
    remainder (fees, reserve targets, clean-up call level, pro-rata shares)."""
    from chainabs.model.synthetic import generate_tape
    from chainabs.model.tape import select_eligible

    base = parse_deal(base_deal_data(), "consumer_loan")
    book = generate_tape(loans, kind="consumer_loan", seed=23, cutoff=base.dates.cut_off, decimals=6)
    criteria = terms.criteria_from_spec(base)
    tape = select_eligible(book, criteria, today=base.dates.cut_off).reset_index(drop=True)
    room = tape.index[tape["principal"] + 7_919 < tape["original_principal"]][:3]
    tape.loc[room, "principal"] += [7_919, 13, 1]
    registry, pool_id = orchestration.open_pool(admin, originator, servicer, criteria)
    spec, _ = orchestration.fill_pool(registry, pool_id, tape, originator, base, progress=False)
    principal = spec.units(spec.pool.original_balance)
    assert principal % 10_000 != 0
    return spec, registry, pool_id, principal, tape


def deploy_and_close(
    spec: DealSpec, pool: tuple[Any, ...], accounts: Any, currency: Any, project: Any, tmp_path: Any, holders: list[Any]
) -> DealFixture:
    """Deploy ``spec`` with the deployment plan over the onboarded ``pool`` (registry, pool id, and optionally
    its cut-off tape), subscribe it and close it (true sale, reserve funded); the fixture's model is closed too."""
    registry, pool_id = pool[:2]
    d = sandbox_deal(spec, accounts, currency, registry, pool_id, project, tmp_path, pool[2] if len(pool) > 2 else None)
    admin = d.roles["arranger"]
    orchestration.subscribe_classes(d, {i: holders for i in range(len(d.sizes()) - 1)}, admin)
    orchestration.close(d, admin)
    return d


# ------------------------------------------------------------------------------------------------ strategies


def base_deal_data() -> dict[str, Any]:
    """``deals/consumer_loan.yaml`` as a mapping, the starting point of the random specs."""
    return yaml.safe_load((DEALS_DIR / "consumer_loan.yaml").read_text())


_TRIGGER_RANGES = {
    "cumulative_net_loss": (0, 1_500),
    "delinquency_60_plus": (0, 1_500),
    "oc_ratio": (9_000, 13_000),
    "ic_ratio": (5_000, 25_000),
}


@st.composite
def deal_specs(draw: Any, pool_units: Decimal) -> DealSpec:
    """A random valid deal spec: the consumer-loan sample with 2-4 classes, random sizes, coupons, fees,
    reserve, triggers and principal mode, validated by ``parse_deal`` and sized to ``pool_units``.

    Hypothesis starts from the simplest draws (zeros, first choices); counts and choices are ordered so that
    those are the richest deal (4 classes, 3 fees, 4 triggers, pro-rata), not the barest."""
    data = copy.deepcopy(base_deal_data())
    pool = 500_000_000
    data["pool"]["original_balance"] = pool
    n = 4 - draw(st.integers(0, 2))
    senior = draw(st.integers(3_000, 8_500))
    juniors = [draw(st.integers(100, 1_500)) for _ in range(n - 2)]
    shares = [senior, *juniors]
    assert sum(shares) < BPS
    sizes = [pool * s // BPS for s in shares]
    sizes.append(pool - sum(sizes))
    names = ["Senior", "Mezzanine", "Junior"][: n - 1] + ["Equity"]
    data["tranches"] = [
        {
            "class_name": names[i],
            "symbol": f"T{i}{names[i][:3].upper()}",
            "seniority": i + 1,
            "size": sizes[i],
            "coupon_bps": 0 if i == n - 1 else draw(st.integers(0, 1_500)),
            "lock_up_days": draw(st.sampled_from([0, 365])),
            "is_equity": i == n - 1,
        }
        for i in range(n)
    ]
    payees = ["arranger", "servicer", "trustee", "regulator", "originator"]
    fees = []
    for k in range(3 - draw(st.integers(0, 3))):
        fixed = draw(st.sampled_from([0, 5_000, 20_000, 250_000]))
        bps = draw(st.integers(0 if fixed else 1, 150))
        fees.append({"name": f"fee{k}", "payee": draw(st.sampled_from(payees)), "fixed_per_period": fixed,
                     "pool_bps_per_annum": bps})
    data["fees"] = fees
    target = draw(st.integers(0, 500))
    step_up = draw(st.integers(target, 1_000))
    initial = pool * draw(st.integers(0, 200)) // BPS
    data["reserve"] = {
        "initial": initial,
        "target_bps": target,
        "step_up_target_bps": step_up,
        "floor": initial * draw(st.integers(0, 100)) // 100,
        "covers_interest_of": names[: draw(st.integers(0, n - 1))],
    }
    triggers = []
    for j in range(4 - draw(st.integers(0, 4))):
        test = draw(st.sampled_from(sorted(_TRIGGER_RANGES)))
        low, high = _TRIGGER_RANGES[test]
        switches = ["sequential", "reserve_step_up"] if step_up > target else ["sequential"]
        chosen = draw(st.lists(st.sampled_from(switches), min_size=1, max_size=2, unique=True))
        triggers.append({"name": f"trigger{j}", "test": test, "threshold_bps": draw(st.integers(low, high)),
                         "switches": chosen, "curable": draw(st.booleans())})
    data["triggers"] = triggers
    data["principal_mode"] = draw(st.sampled_from(["pro_rata", "sequential"]))
    data["clean_up_call_bps"] = 2_000 - draw(st.integers(0, 2_000))
    data["dates"]["frequency_months"] = draw(st.sampled_from([1, 1, 3]))
    return parse_deal(data, "random consumer deal").sized_to(pool_units)


@st.composite
def collection_paths(draw: Any, pool_balance: int, max_months: int = 10) -> list[PeriodReport]:
    """Reports for 2..``max_months`` periods of a pool of ``pool_balance`` base units: a projection (SIFMA
    standard formulas or roll rates) with random CPR/CDR/severity turned into integer reports by
    ``period_reports``, then perturbed (interest shortfalls, extra defaults out of scheduled principal,
    extra recoveries) while keeping every report reconciled with the pool balance."""
    units = pool_balance / 10**6

    def pct(low: int, high: int, start: int) -> float:
        """A percentage in [low, high] whose simplest draw is ``start`` (a realistic value, not zero)."""
        return (low + (draw(st.integers(0, high - low)) + start - low) % (high - low + 1)) / 100

    cpr = pct(0, 60, 15)
    severity = pct(0, 100, 60)
    lag = draw(st.integers(0, 4))
    wac = draw(st.integers(600, 2_400)) / BPS
    term = draw(st.sampled_from([12, 24, 36]))
    if draw(st.booleans()):
        cdr = pct(0, 40, 8)
        df = cashflows.project_pool(units, wac, term, cpr=cpr, cdr=cdr, severity=severity, recovery_lag=lag)
    else:
        m = delinquency.roll_rate_matrix(
            current_to_30=pct(0, 10, 4), roll_30_60=draw(st.integers(10, 60)) / 100,
            roll_60_90=draw(st.integers(10, 70)) / 100, roll_90_default=draw(st.integers(10, 80)) / 100,
            cure_30=0.3, cure_60=0.15, cure_90=0.05,
        )
        df = delinquency.project_delinquency(units, wac, term, m, cpr=cpr, severity=severity, recovery_lag=lag)
    reports = period_reports(df, 6, beginning_balance=pool_balance)[: draw(st.integers(2, max_months))]
    out = []
    for r in reports:
        kind = draw(st.sampled_from(["none", "none", "interest", "defaults", "recoveries"]))
        if kind == "interest":  # collections short of (or above) what the notes are due
            r = replace(r, interest_collections=r.interest_collections * draw(st.integers(0, 150)) // 100)
        elif kind == "defaults":  # part of the scheduled principal defaults instead (pool identity kept)
            moved = r.scheduled_principal * draw(st.integers(0, 100)) // 100
            r = replace(r, scheduled_principal=r.scheduled_principal - moved, defaults=r.defaults + moved)
        elif kind == "recoveries":  # a late recovery on earlier defaults
            r = replace(r, recoveries=r.recoveries + draw(st.integers(0, pool_balance // 200)))
        out.append(r)
    return out
