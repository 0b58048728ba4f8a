"""Revolving receivables pools: purchases at par from principal collections, early amortization, dilution.

Pure model of the revolving period of issue 18 (the on-chain purchasing module is not built yet; see
``docs/receivables.md``, "Revolving period"). The rules, in the order a period runs:

1. **Servicing.** Receivables are paid (``collect``: principal collections), default (``default``: the
   outstanding principal becomes a loss) or are diluted (``dilute``: a credit note or a dispute reduces the
   receivable, with the hash of its evidence). A dilution counts as the spec says: a **loss** (added to the
   period's defaults: the notes bear it through the principal deficiency ledger) or a **repurchase** (the
   originator pays the diluted amount in cash, a deemed collection added to the period's principal
   collections).
2. **Purchases.** While the deal revolves (its period is at most ``RevolvingTerms.last_revolving_period`` and no
   early-amortization trigger has been breached) the principal collected in the period (collections and
   repurchased dilutions) buys new receivables from the originator at par, a batch at a time. A batch above the
   principal still unspent is refused (``InsufficientPrincipalCollections``); so is a batch after which a
   concentration limit of the live pool (largest share of one obligor, region or industry, in basis points
   of the live pool's principal, the registry's rule ``sum * 10,000 > total * limit``) would be exceeded
   (``ConcentrationBreached`` naming the limit, the bucket and the figures). A refused batch changes nothing.
3. **Close.** The waterfall (:func:`chainabs.model.waterfall.close_period`) receives the period's report with
   the purchases netted out of principal: what bought receivables is taken from scheduled principal first,
   then prepayments; the pool ending balance includes the receivables bought. The waterfall's identity
   (ending = beginning - scheduled - prepayments - defaults) therefore holds unchanged, and the principal
   left unspent is paid to the notes as in any amortizing deal.
4. **Early amortization** is tested at every close on the period's figures; a breach ends the revolving
   period for good (from the next period on):

   - ``EXCESS_SPREAD``: (interest collections - fees paid - interest paid to the non-equity classes), annualised,
     over the pool's beginning balance, in bps; breached when BELOW the threshold;
   - ``DILUTION``: the period's dilutions (both treatments) over the pool's beginning balance, in bps; breached
     when ABOVE;
   - ``DELINQUENCY_60_PLUS``: 60+ days delinquent principal over the pool ending balance, in bps; breached when
     ABOVE.

All amounts are integer base units; errors are :class:`RevolvingError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum

from chainabs.model.deal import payment_date
from chainabs.model.spec import DealSpec
from chainabs.model.waterfall import (
    BPS,
    DealParams,
    DealState,
    PeriodReport,
    PeriodResult,
    check_identities,
    close_period,
)


class EarlyAmortizationKind(IntEnum):
    """What an early-amortization trigger measures (all in basis points)."""

    EXCESS_SPREAD = 0
    DILUTION = 1
    DELINQUENCY_60_PLUS = 2


class DilutionTreatment(IntEnum):
    """How a dilution counts: a loss to the pool, or a repurchase (cash) by the originator."""

    LOSS = 0
    REPURCHASE = 1


#: Spec names of the early-amortization tests and of the dilution treatments.
EARLY_AMORTIZATION_KINDS: dict[str, EarlyAmortizationKind] = {
    "excess_spread": EarlyAmortizationKind.EXCESS_SPREAD,
    "dilution": EarlyAmortizationKind.DILUTION,
    "delinquency_60_plus": EarlyAmortizationKind.DELINQUENCY_60_PLUS,
}
DILUTION_TREATMENTS: dict[str, DilutionTreatment] = {
    "loss": DilutionTreatment.LOSS,
    "repurchase": DilutionTreatment.REPURCHASE,
}
#: The live pool's concentration limits, by the spec's field name.
LIMITS = ("max_obligor_bps", "max_region_bps", "max_industry_bps")


class RevolvingError(ValueError):
    """A refused revolving operation; ``name`` mirrors a contract custom error, ``args_`` its arguments."""

    def __init__(self, name: str, message: str, *args: object) -> None:
        self.name = name
        self.args_ = args
        super().__init__(f"{name}: {message}")


@dataclass(frozen=True)
class EarlyAmortizationTrigger:
    kind: EarlyAmortizationKind
    threshold_bps: int

    def breached(self, value: int) -> bool:
        if self.kind == EarlyAmortizationKind.EXCESS_SPREAD:
            return value < self.threshold_bps
        return value > self.threshold_bps


@dataclass(frozen=True)
class RevolvingTerms:
    """The revolving period's terms: its last period, its early-amortization triggers, the dilution treatment and
    the live pool's concentration limits (bps of the live pool; None = no limit)."""

    last_revolving_period: int
    triggers: tuple[EarlyAmortizationTrigger, ...] = ()
    dilution: DilutionTreatment = DilutionTreatment.LOSS
    max_obligor_bps: int | None = None
    max_region_bps: int | None = None
    max_industry_bps: int | None = None

    def __post_init__(self) -> None:
        if self.last_revolving_period < 0:
            raise RevolvingError("InvalidRevolvingTerms", f"last_revolving_period {self.last_revolving_period} < 0")
        for name in LIMITS:
            v = getattr(self, name)
            if v is not None and not 0 < v <= BPS:
                raise RevolvingError("InvalidRevolvingTerms", f"{name} {v} is not in 1..{BPS} bps")


