"""The tests' and benchmarks' deal on a local chain, stood up by the library's own orchestration
(:mod:`chainabs.chain.orchestration`) with the tests' fixed choices: the sample consumer deal over a pool
drawn from a seeded synthetic book, the tests' role accounts, ten KYC'd investors, and a known allocation of
the offering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from chainabs.chain import orchestration
from chainabs.chain.orchestration import LocalDeal
from chainabs.chain.sender import transact
from chainabs.chain.servicing import sync_registry
from chainabs.model import delinquency, terms
from chainabs.model.assets import STATUS_CODE, asset_id, status_for_days
from chainabs.model.collections import period_reports
from chainabs.model.spec import DealSpec, load_deal
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
    prefix: str | None = None,
) -> tuple[DealSpec, Any, int, pd.DataFrame]:
    """A sealed registry pool of the eligible loans of a seeded synthetic book: the sample deal sized to it, the
    registry, the pool id and the pool's cut-off tape."""
    base = load_deal(name)
    book = generate_tape(loans, kind=base.eligibility.asset_types[0], seed=seed, prefix=prefix,
                         cutoff=base.dates.cut_off, decimals=base.currency.decimals)
    criteria = terms.criteria_from_spec(base)
    tape = select_eligible(book, criteria, today=base.dates.cut_off)
    registry, pool_id = orchestration.open_pool(admin, originator, servicer, criteria)
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


class RegistryMirror:
    """The registry's view of a sold pool that only this object updates (tests and benchmarks whose reports
    are pool-level): per loan its status code and principal, from the cut-off tape. :meth:`align` brings the
    pool's live principal down to a report's ending balance with as few updates as possible, so that what reads
    the registry (the clean-up call's price, the early end) agrees with the report."""

    PREPAID = STATUS_CODE["Prepaid"]

    def __init__(self, d: LocalDeal) -> None:
        if d.tape is None:
            raise ValueError("this deal was deployed without its cut-off tape")
        self.d = d
        self.ids = [asset_id(d.roles["originator"].address, str(lid)) for lid in d.tape["loan_id"]]
        self.principal = [int(p) for p in d.tape["principal"]]
        self.status = [STATUS_CODE[str(n)] for n in status_for_days(d.tape["days_delinquent"])]

    @property
    def live(self) -> int:
        """Principal of the loans still outstanding (performing or delinquent)."""
        return sum(self.principal)

    def align(self, target: int, batch: int = 300) -> int:
        """Prepay whole loans (from the end of the tape) and curtail one so that the live principal is
        ``target``; returns the number of loans updated. ``target`` above the live principal is refused
        (principal never increases)."""
        excess = self.live - target
        if excess < 0:
            raise ValueError(f"registry live principal {self.live} is below {target}: it cannot grow")
        updates = []
        for i in reversed(range(len(self.ids))):
            if excess == 0:
                break
            cut = min(self.principal[i], excess)
            if cut == 0:
                continue
            self.principal[i] -= cut
            excess -= cut
            if self.principal[i] == 0:
                self.status[i] = self.PREPAID
            updates.append((self.ids[i], self.status[i], self.principal[i], b"\x7e" * 32))
        for start in range(0, len(updates), batch):
            transact(self.d.registry.updateAssets, updates[start : start + batch], sender=self.d.roles["servicer"])
        return len(updates)


def service_period(d: LocalDeal, book: ServicingBook, projected: PeriodReport) -> PeriodReport:
    """The servicer's loan-level period for a pool-level ``projected`` report: the loans' tape is allocated
    (``book.next_period``), the registry brought in line with it, and the tape's report returned (its flows
    equal ``projected``'s; the caller submits it)."""
    previous = book.last
    loan_tape = book.next_period(projected)
    sync_registry(d.registry, d.roles["servicer"], previous, loan_tape, d.roles["originator"].address)
    return period_report(loan_tape)
