"""The tests' and benchmarks' deal on a local chain, stood up by the library's own orchestration
(:mod:`chainabs.chain.orchestration`) with the tests' fixed choices: the sample consumer deal over a pool
drawn from a seeded synthetic book, the tests' role accounts, ten KYC'd investors, and a known allocation of
the offering."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd

from chainabs.chain import orchestration
from chainabs.chain.orchestration import LocalDeal
from chainabs.chain.sender import transact
from chainabs.chain.servicing import ServicedPeriod, service_period
from chainabs.model import delinquency, terms
from chainabs.model.collections import period_reports
from chainabs.model.spec import DealSpec, EarlyAmortization, Revolving, load_deal
from chainabs.model.synthetic import generate_tape
from chainabs.model.servicing import ServicingBook, period_report
from chainabs.model.tape import select_eligible
from chainabs.model.waterfall import PeriodReport

#: Loans in the originator's book the test pool is selected from.
BOOK_LOANS = 1_000
#: Test accounts: investors are accounts[10:20], the KYC agent accounts[4].
FIRST_INVESTOR, INVESTORS, KYC_AGENT = 10, 10, 4


def roll_rate_reports(
    d: LocalDeal, *, wac: float = 0.18, cpr: float = 0.15, severity: float = 0.6, current_to_30: float = 0.02,
    months: int | None = None,
) -> list[Any]:
    """Period reports of the deal's pool (24-month loans, 6-decimal currency) from a roll-rate delinquency
    projection: ``current_to_30`` of current loans go 30 days late each month, then roll 40 / 50 / 60 % onward
    (cures 40 / 20 / 10 %); defaults recover ``1 - severity`` three months later. The first ``months`` only
    if given."""
    pool = sum(d.sizes())
    m = delinquency.roll_rate_matrix(current_to_30=current_to_30, roll_30_60=0.4, roll_60_90=0.5,
                                     roll_90_default=0.6, cure_30=0.4, cure_60=0.2, cure_90=0.1)
    df = delinquency.project_delinquency(pool / 10**6, wac, 24, m, cpr=cpr, severity=severity, recovery_lag=3)
    reports = period_reports(df, 6, beginning_balance=pool)
    return reports[:months] if months else reports


def onboarded_pool(
    originator: Any, admin: Any, servicer: Any, name: str = "consumer_loan", *, loans: int = BOOK_LOANS, seed: int = 11,
    prefix: str | None = None, track_obligors: bool | None = None, max_obligor_bps: int | None = None,
) -> tuple[DealSpec, Any, int, pd.DataFrame]:
    """A sealed registry pool of the eligible loans of a seeded synthetic book: the sample deal sized to it, the
    registry, the pool id and the pool's cut-off tape. ``track_obligors`` (default: the sample deal revolves):
    the pool keeps its obligors' live exposures, which revolving purchases into it need. ``max_obligor_bps``:
    the deal's obligor limit in place of the sample's (10,000: none)."""
    base = load_deal(name)
    if max_obligor_bps is not None:
        conc = base.eligibility.concentration.model_copy(update={"max_obligor_bps": max_obligor_bps})
        base = base.model_copy(update={"eligibility": base.eligibility.model_copy(update={"concentration": conc})})
    book = generate_tape(loans, kind=base.eligibility.asset_types[0], seed=seed, prefix=prefix,
                         cutoff=base.dates.cut_off, decimals=base.currency.decimals)
    criteria = terms.criteria_from_spec(base)
    tape = select_eligible(book, criteria, today=base.dates.cut_off)
    track = base.revolving is not None if track_obligors is None else track_obligors
    registry, pool_id = orchestration.open_pool(admin, originator, servicer, criteria, track_obligors=track)
    spec, _ = orchestration.fill_pool(registry, pool_id, tape, originator, base, progress=False)
    return spec, registry, pool_id, tape


def sandbox_deal(spec: DealSpec, accounts: Any, currency: Any, registry: Any, pool_id: int, project: Any,
             manifest_root: Path, tape: pd.DataFrame | None = None) -> LocalDeal:
    """The deal's contracts over the sealed pool (approved to the SPV), with the tests' roles and the
    originator and ten investors KYC'd. ``tape``: the pool's cut-off tape, kept for loan-level servicing."""
    from brownie import chain

    roles = orchestration.role_accounts(accounts)
    investors = [roles["originator"], *accounts[FIRST_INVESTOR : FIRST_INVESTOR + INVESTORS]]
    return orchestration.stand_up(spec, roles, currency=currency, registry=registry, pool_id=pool_id,
                                  kyc_agent=accounts[KYC_AGENT], investors=investors, project=project,
                                  manifest_root=manifest_root, closing_at=chain.time(), tape=tape)


def subscribe_all(d: LocalDeal, investors: list[Any], admin: Any) -> None:
    """Class ``i`` (but the equity) shared by the first ``3 + i`` investors; the originator retains the equity
    class (lock-up)."""
    holders = {i: investors[: 3 + i] for i in range(len(d.sizes()) - 1)}
    orchestration.subscribe_classes(d, holders, admin)


def serve(d: LocalDeal, projected: PeriodReport, *, tape_uri: str = "ipfs://servicing-tape",
          mint: bool = True) -> ServicedPeriod:
    """The servicer's next period of a local deal from a pool-level projection: the deal's books
    (``d.book``, opened at the cut-off tape on first use) allocate it to loans, then :func:`serve_tape`.
    Returns what was done (``.report`` is the report submitted: the projection realised loan by loan)."""
    tape = books(d).next_period(projected)
    return serve_tape(d, tape, tape_uri=tape_uri, mint=mint)


def books(d: LocalDeal) -> ServicingBook:
    """The deal's servicing books, opened at the cut-off tape on first use."""
    if d.book is None:
        d.book = d.servicing_book()
    return d.book


