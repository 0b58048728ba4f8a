"""Seeded loan-level Monte Carlo of defaults and prepayments, vectorized over loans x paths.

Each loan follows its contractual schedule until it defaults or prepays. In projected month ``t`` a loan
still performing draws one uniform ``u``: it defaults if ``u < MDR``, prepays (after paying the month's
scheduled principal and interest) if ``MDR <= u < MDR + SMM``. That makes the *expected* pool cash flows
equal the deterministic standard-formula projection of :mod:`chainabs.model.cashflows` (prepayments on the prior
performing balance after scheduled amortization, defaults on the prior performing balance, SF-19 c cap).
Defaulted loans go through foreclosure, advancing and liquidation exactly as in the standard formulas.

Systematic risk: every path draws a default multiplier and a prepayment multiplier (lognormal with mean 1,
volatilities ``default_vol`` / ``prepay_vol``, correlation ``factor_corr``) that scale the loans' monthly
rates on that path, so losses are correlated across loans and the loss distribution has a realistic tail.

The month loop is in Python; loans x paths are numpy arrays processed in blocks of paths (memory stays
bounded), blocks run on a thread pool (numpy releases the GIL). Every block has its own random stream
spawned from ``seed`` and covers fixed paths, so results do not depend on the number of workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import re
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from chainabs.model.assumptions import AssumptionError, Assumptions
from chainabs.model.cashflows import SUM_COLUMNS, pool_inputs

#: Column positions in the per-path cash-flow cube.
_C = {name: k for k, name in enumerate(SUM_COLUMNS)}
_N_COLS = len(SUM_COLUMNS)
#: Elements (loans x paths) per block: sets memory (about 22 bytes each) and the path block size.
BLOCK_ELEMENTS = 1_000_000

TrancheLossFn = Callable[[pd.DataFrame], Mapping[str, float]]


@dataclass
class MonteCarloResult:
    """Per-path pool cash flows and what follows from them.

    ``cashflows[p, m, k]`` is column ``columns[k]`` of path ``p`` in projected month ``m + 1`` (the columns
    of :func:`chainabs.model.cashflows.project_pool` that add up over loans).
    """

    cashflows: np.ndarray
    original_balance: float
    seed: int
    default_multiplier: np.ndarray
    prepay_multiplier: np.ndarray
    columns: tuple[str, ...] = SUM_COLUMNS
    tranche_losses: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)

    @property
    def paths(self) -> int:
        return int(self.cashflows.shape[0])

    @property
    def months(self) -> int:
        return int(self.cashflows.shape[1])

    def column(self, name: str) -> np.ndarray:
        """One column for every path and month, shape ``(paths, months)``."""
        if name not in self.columns:
            raise KeyError(f"no column {name!r}; columns are {', '.join(self.columns)}")
        return self.cashflows[:, :, self.columns.index(name)]

    def path_frame(self, path: int) -> pd.DataFrame:
        """Path ``path`` as a projection-style DataFrame (``month`` plus the summed columns)."""
        if not 0 <= path < self.paths:
            raise IndexError(f"path {path} is outside 0..{self.paths - 1}")
        frame = pd.DataFrame(self.cashflows[path], columns=list(self.columns))
        frame.insert(0, "month", np.arange(1, self.months + 1))
        frame.attrs["original_balance"] = self.original_balance
        return frame

    def mean_frame(self) -> pd.DataFrame:
        """Average over paths of every column (compare with the deterministic projection)."""
        frame = pd.DataFrame(self.cashflows.mean(axis=0), columns=list(self.columns))
        frame.insert(0, "month", np.arange(1, self.months + 1))
        return frame

    @property
    def losses(self) -> np.ndarray:
        """Cumulative principal loss of each path (currency units)."""
        return self.column("principal_loss").sum(axis=1)

    @property
    def loss_rates(self) -> np.ndarray:
        """Cumulative principal loss of each path as a fraction of the original pool balance."""
        return self.losses / self.original_balance if self.original_balance > 0 else np.zeros(self.paths)

    def loss_distribution(self, quantiles: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99, 0.999)) -> pd.Series:
        """Mean, standard deviation, quantiles and 99 % expected shortfall of the pool loss rate."""
        rates = self.loss_rates
        out = {"mean": float(rates.mean()), "std": float(rates.std(ddof=1)) if rates.size > 1 else 0.0}
        for q in quantiles:
            out[f"q{q:g}"] = float(np.quantile(rates, q))
        tail = np.sort(rates)[int(math.floor(0.99 * rates.size)):]
        out["es0.99"] = float(tail.mean()) if tail.size else float(rates.max())
        return pd.Series(out, name="pool_loss_rate")


def synthetic_tape(
    n_loans: int,
    *,
    seed: int,
    term: int = 36,
    balance_range: tuple[float, float] = (2_000.0, 30_000.0),
    wac_range: tuple[float, float] = (0.08, 0.24),
    max_age: int = 0,
) -> pd.DataFrame:
    """A seeded synthetic consumer-loan tape (``balance, wac, term, age``) for demos, tests and benchmarks."""
    if n_loans < 1:
        raise AssumptionError(f"n_loans: {n_loans} must be at least 1")
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "balance": np.round(rng.uniform(*balance_range, n_loans), 2),
            "wac": np.round(rng.uniform(*wac_range, n_loans), 4),
            "term": np.full(n_loans, int(term)),
            "age": rng.integers(0, max_age + 1, n_loans) if max_age > 0 else np.zeros(n_loans, dtype=int),
        }
    )


@contextlib.contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """Run OpenBLAS single-threaded during the simulation (restored afterwards).

    The per-month products are small; OpenBLAS's own threads only spin on them and against the path
    workers (measured 4-6x more CPU time on 2 cores); parallelism comes from the path workers instead. Best effort, like ``threadpoolctl``: if numpy's OpenBLAS cannot be
    found, nothing changes.
    """
    setter = getter = None
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted(set(re.findall(r"\S*openblas\S*\.so\S*", maps.read())))
        for path in paths:
            lib = ctypes.CDLL(path)
            for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"), ("openblas", "")):
                if hasattr(lib, f"{prefix}_set_num_threads{suffix}"):
                    setter = getattr(lib, f"{prefix}_set_num_threads{suffix}")
                    getter = getattr(lib, f"{prefix}_get_num_threads{suffix}")
                    break
            if setter is not None:
                break
    except OSError:
        setter = None
    if setter is None or getter is None:
        yield
        return
    previous = int(getter())
    setter(1)
    try:
        yield
    finally:
        setter(previous)


def _factor_multipliers(
    rng: np.random.Generator, paths: int, default_vol: float, prepay_vol: float, corr: float
) -> tuple[np.ndarray, np.ndarray]:
    z = rng.standard_normal((paths, 2))
    zd = z[:, 0]
    zp = corr * z[:, 0] + math.sqrt(max(0.0, 1.0 - corr * corr)) * z[:, 1]
    return (
        np.exp(default_vol * zd - 0.5 * default_vol**2),
        np.exp(prepay_vol * zp - 0.5 * prepay_vol**2),
    )


def _default_profile(
    loans: np.ndarray, t: int, lag: int, advancing: bool, severity: float, sched: dict[str, np.ndarray]
) -> np.ndarray:
    """Contributions of loans defaulting in month index ``t`` (0-based) to months ``t .. t + lag``.

    Returns ``(events, lag + 1, columns)``, the standard formulas applied to each defaulted loan.
    """
    bal, spr, frac = sched["balance"], sched["principal"], sched["fraction"]
    r, fee = sched["net_rate"][loans], sched["fee_rate"][loans]
    b0 = bal[loans, t]  # balance at the start of the default month
    out = np.zeros((loans.size, lag + 1, _N_COLS))
    out[:, 0, _C["new_defaults"]] = b0
    for k in range(lag + 1):
        start = bal[loans, t + k] if advancing else b0
        prof = out[:, k]
        prof[:, _C["beginning_balance"]] = start
        prof[:, _C["expected_interest"]] = r * start
        prof[:, _C["interest_lost"]] = r * start
        if advancing:
            prof[:, _C["servicing_fee"]] = fee * start
            prof[:, _C["interest_collections"]] = r * start
        if k < lag:
            if advancing:
                amort = spr[loans, t + k]
                end = bal[loans, t + k + 1]
                prof[:, _C["amortization_from_defaults"]] = amort
                prof[:, _C["principal_collections"]] = amort
            else:
                amort = b0 * frac[loans, t + k]
                end = b0
            prof[:, _C["expected_amortization"]] = amort
            prof[:, _C["foreclosure_balance"]] = end
            prof[:, _C["ending_balance"]] = end
        else:
            liquidated = start
            loss = np.minimum(severity * b0, liquidated)
            recovery = liquidated - loss
            prof[:, _C["liquidated_balance"]] = liquidated
            prof[:, _C["principal_loss"]] = loss
            prof[:, _C["principal_recovery"]] = recovery
            prof[:, _C["principal_collections"]] += recovery
    return out


def _perf_map() -> np.ndarray:
    """Linear map from the performing weights (B(t-1), B(t), sched principal, net interest, fee) to columns."""
    m = np.zeros((5, _N_COLS))
    m[0, _C["beginning_balance"]] = 1
    m[1, [_C["performing_balance"], _C["ending_balance"]]] = 1
    m[2, [_C["expected_amortization"], _C["actual_amortization"], _C["principal_collections"]]] = 1
    m[3, [_C["expected_interest"], _C["actual_interest"], _C["interest_collections"]]] = 1
    m[4, _C["servicing_fee"]] = 1
    return m


def _run_block(
    seed_seq: np.random.SeedSequence,
    first_path: int,
    n_paths: int,
    sched: dict[str, np.ndarray],
    mult_d: np.ndarray,
    mult_p: np.ndarray,
    lag: int,
    advancing: bool,
    severity: float,
    out: np.ndarray,
) -> None:
    rng = np.random.Generator(np.random.PCG64(seed_seq))
    n_loans, months = sched["mdr"].shape
    md = mult_d[first_path:first_path + n_paths].astype(np.float32)
    mp = mult_p[first_path:first_path + n_paths].astype(np.float32)
    multipliers = np.stack([md, mp])  # (2, paths)
    # Per month, rates of both events for every loan: (months, loans, 2) so that the event threshold
    # MDR_l * md_p + SMM_l * mp_p is one small (loans x 2) @ (2 x paths) product.
    rates = np.ascontiguousarray(np.stack([sched["mdr"], sched["smm"]], axis=-1).transpose(1, 0, 2), dtype=np.float32)
    alive = np.ones((n_loans, n_paths), dtype=bool)
    alive[sched["balance"][:, 0] <= 0] = False
    alive_f = alive.astype(np.float64)
    acc = np.zeros((n_paths, months + lag, _N_COLS))
    perf_map = _perf_map()
    u = np.empty((n_loans, n_paths), dtype=np.float32)
    thr_q = np.empty_like(u)
    event = np.empty((n_loans, n_paths), dtype=bool)
    bal, spr = sched["balance"], sched["principal"]
    for t in range(months):
        rng.random(out=u, dtype=np.float32)
        np.matmul(rates[t], multipliers, out=thr_q)
        np.less(u, thr_q, out=event)
        np.logical_and(event, alive, out=event)
        flat = np.flatnonzero(event)
        ev_loan, ev_path = np.divmod(flat, n_paths)
        is_def = u.ravel()[flat] < rates[t, ev_loan, 0] * md[ev_path]
        d_flat, p_flat = flat[is_def], flat[~is_def]
        d_loan, d_path = ev_loan[is_def], ev_path[is_def]
        p_loan, p_path = ev_loan[~is_def], ev_path[~is_def]
        alive.ravel()[flat] = False
        alive_f.ravel()[d_flat] = 0.0
        weights = np.stack(
            [bal[:, t], bal[:, t + 1], spr[:, t], sched["net_rate"] * bal[:, t], sched["fee_rate"] * bal[:, t]]
        )
        acc[:, t, :] += (weights @ alive_f).T @ perf_map
        alive_f.ravel()[p_flat] = 0.0
        if p_flat.size:
            vp = np.bincount(p_path, weights=bal[p_loan, t + 1], minlength=n_paths)
            acc[:, t, _C["voluntary_prepayments"]] += vp
            acc[:, t, _C["principal_collections"]] += vp
            acc[:, t, _C["performing_balance"]] -= vp
            acc[:, t, _C["ending_balance"]] -= vp
        if d_flat.size:
            prof = _default_profile(d_loan, t, lag, advancing, severity, sched)
            width = (lag + 1) * _N_COLS
            idx = d_path[:, None] * width + np.arange(width)[None, :]
            summed = np.bincount(idx.ravel(), weights=prof.reshape(-1), minlength=n_paths * width)
            acc[:, t:t + lag + 1, :] += summed.reshape(n_paths, lag + 1, _N_COLS)
    if lag and np.any(acc[:, months:, :] != 0):
        raise AssertionError("defaults liquidated after the last projected month")  # pool_inputs prevents this
    block = acc[:, :months, :]
    block[:, :, _C["total_collections"]] = block[:, :, _C["principal_collections"]] + block[:, :, _C["interest_collections"]]
    out[first_path:first_path + n_paths] = block


def simulate(
    loans: pd.DataFrame,
    assumptions: Assumptions | None = None,
    *,
    paths: int,
    seed: int,
    default_vol: float = 0.0,
    prepay_vol: float = 0.0,
    factor_corr: float = 0.0,
    tranche_losses: TrancheLossFn | None = None,
    workers: int = 2,
    **overrides: Any,
) -> MonteCarloResult:
    """Loan-level Monte Carlo of a tape (same inputs and assumptions as
    :func:`chainabs.model.cashflows.project_loans`: ``assumptions`` and / or ``overrides`` by name).

    ``paths`` scenarios are simulated from ``seed`` (same seed, same result, whatever ``workers``). The base
    rates are the deterministic ones; ``default_vol``/``prepay_vol`` (lognormal sigma of the per-path
    multipliers, mean 1) and ``factor_corr`` (their correlation) add systematic risk.

    ``tranche_losses``, if given, is called once per path (in path order) with that path's pool cash flows
    as a DataFrame (:meth:`MonteCarloResult.path_frame`) and returns ``{tranche: loss}``; the answers are
    collected in ``result.tranche_losses`` (one row per path). This is where a waterfall plugs in.
    """
    a = Assumptions.of(assumptions, **overrides)
    if isinstance(paths, bool) or int(paths) != paths or paths < 1:
        raise AssumptionError(f"paths: {paths!r} must be a whole number >= 1")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise AssumptionError(f"seed: {seed!r} must be a whole number >= 0")
    for name, vol in (("default_vol", default_vol), ("prepay_vol", prepay_vol)):
        if not (math.isfinite(vol) and vol >= 0):
            raise AssumptionError(f"{name}: {vol!r} must be a number >= 0 (lognormal sigma)")
    if not (math.isfinite(factor_corr) and -1 <= factor_corr <= 1):
        raise AssumptionError(f"factor_corr: {factor_corr!r} must be between -1 and 1")
    if int(workers) < 1:
        raise AssumptionError(f"workers: {workers!r} must be at least 1")
    inp = pool_inputs(loans, a)
    lag = int(a.recovery_lag)
    months = int(inp["months"])
    frac = inp["fraction"]
    # Scheduled balance path of each loan while performing: B(0) = balance, B(t) = B(t-1) * (1 - f(t)).
    keep = np.concatenate([np.ones((frac.shape[0], 1)), np.cumprod(1.0 - frac, axis=1)], axis=1)
    balance = inp["balance"][:, None] * keep
    balance[:, 1:][np.abs(balance[:, 1:]) < 1e-9 * np.maximum(inp["balance"][:, None], 1.0)] = 0.0
    principal = balance[:, :-1] - balance[:, 1:]
    # Padding past the horizon so the default profiles can index t + lag safely (no defaults happen there).
    pad = lag + 1
    sched = {
        "balance": np.pad(balance, ((0, 0), (0, pad))),
        "principal": np.pad(principal, ((0, 0), (0, pad))),
        "fraction": np.pad(frac, ((0, 0), (0, pad)), constant_values=1.0),
        "net_rate": inp["net_rate"],
        "fee_rate": inp["fee_rate"],
        "mdr": inp["mdr"],
        "smm": inp["smm"],
    }
    root = np.random.SeedSequence(int(seed))
    factor_seq, block_root = root.spawn(2)
    mult_d, mult_p = _factor_multipliers(
        np.random.Generator(np.random.PCG64(factor_seq)), int(paths), float(default_vol), float(prepay_vol), float(factor_corr)
    )
    n_loans = inp["balance"].shape[0]
    block_paths = max(1, min(int(paths), BLOCK_ELEMENTS // n_loans))
    starts = list(range(0, int(paths), block_paths))
    seqs = block_root.spawn(len(starts))
    cube = np.zeros((int(paths), months, _N_COLS))
    jobs = [
        (seqs[b], s, min(block_paths, int(paths) - s), sched, mult_d, mult_p, lag, bool(a.advancing), float(a.severity), cube)
        for b, s in enumerate(starts)
    ]
    with _single_threaded_blas():
        if int(workers) == 1 or len(jobs) == 1:
            for job in jobs:
                _run_block(*job)
        else:
            with ThreadPoolExecutor(max_workers=int(workers)) as pool:
                for fut in [pool.submit(_run_block, *job) for job in jobs]:
                    fut.result()
    result = MonteCarloResult(
        cashflows=cube,
        original_balance=float(inp["balance"].sum()),
        seed=int(seed),
        default_multiplier=mult_d,
        prepay_multiplier=mult_p,
        meta={"loans": n_loans, "block_paths": block_paths, "recovery_lag": lag, "advancing": bool(a.advancing)},
    )
    if tranche_losses is not None:
        rows = [dict(tranche_losses(result.path_frame(p))) for p in range(result.paths)]
        result.tranche_losses = pd.DataFrame(rows, index=pd.RangeIndex(result.paths, name="path"))
    return result
