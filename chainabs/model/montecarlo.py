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

The month loop is in Python; paths x loans are numpy arrays processed in blocks of paths (memory stays
bounded), blocks run on a thread pool (numpy releases the GIL in the large operations). The uniform is drawn
in two steps (a random byte for every loan-path, the rest only where the byte leaves an event possible: see
:func:`_run_block`), so a month costs about one byte of randomness per loan-path. Every block has its own
random stream spawned from ``seed`` and covers fixed paths, so results do not depend on the number of workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from chainabs.model.assumptions import AssumptionError, Assumptions
from chainabs.model.cashflows import SUM_COLUMNS, _loan_arrays, pool_inputs

#: Column positions in the per-path cash-flow cube.
_C = {name: k for k, name in enumerate(SUM_COLUMNS)}
_N_COLS = len(SUM_COLUMNS)
#: Elements (loans x paths) per block: sets memory (about 12 bytes each) and the path block size.
BLOCK_ELEMENTS = 1_000_000
#: Loans per chunk: a chunk's schedule (about 100 bytes x loans x months) is what a task holds besides its block.
LOAN_CHUNK = 16_384
#: Loan-paths per task sent to an executor at most (blocks of one chunk: a task builds its chunk's schedule,
#: which costs about as much as 2 blocks, so a task runs up to 16 blocks).
TASK_ELEMENTS = 16_000_000

TrancheLossFn = Callable[[pd.DataFrame], Mapping[str, float]]
#: ``progress(stage, done, total)``: ``"simulate"`` counts loan-paths simulated (of loans x paths), ``"tranches"``
#: paths through the ``tranche_losses`` hook (of paths). Called from the caller's thread, ``done`` increasing.
ProgressFn = Callable[[str, int, int], None]
#: The progress stages, in order.
PROGRESS_STAGES = ("simulate", "tranches")


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


class _ProcessSetting:
    """A process-wide setting that simulations running side by side (threads of one process: the in-process
    path workers, a thread-pool executor, a multi-threaded Dask worker) hold together: the first to enter
    applies it, the last to leave restores it, so no run puts it back while another still needs it.

    ``apply`` makes the change and returns what undoes it (``None`` when there is nothing to change).
    """

    def __init__(self, apply: Callable[[], Callable[[], None] | None]) -> None:
        self._apply = apply
        self._lock = threading.Lock()
        self._holders = 0
        self._undo: Callable[[], None] | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._holders == 0:
                self._undo = self._apply()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if self._holders == 0 and self._undo is not None:
                    undo, self._undo = self._undo, None
                    undo()


def _blas_one_thread() -> Callable[[], None] | None:
    """Set numpy's OpenBLAS to one thread; returns what restores its previous count (None: not found)."""
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
        return None
    previous = int(getter())
    setter(1)
    return lambda: setter(previous)


_BLAS = _ProcessSetting(_blas_one_thread)


def _single_threaded_blas() -> contextlib.AbstractContextManager[None]:
    """Run OpenBLAS single-threaded during the simulation (restored when the process's last simulation ends).

    The per-month products are small; OpenBLAS's own threads only spin on them and against the path
    workers (measured 4-6x more CPU time on 2 cores); parallelism comes from the path workers instead. Best
    effort, like ``threadpoolctl``: if numpy's OpenBLAS cannot be found, nothing changes. Held by every
    simulation of the process together (:class:`_ProcessSetting`): a run that restored the thread count while
    another still ran would change that run's sums in the last bits.
    """
    return _BLAS.held()


#: glibc's ``mallopt`` parameter number for the mmap threshold (``malloc.h``) and its default fixed value.
_M_MMAP_THRESHOLD, _DEFAULT_MMAP_THRESHOLD = -3, 128 * 1024
#: Environment variables that make glibc's thresholds fixed (no longer adjusted to the program's allocations).
_FIXED_MALLOC_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
#: Allocations up to this size come from the heap during a simulation (the block's per-month arrays).
_HEAP_UP_TO = 32 * 1024 * 1024


