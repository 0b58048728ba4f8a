"""Deal analytics: pool projections through the waterfall to tranche cash flows and metrics.

A :class:`Scenario` (CPR / CDR / severity / recovery lag, standard-formula projection) becomes integer
period reports (:mod:`chainabs.model.collections`), which the deal model (:class:`chainabs.model.deal.DealModel`, the
same code the SPV is held equal to) pays out period by period, clean-up call and end of deal included.
From the tranche cash flows: WAL, principal window, final payment period, factor path, yield at a price,
modified duration, write-down and interest shortfall per class; per deal the breakeven CDR of each class,
excess spread, the reserve path and the trigger dates. :func:`scenario_grid` runs a grid of scenarios.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from chainabs.model import metrics
from chainabs.model.assumptions import Assumptions
from chainabs.model.cashflows import project_pool
from chainabs.model.collections import period_reports
from chainabs.model.deal import DealModel
from chainabs.model.spec import DealSpec
from chainabs.model.terms import class_sizes, model_for

if TYPE_CHECKING:
    from chainabs.model.montecarlo import ProgressFn


@dataclass(frozen=True)
class Scenario:
    """Annual CPR and CDR (decimals), loss severity, recovery lag in months."""

    cpr: float = 0.10
    cdr: float = 0.02
    severity: float = 0.6
    recovery_lag: int = 3

    def label(self) -> str:
        """Short text for tables and charts."""
        return f"CPR {self.cpr:.0%} CDR {self.cdr:.0%} sev {self.severity:.0%}"

    def assumptions(self) -> Assumptions:
        """The scenario as the engines' assumptions."""
        return Assumptions(cpr=self.cpr, cdr=self.cdr, severity=self.severity, recovery_lag=self.recovery_lag)


@dataclass(frozen=True)
class PoolProfile:
    """What the projection needs about the pool: balance (base units), WAC (decimal), WA remaining term."""

    balance: int
    wac: float
    term: int


@dataclass
class DealRun:
    """One scenario through the deal: the model after the run and its per-period tables."""

    scenario: Scenario
    model: DealModel
    periods: pd.DataFrame
    classes: pd.DataFrame


def run_deal(spec: DealSpec, pool: PoolProfile, scenario: Scenario, *, clean_up_call: bool = True) -> DealRun:
    """Project the pool under ``scenario`` and pay it through the deal model until the deal ends."""
    decimals = spec.currency.decimals
    projection = project_pool(pool.balance / 10**decimals, pool.wac, pool.term, scenario.assumptions())
    return run_projection(spec, projection, pool.balance, scenario, clean_up_call=clean_up_call)