@dataclass(frozen=True)
class Receivable:
    """One receivable of the live pool: its registry asset id, outstanding principal and concentration buckets."""

    asset_id: int
    principal: int
    obligor: str
    region: int
    industry: int


@dataclass(frozen=True)
class DilutionRecord:
    period: int
    asset_id: int
    amount: int
    evidence: str
    treatment: DilutionTreatment


@dataclass(frozen=True)
class PurchaseRecord:
    period: int
    asset_ids: tuple[int, ...]
    price: int


@dataclass(frozen=True)
class RevolvingClose:
    """One close: the netted report the waterfall ran on, its result, the early-amortization values (trigger
    order) and whether the deal still revolves afterwards."""

    period: int
    report: PeriodReport
    result: PeriodResult
    purchased: int
    dilution_loss: int
    dilution_repurchased: int
    trigger_values: tuple[int, ...]
    revolving_after: bool


def _check_evidence(evidence: str) -> str:
    h = evidence.lower()
    if not (h.startswith("0x") and len(h) == 66 and all(c in "0123456789abcdef" for c in h[2:])):
        raise RevolvingError("InvalidEvidence", f"evidence {evidence!r} is not a 32-byte hash (0x + 64 hex digits)")
    if int(h, 16) == 0:
        raise RevolvingError("InvalidEvidence", "a dilution needs the hash of its evidence (credit note, dispute)")
    return h


@dataclass
class LivePool:
    """The receivables currently in the pool, with principal sums per obligor, region and industry."""

    assets: dict[int, Receivable] = field(default_factory=dict)
    total: int = 0
    sums: dict[str, dict[object, int]] = field(
        default_factory=lambda: {k: defaultdict(int) for k in LIMITS})

    @staticmethod
    def _keys(r: Receivable) -> dict[str, object]:
        return {"max_obligor_bps": r.obligor, "max_region_bps": r.region, "max_industry_bps": r.industry}

    def _move(self, r: Receivable, delta: int) -> None:
        self.total += delta
        for limit, key in self._keys(r).items():
            self.sums[limit][key] += delta
            if self.sums[limit][key] == 0:
                del self.sums[limit][key]

    def add(self, r: Receivable) -> None:
        if r.asset_id in self.assets:
            raise RevolvingError("AssetAlreadyPooled", f"asset {r.asset_id} is already in the pool", r.asset_id)
        if r.principal <= 0:
            raise RevolvingError("ZeroPrincipal", f"asset {r.asset_id} has no principal to buy", r.asset_id)
        self.assets[r.asset_id] = r
        self._move(r, r.principal)

    def reduce(self, asset_id: int, amount: int) -> Receivable:
        """Lower an asset's principal by ``amount``; the asset leaves the pool at zero."""
        r = self.get(asset_id)
        if not 0 < amount <= r.principal:
            raise RevolvingError("AmountAbovePrincipal",
                                 f"asset {asset_id}: {amount} is not in 1..{r.principal} (its principal)",
                                 asset_id, amount, r.principal)
        self._move(r, -amount)
        if amount == r.principal:
            del self.assets[asset_id]
        else:
            self.assets[asset_id] = dataclasses.replace(r, principal=r.principal - amount)
        return r

    def remove(self, asset_id: int) -> None:
        r = self.get(asset_id)
        self._move(r, -r.principal)
        del self.assets[asset_id]

    def get(self, asset_id: int) -> Receivable:
        try:
            return self.assets[asset_id]
        except KeyError:
            raise RevolvingError("AssetNotPooled", f"asset {asset_id} is not in the pool", asset_id) from None

    def breach(self, terms: RevolvingTerms, batch: Sequence[Receivable] | None = None
               ) -> tuple[str, object, int, int, int] | None:
        """The first limit the pool exceeds, as (limit, bucket, bucket sum, pool total, limit bps); else None.

        With ``batch`` (a purchase), as the registry checks it: every region and industry bucket, and the obligors
        of the batch only (a purchase only lowers the share of an obligor it does not buy from; one pushed over
        its limit by amortization elsewhere does not stop the pool from buying)."""
        for limit in LIMITS:
            bps = getattr(terms, limit)
            if bps is None:
                continue
            sums = self.sums[limit]
            if batch is not None and limit == "max_obligor_bps":  # the registry names the batch's largest
                top = max((r.obligor for r in batch), key=lambda o: sums[o])
                sums = {top: sums[top]}
            for key, s in sums.items():
                if s * BPS > self.total * bps:
                    return limit, key, s, self.total, bps
        return None