def serve_tape(d: LocalDeal, tape: pd.DataFrame, *, tape_uri: str = "ipfs://servicing-tape",
               mint: bool = True) -> ServicedPeriod:
    """The servicer's period from a loan-level ``tape`` (the books' next period, or their last one again after a
    cancelled report): the registry brought in line (recovery steps by the disposal agent) and the tape's report
    submitted with its commitment. ``mint``: the servicer is first given the collections in test currency."""
    book = books(d)
    if int(tape["period"].iloc[0]) == book.period + 1:
        book.adopt(tape)
    if mint:
        cash = period_report(tape).cash_in
        if cash:
            transact(d.currency.mint, d.roles["servicer"], cash, sender=d.roles["arranger"])
    result = service_period(d.spv, tape, d.roles["servicer"], disposal_agent=d.roles.get("disposal_agent"),
                            tape_uri=tape_uri, state=book.registry)
    book.registry = result.registry
    return result


def with_revolving_period(spec: DealSpec, days: int = 40, *, delinquency_limit_bps: int | None = None,
                          excess_spread_limit_bps: int | None = None, dilution: str = "loss",
                          dilution_limit_bps: int | None = None) -> DealSpec:
    """``spec`` with a revolving period ending ``days`` after its first payment date (40: two monthly periods
    revolve), ``dilution`` as its treatment (loss or repurchase), and a 60+ delinquency, an excess-spread and a
    dilution early-amortization test for the limits given."""
    tests = [] if delinquency_limit_bps is None else [
        EarlyAmortization(name="delinquency", test="delinquency_60_plus", threshold_bps=delinquency_limit_bps)]
    if excess_spread_limit_bps is not None:
        tests.append(EarlyAmortization(name="excess spread", test="excess_spread", threshold_bps=excess_spread_limit_bps))
    if dilution_limit_bps is not None:
        tests.append(EarlyAmortization(name="dilution", test="dilution", threshold_bps=dilution_limit_bps))
    end = spec.dates.first_payment + dt.timedelta(days=days)
    return spec.model_copy(update={"revolving": Revolving(end=end, dilution=dilution, early_amortization=tests)})


def revolving_offer(d: LocalDeal, seed: int, budget: int, *, prefix: str, book_loans: int = 400) -> pd.DataFrame:
    """New receivables the originator offers to a revolving deal: a seeded synthetic book originated before the
    chain's date, eligible on the pool's loan-level rules at that date, one per obligor and each within the live
    pool's obligor limit (the chain checks the pool's concentration), the first ones whose principal fits
    ``budget`` (base units)."""
    from brownie import chain

    today = dt.datetime.fromtimestamp(chain.time(), dt.UTC).date()
    criteria = dataclasses.replace(terms.criteria_from_spec(d.spec), cutoff_date=today, max_region_bps=10_000,
                                   max_industry_bps=10_000, max_obligor_bps=10_000)
    book = generate_tape(book_loans, kind=d.spec.eligibility.asset_types[0], seed=seed, prefix=prefix, cutoff=today,
                         decimals=d.spec.currency.decimals)
    fresh = select_eligible(book, criteria, today=today).drop_duplicates("obligor")
    live = int(d.registry.poolInfo(d.pool_id)["principal"])
    cap = live * d.spec.eligibility.concentration.max_obligor_bps // 10_000
    fresh = fresh[fresh["principal"].astype("int64") <= cap].reset_index(drop=True)
    fits = fresh["principal"].astype("int64").cumsum() <= budget
    return fresh[fits.to_numpy()].reset_index(drop=True)
