"""Generic cash-flow analytics: average life, windows, factors, yield, duration, write-downs, breakeven search.

Everything works on per-period arrays (period 1 is the first payment after settlement at period 0), so the
same functions serve a pool projection, a tranche from the waterfall or one Monte Carlo path. Yields are
annual nominal rates compounded once per period (monthly by default, the "mortgage yield" of the SIFMA
standard); :func:`bond_equivalent_yield` converts to the semiannual convention.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Union

import numpy as np
from scipy.optimize import brentq

ArrayLike = Union[np.ndarray, list, tuple]


def _periods(values: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a one-dimensional per-period series")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}: value at period {bad[0] + 1} is not a finite number")
    return arr


def _ppy(periods_per_year: int) -> int:
    if isinstance(periods_per_year, bool) or int(periods_per_year) != periods_per_year or periods_per_year < 1:
        raise ValueError(f"periods_per_year: {periods_per_year!r} must be a whole number >= 1")
    return int(periods_per_year)


def wal(principal: ArrayLike, periods_per_year: int = 12) -> float:
    """Weighted average life in years: ``sum(t * P_t) / sum(P_t) / periods_per_year`` (SF-48 c)."""
    p = _periods(principal, "principal")
    total = p.sum()
    if total <= 0:
        raise ValueError("principal: no principal is paid, the average life is undefined")
    t = np.arange(1, p.size + 1)
    return float((t * p).sum() / total / _ppy(periods_per_year))


def principal_window(principal: ArrayLike, eps: float = 0.0) -> tuple[int, int] | None:
    """First and last period (1-based) in which principal above ``eps`` is paid; ``None`` if never."""
    p = _periods(principal, "principal")
    paid = np.flatnonzero(p > eps)
    if paid.size == 0:
        return None
    return int(paid[0] + 1), int(paid[-1] + 1)


def final_payment_period(payments: ArrayLike, eps: float = 0.0) -> int | None:
    """Last period (1-based) with a payment above ``eps``; ``None`` if nothing is ever paid."""
    window = principal_window(payments, eps)
    return None if window is None else window[1]


def factor_path(balance: ArrayLike, original: float) -> np.ndarray:
    """Outstanding balance per period as a fraction of the original balance."""
    if not original > 0:
        raise ValueError(f"original: {original!r} must be positive")
    return _periods(balance, "balance") / float(original)


def write_down_pct(losses: ArrayLike, original: float) -> float:
    """Principal written down (sum of losses) as a fraction of the original balance."""
    if not original > 0:
        raise ValueError(f"original: {original!r} must be positive")
    return float(_periods(losses, "losses").sum() / original)


def interest_shortfall(due: ArrayLike, paid: ArrayLike) -> np.ndarray:
    """Cumulative unpaid interest at the end of each period (``due`` and ``paid`` per period, no carry interest)."""
    d, p = _periods(due, "due"), _periods(paid, "paid")
    if d.shape != p.shape:
        raise ValueError(f"due and paid: lengths differ ({d.size} vs {p.size})")
    return np.cumsum(d - p)


def price_from_yield(cashflows: ArrayLike, annual_yield: float, periods_per_year: int = 12) -> float:
    """Present value at period 0 of ``cashflows`` (periods 1..n) at ``annual_yield`` compounded per period."""
    cf = _periods(cashflows, "cashflows")
    per = annual_yield / _ppy(periods_per_year)
    if per <= -1:
        raise ValueError(f"annual_yield: {annual_yield:g} is at or below -100 % per period")
    t = np.arange(1, cf.size + 1)
    return float((cf * np.exp(-t * np.log1p(per))).sum())


def yield_at_price(
    cashflows: ArrayLike, price: float, periods_per_year: int = 12, lo: float = -0.99, hi: float = 10.0
) -> float:
    """Annual yield (IRR, compounded per period) that discounts ``cashflows`` to ``price`` paid at period 0.

    ``price`` is an amount in the cash flows' units (e.g. ``face * 99.5 / 100``). Solved with Brent's method
    between ``lo`` and ``hi``; raises if no yield in that range reprices the cash flows.
    """
    cf = _periods(cashflows, "cashflows")
    if not price > 0:
        raise ValueError(f"price: {price!r} must be positive")
    ppy = _ppy(periods_per_year)
    if not (cf > 0).any():
        raise ValueError("cashflows: nothing is received, no yield exists")
    f_lo = price_from_yield(cf, lo, ppy) - price
    f_hi = price_from_yield(cf, hi, ppy) - price
    if f_lo * f_hi > 0:
        raise ValueError(f"price: {price:g} is not reached by any yield between {lo:g} and {hi:g}")
    return float(brentq(lambda y: price_from_yield(cf, y, ppy) - price, lo, hi, xtol=1e-14, rtol=1e-12, maxiter=500))


def irr(cashflows_from_zero: ArrayLike, periods_per_year: int = 12) -> float:
    """Annual IRR of a series whose first element is at period 0 (usually negative: the price paid)."""
    cf = _periods(cashflows_from_zero, "cashflows")
    if cf.size < 2 or cf[0] >= 0:
        raise ValueError("cashflows: the first element must be the (negative) amount paid at period 0")
    return yield_at_price(cf[1:], -cf[0], periods_per_year)


def macaulay_duration(cashflows: ArrayLike, annual_yield: float, periods_per_year: int = 12) -> float:
    """Macaulay duration in years: present-value-weighted average time of the cash flows."""
    cf = _periods(cashflows, "cashflows")
    ppy = _ppy(periods_per_year)
    t = np.arange(1, cf.size + 1)
    disc = cf * np.exp(-t * np.log1p(annual_yield / ppy))
    pv = disc.sum()
    if pv <= 0:
        raise ValueError("cashflows: present value is not positive, duration is undefined")
    return float((t * disc).sum() / pv / ppy)


def modified_duration(cashflows: ArrayLike, annual_yield: float, periods_per_year: int = 12) -> float:
    """Modified duration in years: ``Macaulay / (1 + y / periods_per_year)`` = ``-dP/dy / P``."""
    ppy = _ppy(periods_per_year)
    return macaulay_duration(cashflows, annual_yield, ppy) / (1.0 + annual_yield / ppy)


def bond_equivalent_yield(annual_yield: float, periods_per_year: int = 12) -> float:
    """Convert a yield compounded ``periods_per_year`` times to a semiannual bond-equivalent yield (SF-48)."""
    ppy = _ppy(periods_per_year)
    return 2.0 * ((1.0 + annual_yield / ppy) ** (ppy / 2.0) - 1.0)


def breakeven(
    fn: Callable[[float], float],
    lo: float,
    hi: float,
    tol: float = 1e-6,
    *,
    threshold: float = 0.0,
    max_iter: int = 200,
) -> float:
    """Highest ``x`` in ``[lo, hi]`` with ``fn(x) <= threshold``, for a loss function nondecreasing in ``x``.

    Typical use: ``fn(cdr)`` returns a tranche's principal loss under that CDR; the result is the breakeven
    CDR (the highest CDR with zero principal loss), accurate to ``tol``. Bisection keeps ``fn(lo) <= threshold
    < fn(hi)`` at every step, so the returned value itself has no loss. Returns ``hi`` if even ``hi`` loses
    nothing; raises if ``lo`` already loses.
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"breakeven: need finite lo < hi, got lo={lo!r}, hi={hi!r}")
    if not tol > 0:
        raise ValueError(f"breakeven: tol {tol!r} must be positive")
    f_lo = fn(lo)
    if f_lo > threshold:
        raise ValueError(f"breakeven: fn(lo={lo:g}) = {f_lo:g} already exceeds the threshold {threshold:g}")
    if fn(hi) <= threshold:
        return float(hi)
    for _ in range(max_iter):
        if hi - lo <= tol:
            break
        mid = lo + (hi - lo) / 2.0
        if fn(mid) <= threshold:
            lo = mid
        else:
            hi = mid
    return float(lo)
