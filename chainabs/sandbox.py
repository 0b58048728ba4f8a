"""A complete deal on a local chain in a few calls: a sealed registry pool selected from a synthetic book,
the deal deployed through the deployment plan and sized to the pool, KYC'd investors, subscriptions and
closing. Used by the tests, the benchmarks and anyone who wants a deal to play with on anvil."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chainabs import delinquency
from chainabs import spv as spvlib
from chainabs.collections import period_reports
from chainabs.deal import DealModel
from chainabs.deploy import Deployer
from chainabs.spec import DealSpec, load_deal

CN = 156  # ISO 3166-1 numeric, China
#: Loans in the originator's book the test pool is selected from.
BOOK_LOANS = 1_000


@dataclass
class LocalDeal:
    spec: DealSpec
    spv: Any
    tokens: list[Any]
    identity: Any
    registry: Any
    pool_id: int
    currency: Any
    roles: dict[str, Any]
    times: spvlib.DealTimes
    model: DealModel
    #: the pool's cut-off tape (typed), for loan-level servicing (:meth:`servicing_book`)
    tape: Any = None

    def sizes(self) -> tuple[int, ...]:
        return spvlib.class_sizes(self.spec)

    def servicing_book(self, seed: int = 0) -> Any:
        """The servicer's loan-level books at the cut-off date (``chainabs.servicing.ServicingBook``)."""
        from chainabs import servicing

        if self.tape is None:
            raise ValueError("this deal was deployed without its cut-off tape")
        return servicing.ServicingBook.open(self.tape, seed=seed)


class RegistryMirror:
    """The registry's view of a sold pool that only this object updates (tests and benchmarks whose reports
    are pool-level): per loan its status code and principal, from the cut-off tape. :meth:`align` brings the
    pool's live principal down to a report's ending balance with as few updates as possible, so that what reads
    the registry (the clean-up call's price, the early end) agrees with the report."""

    PREPAID = 6

    def __init__(self, d: LocalDeal) -> None:
        from chainabs import servicing
        from chainabs.tape import asset_id

        if d.tape is None:
            raise ValueError("this deal was deployed without its cut-off tape")
        self.d = d
        self.ids = [asset_id(d.roles["originator"].address, str(lid)) for lid in d.tape["loan_id"]]
        self.principal = [int(p) for p in d.tape["principal"]]
        names = servicing.status_for_days(d.tape["days_delinquent"])
        self.status = [servicing.STATUS_CODE[str(n)] for n in names]

    @property
    def live(self) -> int:
        """Principal of the loans still outstanding (performing or delinquent)."""
        return sum(self.principal)

    def align(self, target: int, batch: int = 300) -> int:
        """Prepay whole loans (from the end of the tape) and curtail one so that the live principal is
        ``target``; returns the number of loans updated. ``target`` above the live principal is refused
        (principal never increases)."""
        from chainabs import chain

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
            self.d.registry.updateAssets(updates[start : start + batch], chain.tx(self.d.roles["servicer"]))
        return len(updates)


def service_period(d: LocalDeal, book: Any, projected: Any) -> Any:
    """The servicer's loan-level period for a pool-level ``projected`` report: the loans' tape is allocated
    (``book.next_period``), the registry brought in line with it, and the tape's report returned (its flows
    equal ``projected``'s; the caller submits it)."""
    from chainabs import servicing

    previous = book.last
    loan_tape = book.next_period(projected)
    servicing.sync_registry(d.registry, d.roles["servicer"], previous, loan_tape, d.roles["originator"].address)
    return servicing.period_report(loan_tape)


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
) -> tuple[DealSpec, Any, int, Any]:
    """A sealed registry pool of eligible synthetic loans: the sample deal sized to it, the registry, the pool
    id and the pool's cut-off tape."""
    from chainabs import registry as registrylib
    from chainabs.synthetic import generate_tape
    from chainabs.tape import select_eligible

    base = load_deal(name)
    kind = base.eligibility.asset_types[0]
    book = generate_tape(loans, kind=kind, seed=seed, prefix=prefix, cutoff=base.dates.cut_off, decimals=base.currency.decimals)
    criteria = spvlib.criteria_from_spec(base)
    tape = select_eligible(book, criteria, today=base.dates.cut_off)
    registry = registrylib.deploy_registry(admin, originators=(originator,), servicers=(servicer,))
    pool_id = registrylib.create_pool(registry, originator, criteria)
    registrylib.onboard(registry, pool_id, tape, originator, today=base.dates.cut_off, progress=False)
    principal = int(registrylib.pool_info(registry, pool_id)["cutoffPrincipal"])
    return base.sized_to(Decimal(principal).scaleb(-base.currency.decimals)), registry, pool_id, tape


def deploy_deal(
    spec: DealSpec, accounts: Any, currency: Any, registry: Any, pool_id: int, project: Any, tmp_path: Any,
    tape: Any = None,
) -> LocalDeal:
    """Deploy the deal's contracts with the deployment plan; KYC the investors and the originator. ``tape``: the
    pool's cut-off tape, kept for loan-level servicing."""
    from brownie import chain

    roles = spvlib.role_accounts(accounts)
    times = spvlib.DealTimes.from_spec(spec, closing_at=chain.time())
    plan = spvlib.deploy_plan(
        spec, {k: v.address for k, v in roles.items()}, currency=currency.address, registry=registry.address,
        pool_id=pool_id, times=times, kyc_agent=accounts[4].address,
    )
    manifest = Deployer(spec.name, roles["arranger"], project=project, manifest_root=tmp_path).run(plan)
    spv = project.SPV.at(manifest.address("spv"))
    identity = project.IdentityRegistry.at(manifest.address("identity"))
    toks = [project.TrancheToken.at(a) for a in spv.classTokens()]
    identity.setJurisdictionAllowed(CN, True, {"from": roles["arranger"]})
    expiry = chain.time() + 5 * 365 * 86_400
    people = [roles["originator"], *accounts[10:20]]
    identity.registerInvestors([p.address for p in people], [CN] * len(people), [1] * len(people), [expiry] * len(people), {"from": accounts[4]})
    model = spvlib.model_for(spec)
    model.offering_deadline = times.offering_deadline
    return LocalDeal(spec, spv, toks, identity, registry, pool_id, currency, roles, times, model, tape)


def subscribe_all(d: LocalDeal, investors: list[Any], admin: Any) -> None:
    """Senior and mezzanine split across investors; the originator retains the equity class (lock-up)."""
    sizes = d.sizes()
    n = len(sizes)
    for i in range(n - 1):
        holders = investors[: 3 + i]
        share = sizes[i] // len(holders)
        for k, inv in enumerate(holders):
            amount = share if k < len(holders) - 1 else sizes[i] - share * (len(holders) - 1)
            d.currency.mint(inv, amount, {"from": admin})
            spvlib.subscribe(d.spv, inv, i, amount)
            d.model.subscribe(i, amount)
    d.currency.mint(d.roles["originator"], sizes[-1], {"from": admin})
    spvlib.subscribe(d.spv, d.roles["originator"], n - 1, sizes[-1], retained=True)
    d.model.subscribe(n - 1, sizes[-1])


def close(d: LocalDeal, admin: Any) -> None:
    """Fund the reserve and close the deal (the pool must be approved to the SPV)."""
    reserve = d.spec.units(d.spec.reserve.initial)
    d.currency.mint(admin, reserve, {"from": admin})
    spvlib.close_deal(d.spv, admin)
    d.model.close_deal()
