"""A revolving receivables deal run period by period from a receivables tape (model only).

:func:`project` takes the sample deal's pool (a trade-receivables tape, the spec sized to it) and runs the
revolving rules of :mod:`chainabs.model.revolving` month by month: invoices falling due are paid, defaulted or
diluted (a credit note for part of the invoice, with the hash of the note as evidence), the originator offers
new invoices (synthetic, deterministic per seed) and the principal collected buys those the live pool's
concentration limits accept, until the revolving period ends by date or by an early-amortization trigger; then
principal goes to the notes. Returns one row per period (amounts in base units) and the refusals by limit.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pandas as pd
from eth_utils import keccak

from chainabs.model import revolving as rv
from chainabs.model.deal import payment_date
from chainabs.model.spec import DealSpec
from chainabs.model.synthetic import generate_tape
from chainabs.model.terms import initial_state, params_from_spec
from chainabs.model.waterfall import ACCRUAL_DENOMINATOR

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class PathAssumptions:
    """Per invoice falling due: chance it defaults, chance it is diluted and the diluted share range."""

    default_rate: float = 0.01
    dilution_rate: float = 0.04
    dilution_share: tuple[float, float] = (0.05, 0.30)
    #: New invoices the originator offers each period (before eligibility and concentration).
    offered: int = 800


def _ts(d: date) -> int:
    return (d - date(1970, 1, 1)).days * SECONDS_PER_DAY


def _receivables(tape: pd.DataFrame, first_id: int) -> tuple[list[rv.Receivable], dict[int, tuple[int, int]]]:
    """Receivables of a tape, and each one's (maturity timestamp, rate bps) by asset id."""
    out, info = [], {}
    maturities = (pd.to_datetime(tape["maturity_date"]) - pd.Timestamp(0)) // pd.Timedelta(seconds=1)
    for j, row in enumerate(tape.itertuples(index=False)):
        asset_id = first_id + j
        out.append(rv.Receivable(asset_id, int(row.principal), str(row.obligor), int(row.region), int(row.industry)))
        info[asset_id] = (int(maturities.iloc[j]), int(row.rate_bps))
    return out, info


def project(spec: DealSpec, tape: pd.DataFrame, *, seed: int = 7, periods: int = 24,
            assumptions: PathAssumptions = PathAssumptions()) -> tuple[pd.DataFrame, Counter]:
    """Run ``periods`` periods (fewer if the pool runs off); ``spec`` sized to ``tape`` (its pool balance is the
    tape's principal). Returns the per-period table and the count of offered invoices refused per limit."""
    terms = rv.terms_from_spec(spec)
    if terms is None:
        raise ValueError(f"deal {spec.name} has no revolving period")
    rng = random.Random(seed)
    pool = rv.LivePool()
    start, info = _receivables(tape, 1)
    for r in start:
        pool.add(r)
    deal = rv.RevolvingDeal(params_from_spec(spec), terms, initial_state(spec), pool)
    first = _ts(spec.dates.first_payment)
    months = spec.dates.frequency_months
    max_principal = spec.units(spec.eligibility.max_principal_per_asset)
    legal_final = _ts(spec.dates.legal_final)
    next_id = len(start) + 1
    refused: Counter = Counter()
    rows = []
    for _ in range(periods):
        period = deal.period
        due = payment_date(first, months, period)
        interest = sum(r.principal * info[a][1] for a, r in deal.pool.assets.items()) * months // ACCRUAL_DENOMINATOR
        for asset_id in [a for a in deal.pool.assets if info[a][0] <= due]:
            draw = rng.random()
            if draw < assumptions.default_rate:
                deal.default(asset_id)
                continue
            principal = deal.pool.assets[asset_id].principal
            if draw < assumptions.default_rate + assumptions.dilution_rate:
                share = rng.uniform(*assumptions.dilution_share)
                amount = max(1, min(principal, int(principal * share)))
                evidence = "0x" + keccak(text=f"credit note {asset_id} {period}").hex().removeprefix("0x")
                deal.dilute(asset_id, amount, evidence)
                principal -= amount
            if principal:
                deal.collect(asset_id, principal)
        bought = 0
        was_revolving = deal.revolving
        if was_revolving and deal.unspent_principal:
            cutoff = datetime.fromtimestamp(due, tz=timezone.utc).date()
            book = generate_tape(assumptions.offered, kind="trade_receivable", seed=seed * 1000 + period,
                                 cutoff=cutoff, decimals=spec.currency.decimals)
            offers, offer_info = _receivables(book, next_id)
            next_id += len(offers)
            for r in offers:
                maturity, _rate = offer_info[r.asset_id]
                if not due < maturity <= legal_final or r.principal > max_principal:
                    continue
                if r.principal > deal.unspent_principal:
                    continue
                try:
                    deal.purchase([r])
                except rv.RevolvingError as e:
                    refused[e.args_[0] if e.name == "ConcentrationBreached" else e.name] += 1
                    continue
                info[r.asset_id] = offer_info[r.asset_id]
                bought += 1
        closed = deal.close(interest_collections=interest)
        res = closed.result
        rows.append({
            "period": period,
            "payment_date": datetime.fromtimestamp(due, tz=timezone.utc).date().isoformat(),
            "revolving": was_revolving,
            "principal_collected": closed.report.scheduled_principal + closed.report.prepayments + closed.purchased,
            "dilution": closed.dilution_loss + closed.dilution_repurchased,
            "defaults": closed.report.defaults - closed.dilution_loss,
            "purchased": closed.purchased,
            "receivables_bought": bought,
            "principal_to_notes": sum(res.principal_paid),
            "interest_to_notes": sum(res.interest_paid),
            "pool_balance": deal.state.pool_balance,
            "receivables": len(deal.pool.assets),
            "early_amortization": deal.early_amortization,
            **{f"ea_{t.kind.name.lower()}_bps": v for t, v in zip(terms.triggers, closed.trigger_values, strict=True)},
        })
        if deal.state.pool_balance == 0:
            break
    return pd.DataFrame(rows), refused