def _raise_mmap_threshold() -> Callable[[], None] | None:
    """Where glibc's thresholds are fixed, raise the mmap threshold to ``_HEAP_UP_TO``; returns what puts it
    back and trims the heap (None: nothing changed)."""
    if not any(name in os.environ for name in _FIXED_MALLOC_ENV):
        return None
    try:
        libc = ctypes.CDLL(None)
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    try:
        restore = int(os.environ.get("MALLOC_MMAP_THRESHOLD_", _DEFAULT_MMAP_THRESHOLD))
    except ValueError:
        restore = _DEFAULT_MMAP_THRESHOLD
    if mallopt(_M_MMAP_THRESHOLD, _HEAP_UP_TO) != 1:
        return None

    def undo() -> None:
        mallopt(_M_MMAP_THRESHOLD, restore)
        trim(0)

    return undo


_HEAP = _ProcessSetting(_raise_mmap_threshold)


def _heap_for_block_arrays() -> contextlib.AbstractContextManager[None]:
    """Serve the simulation's per-month arrays from the heap where glibc's thresholds are fixed.

    Dask's worker processes start with ``MALLOC_TRIM_THRESHOLD_`` set, which fixes glibc's mmap threshold at
    128 KiB: every month's arrays above it (a block's random bytes, its candidates) were then mapped fresh
    and page-faulted in again, a third of a worker's time (measured: 3.2 s instead of 2.2 s for the same
    run). While simulations run, allocations up to 32 MiB come from the heap; when the process's last one
    ends the threshold is put back and the heap trimmed, so the worker's memory returns to the system as its
    settings intend. Where the thresholds are glibc's adaptive defaults (no such variable), nothing is
    changed: they already adapt. Best effort, like :func:`_single_threaded_blas`: without glibc nothing
    changes.
    """
    return _HEAP.held()


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


def _default_features(
    loans: np.ndarray, t: int, lag: int, advancing: bool, severity: float, sched: dict[str, np.ndarray]
) -> np.ndarray:
    """Per-event features of loans defaulting in month index ``t`` (0-based), shape ``(events, features)``.

    Every column a default contributes to months ``t .. t + lag`` is a fixed linear combination of these
    features (:func:`_default_map`), so events are summed per path on the few features, not on the
    ``(lag + 1) x columns`` profile. Features: ``b0`` (balance at default), ``loss``, then per month ``k`` of
    the profile the balance ``S_k`` it starts with, ``r S_k`` and ``fee S_k``, then per month ``k < lag`` the
    amortization ``A_k`` and ending balance ``E_k`` (the standard formulas applied to each defaulted loan).
    The schedule's arrays are month-major, so each gather reads one month's row.
    """
    bal, spr, frac = sched["balance"], sched["principal"], sched["fraction"]
    r, fee = sched["net_rate"][loans], sched["fee_rate"][loans]
    b0 = bal[t, loans]  # balance at the start of the default month
    out = np.empty((loans.size, _n_default_features(lag)))
    out[:, 0] = b0
    for k in range(lag + 1):
        start = bal[t + k, loans] if advancing else b0
        out[:, 2 + 3 * k] = start
        np.multiply(r, start, out=out[:, 3 + 3 * k])
        np.multiply(fee, start, out=out[:, 4 + 3 * k])
        if k < lag:
            j = 2 + 3 * (lag + 1) + 2 * k
            if advancing:
                out[:, j] = spr[t + k, loans]
                out[:, j + 1] = bal[t + k + 1, loans]
            else:
                np.multiply(b0, frac[t + k, loans], out=out[:, j])
                out[:, j + 1] = b0
        else:
            np.minimum(severity * b0, start, out=out[:, 1])  # loss, capped by what is liquidated
    return out


def _n_default_features(lag: int) -> int:
    return 2 + 3 * (lag + 1) + 2 * lag


def _default_map(lag: int, advancing: bool) -> np.ndarray:
    """Linear map from the summed default features (:func:`_default_features`) to the columns of months
    ``t .. t + lag``: shape ``(features, (lag + 1) * columns)``."""
    m = np.zeros((_n_default_features(lag), lag + 1, _N_COLS))
    m[0, 0, _C["new_defaults"]] = 1
    for k in range(lag + 1):
        s, rs, fs = 2 + 3 * k, 3 + 3 * k, 4 + 3 * k
        m[s, k, _C["beginning_balance"]] = 1
        m[rs, k, [_C["expected_interest"], _C["interest_lost"]]] = 1
        if advancing:
            m[fs, k, _C["servicing_fee"]] = 1
            m[rs, k, _C["interest_collections"]] = 1
        if k < lag:
            j = 2 + 3 * (lag + 1) + 2 * k
            cols = [_C["expected_amortization"]]
            if advancing:
                cols += [_C["amortization_from_defaults"], _C["principal_collections"]]
            m[j, k, cols] = 1
            m[j + 1, k, [_C["foreclosure_balance"], _C["ending_balance"]]] = 1
        else:
            # liquidated = S_lag; recovery = S_lag - loss (collected as principal)
            m[s, k, [_C["liquidated_balance"], _C["principal_recovery"], _C["principal_collections"]]] = 1
            m[1, k, _C["principal_loss"]] = 1
            m[1, k, [_C["principal_recovery"], _C["principal_collections"]]] = -1
    return m.reshape(m.shape[0], -1)


