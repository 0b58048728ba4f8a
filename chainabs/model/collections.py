"""From projected pool cash flows to the servicer's integer period reports.

The waterfall (:mod:`chainabs.model.waterfall`, ``SPV.closePeriod``) takes one :class:`PeriodReport` per period in
base units, and insists that ``pool ending = beginning - scheduled - prepayments - defaults`` exactly. This
module turns a projection (:func:`chainabs.model.cashflows.project_pool` or
:func:`chainabs.model.delinquency.project_delinquency`) into such reports:

* each flow (interest, prepayments, defaults, recoveries) is converted with the cumulative round-down rule
  of :func:`chainabs.model.cashflows.to_collections`, so each series sums to its exact total rounded down;
* the pool balance is rounded down per period and the scheduled principal is what makes the identity
  hold (at most a unit away from the projection's own figure), so the pool runs off to exactly zero;
* a SIFMA projection with P&I advancing keeps collecting principal on loans in foreclosure
  (``amortization_from_defaults``): from the deal's point of view that is an early recovery of a defaulted
  balance, and it is reported as a recovery.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd

from chainabs.model.cashflows import to_collections
from chainabs.model.waterfall import PeriodReport


class CollectionsError(ValueError):
    """The projection cannot be turned into reports (missing column, negative flow...)."""


def _series(df: pd.DataFrame, column: str, decimals: int) -> list[int]:
    if column not in df.columns:
        raise CollectionsError(f"projection has no column {column!r}")
    values = df[column].to_numpy(dtype=float)
    noise = 1e-12 * max(1.0, float(np.abs(values).max(initial=0.0)))  # float rounding of the projection
    if (values < -noise).any():
        raise CollectionsError(f"projection column {column!r} has negative values")
    clipped = df.assign(**{column: df[column].clip(lower=0.0)})
    return to_collections(clipped, decimals, column)


def _floor_units(values: np.ndarray, decimals: int) -> list[int]:
    scale = 10**decimals
    return [int(Fraction(float(v)) * scale) if v > 0 else 0 for v in values]


def period_reports(df: pd.DataFrame, decimals: int, *, beginning_balance: int | None = None) -> list[PeriodReport]:
    """One integer :class:`PeriodReport` per projected month.

    ``beginning_balance`` (base units) is the pool balance the first report starts from; by default the
    projection's own, rounded down. Recognises both projection formats by their columns: with ``dq30``
    (roll-rate projection) the delinquency buckets are reported; without, they are zero.
    """
    if df.empty:
        return []
    roll_rates = "dq30" in df.columns
    if roll_rates:
        balance_col, sched_col = "pool_balance", "scheduled_principal"
        recoveries = _series(df, "principal_recovery", decimals)
        first_begin = float(df["pool_balance"].iloc[0] + df["scheduled_principal"].iloc[0]
                            + df["voluntary_prepayments"].iloc[0] + df["new_defaults"].iloc[0])
    else:
        balance_col, sched_col = "performing_balance", "actual_amortization"
        advanced = df.assign(_rec=df["principal_recovery"] + df["amortization_from_defaults"])
        recoveries = _series(advanced, "_rec", decimals)
        first_begin = float(df["beginning_balance"].iloc[0])
    interest = _series(df, "interest_collections", decimals)
    prepay = _series(df, "voluntary_prepayments", decimals)
    defaults = _series(df, "new_defaults", decimals)
    _series(df, sched_col, decimals)  # validates the column
    ends = _floor_units(df[balance_col].to_numpy(dtype=float), decimals)
    begin = beginning_balance if beginning_balance is not None else _floor_units(np.array([first_begin]), decimals)[0]
    if roll_rates:
        buckets = [_floor_units(df[c].to_numpy(dtype=float), decimals) for c in ("dq30", "dq60", "dq90")]
    else:
        zeros = [0] * len(df)
        buckets = [zeros, zeros, zeros]
    reports = []
    for t in range(len(df)):
        end = min(ends[t], begin)
        p, d = prepay[t], defaults[t]
        # Rounding may leave the flows a unit or two above the balance change: trim prepayments, then defaults.
        excess = p + d - (begin - end)
        if excess > 0:
            cut = min(excess, p)
            p -= cut
            d -= excess - cut
        sched = begin - end - p - d
        delinquent = [min(b[t], end) for b in buckets]
        total = sum(delinquent)
        if total > end:  # keep the buckets within the pool
            delinquent[0] -= min(delinquent[0], total - end)
            total = sum(delinquent)
            if total > end:
                delinquent[1] -= min(delinquent[1], total - end)
                total = sum(delinquent)
                delinquent[2] -= total - end if total > end else 0
        reports.append(PeriodReport(
            interest_collections=interest[t], scheduled_principal=sched, prepayments=p, recoveries=recoveries[t],
            defaults=d, delinquent_30=delinquent[0], delinquent_60=delinquent[1], delinquent_90_plus=delinquent[2],
            pool_ending_balance=end,
        ))
        begin = end
    return reports