def run_projection(spec: DealSpec, projection: pd.DataFrame, balance: int, scenario: Scenario | None = None, *,
                   clean_up_call: bool = True) -> DealRun:
    """Pay a pool projection (SIFMA columns, e.g. one Monte Carlo path) through the deal until it ends."""
    decimals = spec.currency.decimals
    if balance != spec.units(spec.pool.original_balance):
        spec = spec.sized_to(Decimal(balance).scaleb(-decimals))
    reports = period_reports(projection, decimals, beginning_balance=balance)
    model = model_for(spec)
    for i, size in enumerate(class_sizes(spec)):
        model.subscribe(i, size)
    model.close_deal()
    level = model.clean_up_level()
    period_rows, class_rows = [], []
    called = False
    for report in reports:
        model.submit(report)
        called = clean_up_call and 0 < report.pool_ending_balance <= level
        if called:
            model.exercise_clean_up_call()
        closed = model.close_period()
        res, st = closed.result, closed.state
        period_rows.append({
            "period": closed.period, "pool_balance": st.pool_balance, "interest_collections": report.interest_collections,
            "defaults": report.defaults, "recoveries": report.recoveries, "fees_paid": sum(res.fee_paid),
            "excess_spread": res.residual + res.pdl_cure_paid, "reserve_balance": st.reserve_balance,
            "reserve_target": res.reserve_target, "triggers_breached": st.triggers_breached, "clean_up_call": called,
        })
        for i in range(len(st.class_balances)):
            class_rows.append({
                "period": closed.period, "class": i, "interest_due": res.interest_due[i],
                "interest_paid": closed.class_interest[i], "principal_paid": res.principal_paid[i],
                "write_down": res.write_down[i], "pdl_cured": res.pdl_cured[i], "balance": st.class_balances[i],
                "pdl": st.pdl[i], "interest_shortfall": st.interest_shortfalls[i],
            })
        if called or st.pool_balance == 0:
            break
    # A called deal ends at once (the pool is sold: nothing more can come in); one that ran out of months or
    # still owes its notes ends at legal final.
    legal_final = not called and (model.state.pool_balance != 0 or any(model.state.class_balances[:-1]))
    before = [(t.interest_distributed, t.principal_distributed) for t in model.tranches]
    model.end_deal(legal_final=legal_final)
    for k in range(len(model.fees_paid)):  # the fee recipients withdraw what they earned
        model.withdraw_fees(k)
    end_period = model.state.periods_closed
    # The end of the deal belongs to the last period: what it paid each class (the notes' carried interest
    # shortfalls and unpaid principal from the cash the deal still held, the rest to the equity class as
    # interest) and the shortfall each class is left with (lost with the deal).
    last = {row["class"]: row for row in class_rows if row["period"] == end_period}
    for i, row in last.items():
        t = model.tranches[i]
        row["interest_paid"] += t.interest_distributed - before[i][0]
        row["principal_paid"] += t.principal_distributed - before[i][1]
        row["interest_shortfall"] = t.interest_shortfall
    classes = pd.DataFrame(class_rows)
    return DealRun(scenario or Scenario(), model, pd.DataFrame(period_rows), classes)


def tranche_metrics(spec: DealSpec, run: DealRun, price: float = 100.0) -> pd.DataFrame:
    """Per class: WAL, principal window, final period, yield at ``price`` (% of face), duration, losses."""
    tranches = spec.tranches_by_seniority()
    ppy = 12 // spec.dates.frequency_months
    flows = run.classes
    rows = []
    for i, t in enumerate(tranches):
        cf = flows[flows["class"] == i].sort_values("period")
        face = run.model.tranches[i].original_face
        principal = cf["principal_paid"].to_numpy(dtype=float)
        cash = (cf["interest_paid"] + cf["principal_paid"]).to_numpy(dtype=float)
        window = metrics.principal_window(principal)
        written = run.model.tranches[i].cumulative_write_down
        y = _yield(cash, price / 100 * face, ppy)
        rows.append({
            "class": t.class_name,
            "scenario": run.scenario.label(),
            "wal_years": metrics.wal(principal, ppy) if principal.sum() > 0 else float("nan"),
            "principal_window": f"{window[0]}-{window[1]}" if window else "",
            "final_period": metrics.final_payment_period(cash),
            "yield_pct": 100 * y,
            "modified_duration": metrics.modified_duration(cash, y, ppy) if np.isfinite(y) else float("nan"),
            "write_down_pct": 100 * written / face if face else 0.0,
            "interest_shortfall": int(cf["interest_shortfall"].iloc[-1]) if len(cf) else 0,
            "principal_loss": written,
        })
    return pd.DataFrame(rows)


def _yield(cash: np.ndarray, price: float, ppy: int) -> float:
    """Yield at ``price``, NaN when no yield in the search range gives it (e.g. a nearly total loss)."""
    if price <= 0 or cash.sum() <= 0:
        return float("nan")
    try:
        return metrics.yield_at_price(cash, price, ppy)
    except ValueError:
        return float("nan")


