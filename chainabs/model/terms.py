"""What a deal spec means on chain: its waterfall terms, closing state, class sizes, pool criteria and dates.

The one place that turns a validated :class:`chainabs.model.spec.DealSpec` into the integers the contracts
and the deal model take (base units, basis points, unix times), used alike by the analytics, the deployment
plan, the demo and the tests.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from chainabs.model.deal import DealModel
from chainabs.model.revolving import terms_from_spec
from chainabs.model.spec import TRIGGER_KINDS, DealSpec
from chainabs.model.tape import PoolCriteria
from chainabs.model.waterfall import (
    ClassParams, DealParams, DealState, FeeParams, PrincipalMode, TriggerParams,
)

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class DealTimes:
    """Unix times of the deal's dates (spec dates, or shifted so that closing is a given time)."""

    closing: int
    first_payment: int
    legal_final: int
    #: last second of the offering (the end of the offering's last day)
    offering_deadline: int

    @classmethod
    def from_spec(cls, spec: DealSpec, closing_at: int | None = None) -> DealTimes:
        """The spec's dates at 00:00 UTC (the offering deadline at the end of its day), shifted by whole days so
        that closing is ``closing_at`` if given."""

        def ts(d: dt.date) -> int:
            return int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.timezone.utc).timestamp())

        closing = ts(spec.dates.closing)
        shift = 0
        if closing_at is not None:
            shift = ((closing_at - closing) // SECONDS_PER_DAY + 1) * SECONDS_PER_DAY
        deadline = ts(spec.dates.offering_end) + SECONDS_PER_DAY - 1
        return cls(closing + shift, ts(spec.dates.first_payment) + shift, ts(spec.dates.legal_final) + shift,
                   deadline + shift)

    @classmethod
    def after(cls, spec: DealSpec, now: int) -> DealTimes:
        """The spec's dates, or (when its closing date is already past) shifted so that closing is after ``now``."""
        times = cls.from_spec(spec)
        return times if times.closing > now else cls.from_spec(spec, closing_at=now)


def params_from_spec(spec: DealSpec) -> DealParams:
    """The waterfall terms of a validated deal spec (classes in seniority order, amounts in base units)."""
    tranches = spec.tranches_by_seniority()
    index = {t.class_name: i for i, t in enumerate(tranches)}
    covered = max((index[name] + 1 for name in spec.reserve.covers_interest_of), default=0)
    return DealParams(
        period_months=spec.dates.frequency_months,
        original_pool_balance=spec.units(spec.pool.original_balance),
        classes=tuple(ClassParams(t.coupon_bps, t.is_equity) for t in tranches),
        fees=tuple(FeeParams(spec.units(f.fixed_per_period), f.pool_bps_per_annum) for f in spec.fees),
        reserve_target_bps=spec.reserve.target_bps,
        reserve_step_up_target_bps=spec.reserve.step_up_target_bps,
        reserve_floor=spec.units(spec.reserve.floor),
        reserve_covered_classes=covered,
        principal_mode=PrincipalMode.SEQUENTIAL if spec.principal_mode == "sequential" else PrincipalMode.PRO_RATA,
        triggers=tuple(
            TriggerParams(
                kind=TRIGGER_KINDS[t.test],
                threshold_bps=t.threshold_bps,
                switches_to_sequential="sequential" in t.switches,
                steps_up_reserve="reserve_step_up" in t.switches,
                curable=t.curable,
            )
            for t in spec.triggers
        ),
        clean_up_call_bps=spec.clean_up_call_bps,
    )


def initial_state(spec: DealSpec) -> DealState:
    """The state at closing: classes at their sizes, the reserve at its initial funding, nothing owed."""
    tranches = spec.tranches_by_seniority()
    return DealState(
        periods_closed=0,
        pool_balance=spec.units(spec.pool.original_balance),
        class_balances=tuple(spec.units(t.size) for t in tranches),
        interest_shortfalls=(0,) * len(tranches),
        pdl=(0,) * len(tranches),
        fee_shortfalls=(0,) * len(spec.fees),
        reserve_balance=spec.units(spec.reserve.initial),
        cumulative_defaults=0,
        cumulative_recoveries=0,
        triggers_breached=0,
    )


def class_sizes(spec: DealSpec) -> tuple[int, ...]:
    """Original face of each class in base units, seniority order."""
    return tuple(spec.units(t.size) for t in spec.tranches_by_seniority())


def model_for(spec: DealSpec) -> DealModel:
    """A fresh :class:`DealModel` for ``spec`` (offering phase)."""
    return DealModel(params_from_spec(spec), class_sizes(spec), spec.units(spec.reserve.initial),
                     rent_only=list(spec.eligibility.asset_types) == ["rent"],
                     last_revolving_period=last_revolving_period(spec),
                     early_amortization_delinquency_bps=early_amortization_delinquency_bps(spec),
                     early_amortization_excess_spread_bps=early_amortization_excess_spread_bps(spec),
                     dilution_terms=dilution_terms(spec))


def dilution_terms(spec: DealSpec) -> tuple[bool, int] | None:
    """The deal's dilution terms as the servicing court holds them (``IServicingCourt.setDilutionTerms``, set by
    the arranger while the deal is offered): (repurchase, the strictest ``dilution`` early-amortization limit in
    bps, 0: none), or None for a deal without a revolving section (no dilution can be recorded)."""
    rv = spec.revolving
    if rv is None:
        return None
    limits = [t.threshold_bps for t in rv.early_amortization if t.test == "dilution"]
    return rv.dilution == "repurchase", (min(limits) if limits else 0)


def criteria_from_spec(spec: DealSpec) -> PoolCriteria:
    """The registry pool's eligibility criteria from the spec (terms in days at 30 days a month)."""
    e = spec.eligibility
    c = e.concentration
    return PoolCriteria(
        cutoff_date=spec.dates.cut_off,
        legal_final_date=spec.dates.legal_final,
        allowed_asset_types=tuple(e.asset_types),
        min_rate_bps=e.min_rate_bps,
        max_rate_bps=e.max_rate_bps,
        max_remaining_term_days=e.max_remaining_term_months * 30,
        max_days_delinquent=e.max_delinquency_days_at_cut_off,
        max_principal_per_asset=spec.units(e.max_principal_per_asset),
        max_region_bps=c.max_region_bps if c.max_region_bps is not None else 10_000,
        max_industry_bps=c.max_industry_bps if c.max_industry_bps is not None else 10_000,
        max_obligor_bps=c.max_obligor_bps if c.max_obligor_bps is not None else 10_000,
    )


def last_revolving_period(spec: DealSpec) -> int:
    """``SPVTerms.lastRevolvingPeriod``: the last period whose principal collections may buy receivables (the
    last payment date on or before ``revolving.end``); 0 for a static pool."""
    rv = terms_from_spec(spec)
    return 0 if rv is None else rv.last_revolving_period


def early_amortization_delinquency_bps(spec: DealSpec) -> int:
    """``SPVTerms.earlyAmortizationDelinquencyBps``: the lowest ``delinquency_60_plus`` early-amortization
    threshold of the spec's revolving period (0: none). The dilution test's limit is in the servicing court's
    dilution terms (:func:`dilution_terms`)."""
    rv = spec.revolving
    limits = [t.threshold_bps for t in (rv.early_amortization if rv else []) if t.test == "delinquency_60_plus"]
    return min(limits) if limits else 0


def early_amortization_excess_spread_bps(spec: DealSpec) -> int:
    """``SPVTerms.earlyAmortizationExcessSpreadBps``: the highest (strictest) ``excess_spread`` early-amortization
    threshold of the spec's revolving period (0: none)."""
    rv = spec.revolving
    limits = [t.threshold_bps for t in (rv.early_amortization if rv else []) if t.test == "excess_spread"]
    return max(limits) if limits else 0


def delinquency_alert_bps(spec: DealSpec) -> int:
    """Alert level for 60+ delinquency: half the spec's 60+ delinquency trigger (0: no alert)."""
    for t in spec.triggers:
        if t.test == "delinquency_60_plus":
            return t.threshold_bps // 2
    return 0