@dataclass
class RevolvingDeal:
    """A revolving deal's waterfall state, live pool and revolving state, period by period."""

    params: DealParams
    terms: RevolvingTerms
    state: DealState
    pool: LivePool
    early_amortization: bool = False
    # this period's tallies
    scheduled: int = 0
    defaults: int = 0
    dilution_loss: int = 0
    dilution_repurchased: int = 0
    purchased: int = 0
    dilutions: list[DilutionRecord] = field(default_factory=list)
    purchases: list[PurchaseRecord] = field(default_factory=list)
    closes: list[RevolvingClose] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.pool.total != self.state.pool_balance:
            raise RevolvingError("PoolBalanceMismatch",
                                 f"live pool {self.pool.total} != deal pool balance {self.state.pool_balance}")

    @property
    def period(self) -> int:
        """The period running (1 = the first)."""
        return self.state.periods_closed + 1

    @property
    def revolving(self) -> bool:
        return not self.early_amortization and self.period <= self.terms.last_revolving_period

    @property
    def unspent_principal(self) -> int:
        """Principal collected this period not yet spent on purchases."""
        return self.scheduled + self.dilution_repurchased - self.purchased

    # -- servicing -------------------------------------------------------------------------------------

    def collect(self, asset_id: int, amount: int) -> None:
        """The debtor pays ``amount`` of principal."""
        self.pool.reduce(asset_id, amount)
        self.scheduled += amount

    def default(self, asset_id: int) -> int:
        """The receivable defaults: its outstanding principal is a loss. Returns it."""
        principal = self.pool.get(asset_id).principal
        self.pool.remove(asset_id)
        self.defaults += principal
        return principal

    def dilute(self, asset_id: int, amount: int, evidence: str) -> DilutionRecord:
        """A credit note or a dispute reduces the receivable by ``amount``, with the hash of its evidence."""
        h = _check_evidence(evidence)
        self.pool.reduce(asset_id, amount)
        if self.terms.dilution == DilutionTreatment.LOSS:
            self.dilution_loss += amount
        else:
            self.dilution_repurchased += amount
        rec = DilutionRecord(self.period, asset_id, amount, h, self.terms.dilution)
        self.dilutions.append(rec)
        return rec

    # -- purchases -------------------------------------------------------------------------------------

    def purchase(self, batch: list[Receivable]) -> int:
        """Buy ``batch`` at par from this period's principal collections; returns the price. Refused whole
        (nothing changes) after the revolving period, above the unspent principal, on a concentration breach."""
        if not batch:
            raise RevolvingError("EmptyBatch", "a purchase needs at least one receivable")
        if not self.revolving:
            why = "an early-amortization trigger was breached" if self.early_amortization else \
                f"it ended with period {self.terms.last_revolving_period}"
            raise RevolvingError("RevolvingPeriodEnded", f"period {self.period}: no purchases, {why}", self.period)
        price = sum(r.principal for r in batch)
        if price > self.unspent_principal:
            raise RevolvingError("InsufficientPrincipalCollections",
                                 f"price {price} is above the principal collected and unspent ({self.unspent_principal})",
                                 price, self.unspent_principal)
        added: list[int] = []
        try:
            for r in batch:
                self.pool.add(r)
                added.append(r.asset_id)
            breach = self.pool.breach(self.terms, batch)
            if breach is not None:
                limit, key, s, total, bps = breach
                shown = key if isinstance(key, str) else f"code {key}"
                raise RevolvingError("ConcentrationBreached",
                                     f"{limit}: {shown} would hold {s} of the live pool's {total} "
                                     f"({s * BPS / total / 100:.2f}% > {bps / 100:.2f}%)", limit, key, s, total, bps)
        except RevolvingError:
            for asset_id in added:
                self.pool.remove(asset_id)
            raise
        self.purchased += price
        self.purchases.append(PurchaseRecord(self.period, tuple(added), price))
        return price

    # -- close -----------------------------------------------------------------------------------------

    def netted_report(self, interest_collections: int, recoveries: int = 0,
                      delinquent_30: int = 0, delinquent_60: int = 0, delinquent_90_plus: int = 0) -> PeriodReport:
        """The report the waterfall runs on: purchases netted out of scheduled principal first, then out of
        prepayments (the repurchased dilutions); dilution losses added to defaults."""
        from_scheduled = min(self.purchased, self.scheduled)
        return PeriodReport(
            interest_collections=interest_collections,
            scheduled_principal=self.scheduled - from_scheduled,
            prepayments=self.dilution_repurchased - (self.purchased - from_scheduled),
            recoveries=recoveries,
            defaults=self.defaults + self.dilution_loss,
            delinquent_30=delinquent_30,
            delinquent_60=delinquent_60,
            delinquent_90_plus=delinquent_90_plus,
            pool_ending_balance=self.pool.total,
        )

    def trigger_value(self, trigger: EarlyAmortizationTrigger, report: PeriodReport, result: PeriodResult) -> int:
        begin = self.state.pool_balance
        if trigger.kind == EarlyAmortizationKind.EXCESS_SPREAD:
            if begin == 0:
                return 0
            spread = report.interest_collections - sum(result.fee_paid) - sum(result.interest_paid[:-1])
            return spread * BPS * 12 // (self.params.period_months * begin)
        if trigger.kind == EarlyAmortizationKind.DILUTION:
            return 0 if begin == 0 else (self.dilution_loss + self.dilution_repurchased) * BPS // begin
        end = report.pool_ending_balance
        return 0 if end == 0 else (report.delinquent_60 + report.delinquent_90_plus) * BPS // end

    def close(self, interest_collections: int, recoveries: int = 0,
              delinquent_30: int = 0, delinquent_60: int = 0, delinquent_90_plus: int = 0) -> RevolvingClose:
        """Close the period: the waterfall on the netted report, then the early-amortization tests."""
        report = self.netted_report(interest_collections, recoveries, delinquent_30, delinquent_60,
                                    delinquent_90_plus)
        result, nxt = close_period(self.params, self.state, report)
        check_identities(self.state, report, result, nxt)
        values = tuple(self.trigger_value(t, report, result) for t in self.terms.triggers)
        if any(t.breached(v) for t, v in zip(self.terms.triggers, values, strict=True)):
            self.early_amortization = True
        closed = RevolvingClose(self.state.periods_closed + 1, report, result, self.purchased, self.dilution_loss,
                                self.dilution_repurchased, values, False)
        self.state = nxt
        closed = dataclasses.replace(closed, revolving_after=self.revolving)
        self.closes.append(closed)
        self.scheduled = self.defaults = self.dilution_loss = self.dilution_repurchased = self.purchased = 0
        return closed


def _day_timestamp(d: date) -> int:
    return (d - date(1970, 1, 1)).days * 86_400


def terms_from_spec(spec: DealSpec) -> RevolvingTerms | None:
    """The spec's revolving terms (None for a static pool): the last revolving period is the last whose payment
    date is on or before ``revolving.end``; the live pool's limits are ``eligibility.concentration``."""
    rv = spec.revolving
    if rv is None:
        return None
    first = _day_timestamp(spec.dates.first_payment)
    end = _day_timestamp(rv.end)
    last = 0
    while payment_date(first, spec.dates.frequency_months, last + 1) <= end:
        last += 1
    c = spec.eligibility.concentration
    return RevolvingTerms(
        last_revolving_period=last,
        triggers=tuple(EarlyAmortizationTrigger(EARLY_AMORTIZATION_KINDS[t.test], t.threshold_bps)
                       for t in rv.early_amortization),
        dilution=DILUTION_TREATMENTS[rv.dilution],
        max_obligor_bps=c.max_obligor_bps,
        max_region_bps=c.max_region_bps,
        max_industry_bps=c.max_industry_bps,
    )