def scenario_grid(
    spec: DealSpec,
    pool: PoolProfile,
    cprs: Sequence[float],
    cdrs: Sequence[float],
    severities: Sequence[float],
    *,
    recovery_lag: int = 3,
    price: float = 100.0,
    progress: bool = False,
) -> pd.DataFrame:
    """Tranche metrics for every CPR x CDR x severity combination (one row per scenario and class)."""
    combos = list(itertools.product(cprs, cdrs, severities))
    frames = []
    iterator = combos
    if progress:
        from rich.progress import track

        iterator = track(combos, description="scenario grid")
    for cpr, cdr, sev in iterator:
        scenario = Scenario(cpr, cdr, sev, recovery_lag)
        m = tranche_metrics(spec, run_deal(spec, pool, scenario), price)
        m.insert(0, "cpr", cpr)
        m.insert(1, "cdr", cdr)
        m.insert(2, "severity", sev)
        frames.append(m)
    return pd.concat(frames, ignore_index=True)


def breakeven_cdr(spec: DealSpec, pool: PoolProfile, class_index: int, *, cpr: float = 0.10, severity: float = 0.6,
                  recovery_lag: int = 3, hi: float = 1.0, tol: float = 1e-4) -> float:
    """Highest CDR (decimal) at which class ``class_index`` loses no principal (root search)."""

    def loss(cdr: float) -> float:
        run = run_deal(spec, pool, Scenario(cpr, cdr, severity, recovery_lag))
        return float(run.model.tranches[class_index].cumulative_write_down)

    return metrics.breakeven(loss, 0.0, hi, tol)


def trigger_dates(run: DealRun) -> dict[int, int]:
    """Trigger index -> first period after whose close it was breached."""
    out: dict[int, int] = {}
    for _, row in run.periods.iterrows():
        mask = int(row["triggers_breached"])
        j = 0
        while mask >> j:
            if (mask >> j) & 1 and j not in out:
                out[j] = int(row["period"])
            j += 1
    return out


def pool_profile_of_tape(tape: pd.DataFrame) -> PoolProfile:
    """Balance (base units), principal-weighted rate and remaining term of a loan tape."""
    principal = tape["principal"].astype(object).map(int)
    total = int(principal.sum())
    weights = tape["principal"].astype(float)
    wac = float((tape["rate_bps"].astype(float) * weights).sum() / weights.sum()) / 10_000
    term = int(round(float((tape["term_months"].astype(float) * weights).sum() / weights.sum())))
    return PoolProfile(total, wac, max(term, 1))


def monte_carlo_losses(spec: DealSpec, tape: pd.DataFrame, *, paths: int, seed: int, scenario: Scenario,
                       default_vol: float = 0.5, prepay_vol: float = 0.3, executor: Executor | None = None,
                       progress: ProgressFn | None = None) -> pd.DataFrame:
    """Seeded loan-level Monte Carlo: one row per path with each class's principal loss (% of face).

    ``tape`` has the Monte Carlo columns ``balance`` (currency units), ``wac``, ``term`` (and ``age``).
    ``executor`` runs the paths elsewhere (:func:`chainabs.model.montecarlo.simulate`; same result);
    ``progress`` is told how far the simulation and the paths through the waterfall are
    (:data:`chainabs.model.montecarlo.ProgressFn`).
    """
    from chainabs.model.montecarlo import simulate

    decimals = spec.currency.decimals
    balance = int(Decimal(str(round(float(tape["balance"].sum()), decimals))).scaleb(decimals))
    names = [t.class_name for t in spec.tranches_by_seniority()]

    def losses(path: pd.DataFrame) -> dict[str, float]:
        run = run_projection(spec, path, balance, scenario)
        return {n: 100 * run.model.tranches[i].cumulative_write_down / max(run.model.tranches[i].original_face, 1)
                for i, n in enumerate(names)}

    result = simulate(tape, scenario.assumptions(), paths=paths, seed=seed, default_vol=default_vol,
                      prepay_vol=prepay_vol, tranche_losses=losses, executor=executor, progress=progress)
    frame = pd.DataFrame(result.tranche_losses)
    frame.insert(0, "pool_loss_pct", 100 * np.asarray(result.loss_rates, dtype=float))
    frame.index.name = "path"
    return frame