def _perf_map() -> np.ndarray:
    """Linear map from the performing weights (B(t-1), B(t), sched principal, net interest, fee) to columns."""
    m = np.zeros((5, _N_COLS))
    m[0, _C["beginning_balance"]] = 1
    m[1, [_C["performing_balance"], _C["ending_balance"]]] = 1
    m[2, [_C["expected_amortization"], _C["actual_amortization"], _C["principal_collections"]]] = 1
    m[3, [_C["expected_interest"], _C["actual_interest"], _C["interest_collections"]]] = 1
    m[4, _C["servicing_fee"]] = 1
    return m


def _prepay_map() -> np.ndarray:
    """The columns a prepaid balance moves: collected as a voluntary prepayment, no longer performing."""
    m = np.zeros(_N_COLS)
    m[[_C["voluntary_prepayments"], _C["principal_collections"]]] = 1
    m[[_C["performing_balance"], _C["ending_balance"]]] = -1
    return m


#: Random bits per loan-path and month in the first, coarse draw (one byte: 256 cells of the unit interval).
_CELLS = 256


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
) -> np.ndarray:
    """Paths ``first_path .. first_path + n_paths - 1`` of the loans in ``sched``: ``(n_paths, months, columns)``.

    A performing loan's uniform ``u`` of the month is drawn in two steps: a random byte ``c`` for every
    loan-path (``u`` lies in the cell ``[c, c + 1) / 256``), then, only where that cell can hold an event,
    ``v`` uniform in ``[0, 1)`` and ``u = (c + v) / 256``. A cell can hold an event if it starts below the
    path's bound on ``MDR + SMM`` over the chunk's loans; above it no ``v`` gives one. ``(c + v) / 256`` is
    uniform, so the events are exactly those of one uniform per loan-path (``u < MDR`` defaults,
    ``MDR <= u < MDR + SMM`` prepays), while only about one loan-path in fifty draws more than its byte.
    """
    rng = np.random.Generator(np.random.PCG64(seed_seq))
    months, n_loans = sched["mdr"].shape
    md = np.ascontiguousarray(mult_d[first_path:first_path + n_paths], dtype=np.float64)
    mp = np.ascontiguousarray(mult_p[first_path:first_path + n_paths], dtype=np.float64)
    mdr, smm = sched["mdr"], sched["smm"]
    # Per month and path, the bound on the event probability over the loans (monotone rounding keeps every
    # loan's MDR * md + SMM * mp at or under it), as the last cell that may hold an event.
    bound = np.minimum(1.0, np.multiply.outer(sched["mdr_max"], md) + np.multiply.outer(sched["smm_max"], mp))
    last_cell = (np.ceil(bound * _CELLS) - 1).clip(0, _CELLS - 1).astype(np.uint8)  # (months, paths)
    n_el = n_paths * n_loans
    words = -(-n_el // 8)
    alive = np.ones((n_paths, n_loans), dtype=bool)
    alive[:, sched["balance"][0] <= 0] = False
    alive_f = alive.astype(np.float64)
    alive_flat, alive_f_flat = alive.ravel(), alive_f.ravel()
    acc = np.zeros((n_paths, months + lag, _N_COLS))
    perf_map = _perf_map()
    prepay_map = _prepay_map()
    default_map = _default_map(lag, advancing)
    candidate = np.empty((n_paths, n_loans), dtype=bool)
    bal, weights = sched["balance"], sched["weights"]
    for t in range(months):
        cells = rng.bit_generator.random_raw(words).view(np.uint8)[:n_el]
        np.less_equal(cells.reshape(n_paths, n_loans), last_cell[t][:, None], out=candidate)
        np.logical_and(candidate, alive, out=candidate)
        flat = np.flatnonzero(candidate)  # ordered by path, then loan
        path, loan = np.divmod(flat, n_loans)
        u = (cells[flat] + rng.random(flat.size)) * (1.0 / _CELLS)
        threshold = mdr[t, loan] * md[path]
        defaulted = u < threshold
        threshold += smm[t, loan] * mp[path]
        event = u < threshold
        prepaid = event & ~defaulted
        alive_flat[flat[event]] = False
        alive_f_flat[flat[defaulted]] = 0.0
        month = acc[:, t, :]
        # np.dot, not the @ operator: numpy's matmul does not let another thread run during the BLAS call
        # (measured: two threads each doing one product took 2.8x one product's time with @, 1.0x with np.dot).
        month += np.dot(np.dot(alive_f, weights[t]), perf_map)
        if prepaid.any():
            alive_f_flat[flat[prepaid]] = 0.0
            vp = np.bincount(path[prepaid], weights=bal[t + 1, loan[prepaid]], minlength=n_paths)
            month += np.multiply.outer(vp, prepay_map)
        if defaulted.any():
            d_path = path[defaulted]  # already in path order
            feats = _default_features(loan[defaulted], t, lag, advancing, severity, sched)
            starts = np.flatnonzero(np.concatenate(([True], d_path[1:] != d_path[:-1])))
            summed = np.dot(np.add.reduceat(feats, starts, axis=0), default_map)
            acc[d_path[starts], t:t + lag + 1, :] += summed.reshape(starts.size, lag + 1, _N_COLS)
    if lag and np.any(acc[:, months:, :] != 0):
        raise AssertionError("defaults liquidated after the last projected month")  # pool_inputs prevents this
    block = acc[:, :months, :]
    block[:, :, _C["total_collections"]] = block[:, :, _C["principal_collections"]] + block[:, :, _C["interest_collections"]]
    return block


def _schedule(loans: pd.DataFrame, a: Assumptions, months: int) -> dict[str, np.ndarray]:
    """Per-loan schedule arrays of a chunk of the tape over ``months`` projected months (plus padding),
    month-major (``[month, loan]``) so that a month's values are one contiguous row."""
    inp = pool_inputs(loans, a, months=months)
    pad = int(a.recovery_lag) + 1  # past the horizon, so the default profiles can index t + lag safely
    n_loans = inp["balance"].shape[0]
    # Scheduled balance path of each loan while performing: B(0) = balance, B(t) = B(t-1) * (1 - f(t)).
    fraction = np.ones((months + pad, n_loans))
    fraction[:months] = inp["fraction"].T
    balance = np.zeros((months + 1 + pad, n_loans))
    balance[0] = 1.0
    np.cumprod(1.0 - fraction[:months], axis=0, out=balance[1:months + 1])
    balance[:months + 1] *= inp["balance"]
    tiny = np.abs(balance[1:months + 1]) < 1e-9 * np.maximum(inp["balance"], 1.0)
    balance[1:months + 1][tiny] = 0.0
    principal = np.zeros((months + pad, n_loans))
    np.subtract(balance[:months], balance[1:months + 1], out=principal[:months])
    # What a loan still performing in month t adds to the performing columns (:func:`_perf_map`'s rows).
    weights = np.empty((months, n_loans, 5))
    weights[..., 0] = balance[:months]
    weights[..., 1] = balance[1:months + 1]
    weights[..., 2] = principal[:months]
    np.multiply(balance[:months], inp["net_rate"], out=weights[..., 3])
    np.multiply(balance[:months], inp["fee_rate"], out=weights[..., 4])
    mdr, smm = np.ascontiguousarray(inp["mdr"].T), np.ascontiguousarray(inp["smm"].T)
    return {
        "balance": balance,
        "principal": principal,
        "fraction": fraction,
        "weights": weights,
        "net_rate": inp["net_rate"],
        "fee_rate": inp["fee_rate"],
        "mdr": mdr,
        "smm": smm,
        # The chunk's highest rate of each month: every block's bound on its loans' event probability.
        "mdr_max": mdr.max(axis=1),
        "smm_max": smm.max(axis=1),
    }


@dataclass(frozen=True)
class _Plan:
    """How a run is cut: loan chunks x path blocks, each block with its own random stream.

    The cut depends only on the tape's size, ``paths`` and the module constants, never on the number of
    workers or on where a block runs, so the same seed gives the same result on threads or on a cluster.
    """

    seed: int
    months: int
    lag: int
    advancing: bool
    severity: float
    chunks: tuple[tuple[int, int], ...]  # (first loan, loans)
    blocks: tuple[tuple[int, int], ...]  # (first path, paths)

    @property
    def loan_paths(self) -> int:
        """Loan-paths in the run (loans x paths)."""
        return sum(n for _, n in self.chunks) * sum(n for _, n in self.blocks)

    def stream(self, chunk: int, block: int) -> np.random.SeedSequence:
        """The random stream of one (loan chunk, path block): seeded by their indices."""
        return np.random.SeedSequence(self.seed, spawn_key=(1, chunk, block))


def _run_chunk(plan: _Plan, chunk: int, loans: pd.DataFrame, a: Assumptions, blocks: tuple[int, ...],
               mult_d: np.ndarray, mult_p: np.ndarray) -> np.ndarray:
    """One task of a distributed run: the schedule of loan chunk ``chunk`` (its rows of the tape, ``loans``),
    then the consecutive path ``blocks``; returns their cash flows stacked in path order.

    ``mult_d``/``mult_p`` are the factor multipliers of those paths only (first path of the first block
    at index 0). Module-level so that it pickles by reference for a ``concurrent.futures`` executor such as
    a Dask client's (:meth:`distributed.Client.get_executor`).
    """
    base = plan.blocks[blocks[0]][0]
    out = []
    with _single_threaded_blas(), _heap_for_block_arrays():
        sched = _schedule(loans, a, plan.months)
        for b in blocks:
            first, n = plan.blocks[b]
            out.append(_run_block(plan.stream(chunk, b), first - base, n, sched, mult_d, mult_p, plan.lag,
                                  plan.advancing, plan.severity))
    return np.concatenate(out, axis=0)


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
    executor: Executor | None = None,
    progress: ProgressFn | None = None,
    **overrides: Any,
) -> MonteCarloResult:
    """Loan-level Monte Carlo of a tape (same inputs and assumptions as
    :func:`chainabs.model.cashflows.project_loans`: ``assumptions`` and / or ``overrides`` by name).

    ``paths`` scenarios are simulated from ``seed`` (same seed, same result, whatever ``workers``). The base
    rates are the deterministic ones; ``default_vol``/``prepay_vol`` (lognormal sigma of the per-path
    multipliers, mean 1) and ``factor_corr`` (their correlation) add systematic risk.

    The tape is cut in chunks of ``LOAN_CHUNK`` loans and the paths in blocks of about ``BLOCK_ELEMENTS``
    loan-paths; each (chunk, block) has its own random stream, seeded by their indices. Without
    ``executor`` the blocks run on ``workers`` threads of this process. With an ``executor`` (any
    ``concurrent.futures.Executor``; for a Dask cluster ``distributed.Client(address).get_executor()``)
    each task is one loan chunk and a few path blocks, computed where the executor runs it; the chunks'
    cash flows are added in chunk order, so the result is identical to the in-process run.

    ``tranche_losses``, if given, is called once per path (in path order) with that path's pool cash flows
    as a DataFrame (:meth:`MonteCarloResult.path_frame`) and returns ``{tranche: loss}``; the answers are
    collected in ``result.tranche_losses`` (one row per path). This is where a waterfall plugs in.

    ``progress(stage, done, total)``, if given, is told as the run advances (:data:`ProgressFn`): after each path
    block (or executor task) is added, and after each path's ``tranche_losses``.
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
    paths = int(paths)
    arrs = _loan_arrays(loans)  # validates the whole tape (row numbers name the tape's rows)
    n_loans = int(arrs["balance"].shape[0])
    months = int((arrs["term"] - arrs["age"]).max())
    chunk_loans = min(n_loans, LOAN_CHUNK)
    block_paths = max(1, min(paths, BLOCK_ELEMENTS // chunk_loans))
    plan = _Plan(
        seed=int(seed), months=months, lag=int(a.recovery_lag), advancing=bool(a.advancing), severity=float(a.severity),
        chunks=tuple((s, min(chunk_loans, n_loans - s)) for s in range(0, n_loans, chunk_loans)),
        blocks=tuple((s, min(block_paths, paths - s)) for s in range(0, paths, block_paths)),
    )
    factor_seq = np.random.SeedSequence(int(seed)).spawn(1)[0]
    mult_d, mult_p = _factor_multipliers(
        np.random.Generator(np.random.PCG64(factor_seq)), paths, float(default_vol), float(prepay_vol), float(factor_corr)
    )
    cube = np.zeros((paths, months, _N_COLS))
    tell = progress or (lambda stage, done, total: None)
    if executor is None:
        _run_local(plan, loans, a, mult_d, mult_p, int(workers), cube, tell)
    else:
        _run_on(executor, plan, loans, a, mult_d, mult_p, cube, tell)
    result = MonteCarloResult(
        cashflows=cube,
        original_balance=float(arrs["balance"].sum()),
        seed=int(seed),
        default_multiplier=mult_d,
        prepay_multiplier=mult_p,
        meta={"loans": n_loans, "block_paths": block_paths, "loan_chunks": len(plan.chunks),
              "recovery_lag": plan.lag, "advancing": plan.advancing},
    )
    if tranche_losses is not None:
        rows = []
        for p in range(result.paths):
            rows.append(dict(tranche_losses(result.path_frame(p))))
            tell("tranches", p + 1, result.paths)
        result.tranche_losses = pd.DataFrame(rows, index=pd.RangeIndex(result.paths, name="path"))
    return result


def _run_local(plan: _Plan, loans: pd.DataFrame, a: Assumptions, mult_d: np.ndarray, mult_p: np.ndarray,
               workers: int, cube: np.ndarray, tell: ProgressFn) -> None:
    """Every block on ``workers`` threads, chunk after chunk (one chunk's schedule in memory at a time)."""
    done, total = 0, plan.loan_paths
    with _single_threaded_blas(), _heap_for_block_arrays(), contextlib.ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers)) if workers > 1 and (
            len(plan.blocks) > 1) else None
        for c, (first_loan, n) in enumerate(plan.chunks):
            sched = _schedule(loans.iloc[first_loan:first_loan + n], a, plan.months)
            jobs = [(plan.stream(c, b), first, size, sched, mult_d, mult_p, plan.lag, plan.advancing, plan.severity)
                    for b, (first, size) in enumerate(plan.blocks)]
            if pool is None:
                results: Iterator[np.ndarray] = (_run_block(*job) for job in jobs)
            else:
                results = (fut.result() for fut in [pool.submit(_run_block, *job) for job in jobs])
            for (first, size), block in zip(plan.blocks, results):
                cube[first:first + size] += block
                done += n * size
                tell("simulate", done, total)


