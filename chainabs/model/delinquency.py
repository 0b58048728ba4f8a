"""Delinquency roll rates: current -> 30 -> 60 -> 90+ -> default, with cures, for buckets and trigger tests.

The pool balance is split by payment status: ``current`` and 30/60/90+ days past due (1, 2, 3+ payments
missed). Each month a transition matrix moves balance between statuses (a roll-rate or Markov model, the
way servicers and rating agencies track delinquency pipelines). A move from status ``k`` to ``j`` means the
borrower made ``k - j + 1`` payments that month (0 when rolling one bucket deeper, 1 when staying, 2 or more
when curing); balance that rolls out of 90+ defaults, sits in foreclosure ``recovery_lag`` months and is
liquidated at ``severity`` loss. Current balance that stays current also prepays at SMM.

Simplifications (documented in ``docs/cashflows.md``): a payment made by a delinquent loan amortizes the
same fraction of its balance as the pool's scheduled payment that month; delinquent P&I is not advanced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from chainabs.model.assumptions import AssumptionError, Assumptions
from chainabs.model.cashflows import pool_inputs

STATES: tuple[str, ...] = ("current", "dq30", "dq60", "dq90", "default")
_LIVE = 4  # current, dq30, dq60, dq90

COLUMNS: tuple[str, ...] = (
    "month",
    "current",
    "dq30",
    "dq60",
    "dq90",
    "pool_balance",
    "new_defaults",
    "foreclosure_balance",
    "scheduled_principal",
    "voluntary_prepayments",
    "interest_collections",
    "principal_recovery",
    "principal_loss",
    "principal_collections",
    "total_collections",
    "delinquency_30p",
    "delinquency_60p",
    "cumulative_loss",
)


def roll_rate_matrix(
    *,
    current_to_30: float,
    roll_30_60: float,
    roll_60_90: float,
    roll_90_default: float,
    cure_30: float = 0.0,
    cure_60: float = 0.0,
    cure_90: float = 0.0,
) -> np.ndarray:
    """A 5 x 5 monthly transition matrix over :data:`STATES` from roll and cure rates (decimals).

    Roll rates move balance one bucket deeper (90+ rolls to default); cures bring it back to current;
    the rest stays in its bucket. Default is absorbing.
    """
    m = np.zeros((5, 5))
    m[0, 0], m[0, 1] = 1 - current_to_30, current_to_30
    m[1, 0], m[1, 2] = cure_30, roll_30_60
    m[2, 0], m[2, 3] = cure_60, roll_60_90
    m[3, 0], m[3, 4] = cure_90, roll_90_default
    for k in (1, 2, 3):
        m[k, k] = 1 - m[k].sum()
    m[4, 4] = 1.0
    check_transitions(m)
    return m


def _allowed() -> np.ndarray:
    """Which moves a monthly status transition can make: cure to any better status, stay, or roll one deeper."""
    ok = np.zeros((5, 5), dtype=bool)
    for k in range(_LIVE):
        ok[k, : k + 2] = True
    ok[4, 4] = True
    return ok


def check_transitions(matrix: np.ndarray) -> np.ndarray:
    """Validate one ``(5, 5)`` matrix or a per-month ``(months, 5, 5)`` stack; returns it as floats.

    Rules: entries in [0, 1], rows sum to 1, default is absorbing, and balance can only cure (to any better
    status), stay, or roll one bucket deeper (90+ rolls to default).
    """
    m = np.asarray(matrix, dtype=float)
    if m.shape[-2:] != (5, 5) or m.ndim not in (2, 3):
        raise AssumptionError(f"transitions: expected shape (5, 5) or (months, 5, 5) over {STATES}, got {m.shape}")
    stack = m.reshape(-1, 5, 5)
    for t, mat in enumerate(stack):
        where = f" (month {t + 1})" if m.ndim == 3 else ""
        if not np.all(np.isfinite(mat)):
            raise AssumptionError(f"transitions{where}: entries must be finite numbers")
        bad = np.argwhere((mat < 0) | (mat > 1))
        if bad.size:
            i, j = bad[0]
            raise AssumptionError(f"transitions{where}: {STATES[i]} -> {STATES[j]} = {mat[i, j]:g} is outside [0, 1]")
        rows = mat.sum(axis=1)
        off = np.flatnonzero(np.abs(rows - 1) > 1e-9)
        if off.size:
            raise AssumptionError(f"transitions{where}: row {STATES[off[0]]} sums to {rows[off[0]]:.10g}, not 1")
        illegal = np.argwhere((mat > 0) & ~_allowed())
        if illegal.size:
            i, j = illegal[0]
            raise AssumptionError(
                f"transitions{where}: {STATES[i]} -> {STATES[j]} is not allowed (balance cures, stays or rolls one "
                "bucket deeper; only 90+ rolls to default; default is absorbing)"
            )
    return m


def project_delinquency(
    balance: float,
    wac: float,
    term: int,
    transitions: np.ndarray,
    assumptions: Assumptions | None = None,
    *,
    age: int = 0,
    initial: Sequence[float] | None = None,
    months: int | None = None,
    **overrides: Any,
) -> pd.DataFrame:
    """Project a representative line through roll-rate transitions; one row per month (:data:`COLUMNS`).

    ``transitions`` is a 5 x 5 matrix over :data:`STATES` or one per month ``(months, 5, 5)``; they decide
    delinquency and defaults, so ``assumptions`` (or ``overrides`` by name) give the prepayment measure,
    ``severity``, ``recovery_lag`` and ``servicing_fee`` only (a default measure is refused; delinquent P&I is
    never advanced here, whatever ``advancing`` says).
    ``initial`` splits the starting balance over (current, dq30, dq60, dq90) (default: all current).
    ``months`` defaults to the remaining term plus 12 plus ``recovery_lag`` so that balance still
    delinquent at maturity can roll to default and be liquidated; what is left at the horizon stays in
    the buckets of the last row. After maturity any payment clears the balance.
    """
    a = Assumptions.of(assumptions, **overrides)
    if a.measure("default") is not None:
        raise AssumptionError(f"{a.measure('default')[0]}: the roll-rate projection takes defaults from the "
                              "transition matrix; give no default measure")
    severity, recovery_lag = float(a.severity), int(a.recovery_lag)
    remaining = int(term) - int(age)
    horizon = int(months) if months is not None else remaining + 12 + int(recovery_lag)
    if horizon < 1:
        raise AssumptionError(f"months: {months!r} must be at least 1")
    tape = pd.DataFrame({"balance": [balance], "wac": [wac], "term": [term], "age": [age]})
    # Scheduled fractions and prepayment rates come from the standard-formula inputs (horizon may pass maturity).
    inp = pool_inputs(tape, a, months=horizon)
    frac = inp["fraction"][0]
    prepay = inp["smm"][0]
    rate = float(inp["net_rate"][0])
    mats = check_transitions(transitions)
    if mats.ndim == 3 and mats.shape[0] != horizon:
        raise AssumptionError(
            f"transitions: {mats.shape[0]} monthly matrices but the projection has {horizon} months"
        )
    x = np.array([float(balance), 0.0, 0.0, 0.0]) if initial is None else np.asarray(initial, dtype=float)
    if x.shape != (4,) or np.any(x < 0) or not np.all(np.isfinite(x)):
        raise AssumptionError("initial: give four non-negative balances (current, dq30, dq60, dq90)")
    if abs(x.sum() - float(balance)) > 1e-9 * max(1.0, float(balance)):
        raise AssumptionError(f"initial: buckets sum to {x.sum():g}, not the balance {float(balance):g}")
    lag = int(recovery_lag)
    payments = np.maximum(np.arange(_LIVE)[:, None] - np.arange(_LIVE)[None, :] + 1, 0)  # k -> j
    pending = np.zeros(horizon + lag + 1)  # defaulted balance by liquidation month
    fcl = 0.0
    cum_loss = 0.0
    rows = []
    for t in range(horizon):
        mat = mats[t] if mats.ndim == 3 else mats
        a = frac[t]
        flows = x[:, None] * mat[:_LIVE, :_LIVE]  # balance moving k -> j before payments
        paid_share = np.minimum(payments * a, 1.0)
        principal = float((flows * paid_share).sum())
        interest = float((flows * payments).sum() * rate)
        after = (flows * (1.0 - paid_share)).sum(axis=0)
        vol = after[0] * prepay[t]
        after[0] -= vol
        new_def = float(x @ mat[:_LIVE, 4])
        pending[t + lag] += new_def
        fcl += new_def
        liquidated = pending[t]
        fcl -= liquidated
        loss = liquidated * severity
        recovery = liquidated - loss
        cum_loss += loss
        x = after
        pool = float(x.sum())
        rows.append(
            (
                t + 1, *x, pool, new_def, fcl, principal, vol, interest, recovery, loss,
                principal + vol + recovery, principal + vol + recovery + interest,
                float(x[1:].sum() / pool) if pool > 0 else 0.0,
                float(x[2:].sum() / pool) if pool > 0 else 0.0,
                cum_loss,
            )
        )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs["original_balance"] = float(balance)
    return frame


def first_breach(df: pd.DataFrame, column: str, threshold: float, window: int = 1) -> int | None:
    """First month whose ``window``-month average of ``column`` exceeds ``threshold`` (a trigger test), else None."""
    if column not in df.columns:
        raise AssumptionError(f"trigger: column {column!r} is not in the projection")
    if int(window) < 1:
        raise AssumptionError(f"trigger: window {window!r} must be at least 1 month")
    avg = df[column].rolling(int(window), min_periods=int(window)).mean()
    hit = np.flatnonzero(avg.to_numpy() > threshold)
    return int(df["month"].iloc[hit[0]]) if hit.size else None
