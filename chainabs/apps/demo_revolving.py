"""The revolving period of a receivables deal in the demo, on chain (``chainabs demo --deal
supply_chain_receivables``): each revolving period a credit note on one invoice is recorded by the deal's servicing
court as the spec says (repurchased by the originator, or a loss), the servicer's tape counts it, and once the
period's report is in, the originator sells new invoices (confirmed by their debtors on the invoice ledger first)
into the pool, paid at par from the period's principal collections; the model follows every step and each close
is reconciled to the unit by the demo.

The pool-level projection that drives the demo's servicing is a static pool's: :func:`scaled` sizes each period's
projected flows to the books' live balance, so the bought invoices are collected like the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from chainabs.chain import invoices
from chainabs.chain.revolving import dilute, sell_into_pool
from chainabs.chain.sender import transact
from chainabs.model import terms
from chainabs.model.deal import DealModel
from chainabs.model.assets import ACTIVE_STATUSES, asset_id
from chainabs.model.servicing import ServicingBook, allocate_period
from chainabs.model.spec import DealSpec
from chainabs.model.synthetic import generate_tape
from chainabs.model.tape import TapeValidationError, select_eligible
from chainabs.model.waterfall import PeriodReport

#: New invoices are sold in batches of this many (one transaction each), at most :data:`MAX_BATCHES` a period.
PURCHASE_BATCH = 100
MAX_BATCHES = 5
#: Share of the chosen invoice's outstanding principal a period's credit note takes.
DILUTION_SHARE = 0.25


@dataclass
class RevolvingStep:
    """What one revolving period did on chain."""

    period: int
    diluted: int = 0
    dilution_gas: int = 0
    bought: int = 0
    receivables: int = 0
    purchase_gas: int = 0


def scaled(projected: PeriodReport, book: ServicingBook, beginning: int) -> PeriodReport:
    """``projected`` (a static pool's period starting at ``beginning``) sized to the books' live balance: every
    flow and bucket times live / beginning (rounded down)."""
    last = book.last
    live = int(last.loc[last["status"].isin(ACTIVE_STATUSES), "ending_principal"].sum())
    if beginning <= 0 or live == beginning:
        return projected
    return PeriodReport(**{k: v * live // beginning for k, v in dataclasses.asdict(projected).items()})


def tape_with_dilution(d: Any, book: ServicingBook, projected: PeriodReport, model: DealModel, arranger: Any,
                       step: RevolvingStep) -> pd.DataFrame:
    """The period's loan-level tape (not yet adopted) with a credit note on its largest performing invoice: the
    dilution recorded by the court first (the originator pays a repurchase, given the cash by ``arranger``, the
    test currency's minter), then counted in the tape (prepaid principal for a repurchase, defaulted principal
    for a loss)."""
    period = book.period + 1
    tape = allocate_period(book.last, book.rates, projected, period, default_period=book.default_period,
                           secured=book.secured, seed=book.seed)
    performing = tape[(tape["status"] == "Performing") & (tape["ending_principal"] > 1)]
    if performing.empty or model.dilution_terms is None:
        return tape
    i = int(performing["ending_principal"].idxmax())
    amount = max(1, int(int(tape.loc[i, "ending_principal"]) * DILUTION_SHARE))
    originator = d.roles["originator"]
    aid = _asset(d, str(tape.loc[i, "loan_id"]))
    principal = int(d.registry.assetInfo(aid)["principal"])
    repurchase = model.dilution_terms[0]
    if repurchase:
        transact(d.currency.mint, originator, amount, sender=arranger)
        sender = originator
    else:
        sender = d.roles["servicer"]
    evidence = "0x" + bytes(32 - 8).hex() + period.to_bytes(4, "big").hex() + (i + 1).to_bytes(4, "big").hex()
    tx = dilute(d.spv, aid, amount, evidence, sender, currency=d.currency if repurchase else None)
    model.dilute(amount, principal)
    tape.loc[i, "prepaid_principal" if repurchase else "defaulted_principal"] += amount
    tape.loc[i, "ending_principal"] -= amount
    step.diluted, step.dilution_gas = amount, int(tx.gas_used)
    return tape


def _asset(d: Any, loan_id: str) -> int:
    return asset_id(str(d.roles["originator"].address), loan_id)


def offer(d: Any, spec: DealSpec, budget: int, seed: int, period: int, today: dt.date) -> list[pd.DataFrame]:
    """New invoices the originator offers in ``period``, in batches: a seeded synthetic book originated before
    ``today``, eligible on the pool's loan-level rules at that date, the first whose principal fits ``budget``;
    within a batch each debtor's invoices together stay within the live pool's obligor limit (the registry
    checks the largest exposure of one obligor within a batch, and the region and industry running sums)."""
    # the pool's legal final as the registry holds it (the demo shifts it to the chain's calendar)
    legal_final = dt.datetime.fromtimestamp(int(d.registry.poolCriteria(d.pool_id)["legalFinalDate"]), dt.UTC).date()
    criteria = dataclasses.replace(terms.criteria_from_spec(spec), cutoff_date=today, legal_final_date=legal_final,
                                   max_region_bps=10_000, max_industry_bps=10_000, max_obligor_bps=10_000)
    book = generate_tape(3 * PURCHASE_BATCH * MAX_BATCHES, kind=spec.eligibility.asset_types[0],
                         seed=seed * 1000 + period, prefix=f"RV{period:02d}-", cutoff=today,
                         decimals=spec.currency.decimals)
    try:
        fresh = select_eligible(book, criteria, today=today).reset_index(drop=True)
    except TapeValidationError:  # none eligible (e.g. every new invoice would mature after the legal final)
        return []
    fits = fresh["principal"].astype("int64").cumsum() <= budget
    fresh = fresh[fits.to_numpy()].reset_index(drop=True)
    live = int(d.registry.poolInfo(d.pool_id)["principal"])
    cap = live * spec.eligibility.concentration.max_obligor_bps // 10_000
    batches: list[pd.DataFrame] = []
    for start in range(0, min(len(fresh), PURCHASE_BATCH * MAX_BATCHES), PURCHASE_BATCH):
        batch = fresh.iloc[start : start + PURCHASE_BATCH]
        exposure = batch.groupby("obligor")["principal"].transform(lambda p: p.astype("int64").cumsum())
        batches.append(batch[(exposure <= cap).to_numpy()].reset_index(drop=True))
    return [b for b in batches if len(b)]


def buy(d: Any, ledger: Any, registrar: Any, book: ServicingBook, model: DealModel, budget: int, seed: int,
        today: dt.date, step: RevolvingStep) -> None:
    """The originator sells new invoices into the pool while the period's report is pending: each confirmed by
    its debtor on the invoice ledger, then registered, checked against the live pool's limits and paid at par
    from the principal collected, in one transaction; the model and the servicer's books take them."""
    originator = d.roles["originator"]
    for batch in offer(d, d.spec, budget, seed, step.period, today):
        invoices.confirm_tape_locally(ledger, registrar, batch, originator)
        tx = sell_into_pool(d.registry, d.pool_id, batch, originator)
        price = int(batch["principal"].sum())
        unspent = model.purchase(price)
        if int(tx.event("ReceivablesPurchased")["unspent"]) != unspent:
            raise AssertionError(f"period {step.period}: the chain and the model disagree on the unspent principal")
        book.add(batch)
        step.bought += price
        step.receivables += len(batch)
        step.purchase_gas += int(tx.gas_used)