def _run_on(executor: Executor, plan: _Plan, loans: pd.DataFrame, a: Assumptions, mult_d: np.ndarray,
            mult_p: np.ndarray, cube: np.ndarray, tell: ProgressFn) -> None:
    """Tasks of one chunk x about ``TASK_ELEMENTS`` loan-paths on ``executor``; results added in chunk order."""
    _schedule(loans.iloc[:plan.chunks[0][1]], a, plan.months)  # bad assumptions fail here, before any task
    per_task = max(1, TASK_ELEMENTS // max(1, plan.chunks[0][1] * plan.blocks[0][1]))
    # The blocks of a chunk in as few tasks as TASK_ELEMENTS allows, of even size (17 blocks: 9 + 8, not 16 + 1).
    n_groups = -(-len(plan.blocks) // per_task)
    groups = [tuple(int(b) for b in g) for g in np.array_split(np.arange(len(plan.blocks)), n_groups)]
    futures = []
    for c, (first_loan, n) in enumerate(plan.chunks):
        chunk = loans.iloc[first_loan:first_loan + n]
        for group in groups:
            lo = plan.blocks[group[0]][0]
            hi = plan.blocks[group[-1]][0] + plan.blocks[group[-1]][1]
            futures.append((n, lo, hi, executor.submit(_run_chunk, plan, c, chunk, a, group, mult_d[lo:hi],
                                                       mult_p[lo:hi])))
    done = 0
    for n, lo, hi, fut in futures:  # submission order = chunk order for every path
        cube[lo:hi] += fut.result()
        done += n * (hi - lo)
        tell("simulate", done, plan.loan_paths)
