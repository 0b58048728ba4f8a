"""Pool cash-flow projection with the BMA/SIFMA Uniform Practices standard formulas (chapter SF).

Prepayment is given as SMM, CPR or PSA; default as MDR, CDR or SDA. Defaults hit the prior month's
performing balance, defaulted loans sit in foreclosure for ``recovery_lag`` months (the standard's "months to
liquidation") and are then liquidated at ``severity`` loss; principal and interest are advanced or not.

Two entry points share one engine:

* :func:`project_pool` - a representative line (balance, WAC, original term, age);
* :func:`project_loans` - a loan tape (one row per loan), summed to the same columns, with optional
  per-loan detail.

Amounts are floats in currency units; :func:`to_collections` turns a projection into integer base-unit
collections per period for the waterfall, rounding down with the remainder carried forward so that totals
reconcile exactly. The formulas and columns are documented in ``docs/cashflows.md``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from chainabs.model.assumptions import MEASURES, AssumptionError, Assumptions, RateInput

#: Columns of every projection, in order. The first thirteen are the standard's (SF-18) quantities.
COLUMNS: tuple[str, ...] = (
    "month",
    "performing_balance",
    "new_defaults",
    "foreclosure_balance",
    "expected_amortization",
    "voluntary_prepayments",
    "amortization_from_defaults",
    "actual_amortization",
    "expected_interest",
    "interest_lost",
    "actual_interest",
    "principal_recovery",
    "principal_loss",
    "liquidated_balance",
    "beginning_balance",
    "ending_balance",
    "servicing_fee",
    "principal_collections",
    "interest_collections",
    "total_collections",
    "smm",
    "mdr",
)

#: Flow and balance columns that add up over loans (everything but ``month`` and the rates).
SUM_COLUMNS: tuple[str, ...] = COLUMNS[1:-2]

AMORTIZATION_TYPES = ("level", "bullet")

# --------------------------------------------------------------------------------------------------------------
# Rate conversions and standard curves
# --------------------------------------------------------------------------------------------------------------


def annual_to_monthly(rate: float | np.ndarray) -> float | np.ndarray:
    """CPR -> SMM or CDR -> MDR: ``1 - (1 - annual) ** (1/12)``."""
    return 1.0 - np.power(1.0 - np.asarray(rate, dtype=float), 1.0 / 12.0)


def monthly_to_annual(rate: float | np.ndarray) -> float | np.ndarray:
    """SMM -> CPR or MDR -> CDR: ``1 - (1 - monthly) ** 12``."""
    return 1.0 - np.power(1.0 - np.asarray(rate, dtype=float), 12.0)


def psa_cpr(age: int | np.ndarray, speed: float | np.ndarray = 100.0) -> np.ndarray:
    """CPR of the PSA benchmark at loan ``age`` (months): 100 PSA is 0.2 % x age, capped at 6 % from month 30.

    ``speed`` is a percentage of the benchmark (150 = 150 % PSA). Age 0 (not yet seasoned) gives 0.
    """
    age_arr = np.asarray(age, dtype=float)
    return 0.06 * np.clip(age_arr, 0.0, 30.0) / 30.0 * np.asarray(speed, dtype=float) / 100.0


def sda_cdr(age: int | np.ndarray, speed: float | np.ndarray = 100.0) -> np.ndarray:
    """CDR of the Standard Default Assumption at loan ``age`` (months), as a decimal.

    100 SDA: 0.02 % x age up to 0.60 % at month 30, flat to month 60, then down 0.0095 % a month to 0.03 %
    at month 120, flat after. ``speed`` is a percentage of the curve (200 = 200 % SDA). Age 0 gives 0.
    """
    a = np.asarray(age, dtype=float)
    base = np.where(
        a <= 0,
        0.0,
        np.where(
            a <= 30,
            0.0002 * a,
            np.where(a <= 60, 0.006, np.where(a <= 120, 0.006 - 0.000095 * (a - 60), 0.0003)),
        ),
    )
    return base * np.asarray(speed, dtype=float) / 100.0


def _as_month_vector(name: str, value: RateInput, months: int) -> np.ndarray:
    """A scalar or per-month vector as a float array of length ``months`` (checked)."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(months, float(arr))
    elif arr.ndim != 1:
        raise AssumptionError(f"{name}: give a number or a one-dimensional per-month vector")
    elif arr.shape[0] != months:
        raise AssumptionError(
            f"{name}: vector has {arr.shape[0]} values but the projection has {months} months "
            "(give one value per projected month)"
        )
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise AssumptionError(f"{name}: value at month {bad[0] + 1} is not a finite number")
    return arr


def _check_decimal_rates(name: str, rates: np.ndarray) -> None:
    """Monthly or annual rates (one per month) must be decimals in [0, 1]; name the first offending month."""
    neg = np.flatnonzero(rates < 0)
    if neg.size:
        raise AssumptionError(f"{name}: rate {rates[neg[0]]:g} at month {neg[0] + 1} is negative")
    over = np.flatnonzero(rates > 1)
    if over.size:
        raise AssumptionError(
            f"{name}: rate {rates[over[0]]:g} at month {over[0] + 1} is over 100 % "
            "(rates are decimals: 0.01 = 1 %)"
        )


def monthly_rates(measure: str, value: RateInput, months: int, ages: int | np.ndarray = 0) -> np.ndarray:
    """Monthly rates (SMM or MDR) for each loan and projected month, shape ``(loans, months)``.

    ``measure`` is one of ``smm, cpr, psa, mdr, cdr, sda``. Rates (SMM/CPR/MDR/CDR) are decimals, constant
    or one per projected month; PSA/SDA are percentages of the standard curve (constant or one per month)
    evaluated at each loan's age: projected month ``i`` (1-based) of a loan aged ``a`` has age ``a + i``.
    """
    key = str(measure).lower()
    if key not in MEASURES:
        raise AssumptionError(f"unknown curve {measure!r}; expected one of {', '.join(MEASURES)}")
    ages_arr = np.atleast_1d(np.asarray(ages, dtype=float))
    vec = _as_month_vector(key, value, months)
    loan_age = ages_arr[:, None] + np.arange(1, months + 1)[None, :]
    if key in ("psa", "sda"):
        neg = np.flatnonzero(vec < 0)
        if neg.size:
            raise AssumptionError(f"{key}: speed {vec[neg[0]]:g} at month {neg[0] + 1} is negative")
        annual = psa_cpr(loan_age, vec[None, :]) if key == "psa" else sda_cdr(loan_age, vec[None, :])
        label = "CPR" if key == "psa" else "CDR"
        over = np.argwhere(annual > 1)
        if over.size:
            loan, m = over[0]
            raise AssumptionError(
                f"{key}: {vec[m]:g} % of the curve gives {label} {annual[loan, m]:.4g} (over 100 %) at month {m + 1}"
            )
        return np.asarray(annual_to_monthly(annual))
    _check_decimal_rates(key, vec)
    rates = vec if key in ("smm", "mdr") else np.asarray(annual_to_monthly(vec))
    return np.broadcast_to(rates, (ages_arr.shape[0], months)).copy()


def _rates(kind: str, assumptions: Assumptions, months: int, ages: np.ndarray) -> np.ndarray:
    """Monthly rates of the ``prepayment`` or ``default`` measure the assumptions give (zero without one)."""
    given = assumptions.measure(kind)
    if given is None:
        return np.zeros((ages.shape[0], months))
    return monthly_rates(given[0], given[1], months, ages)


# --------------------------------------------------------------------------------------------------------------
# Scheduled amortization
# --------------------------------------------------------------------------------------------------------------


def level_payment(balance: float, annual_rate: float, months: int) -> float:
    """Level monthly payment of a fully amortizing loan: ``B c / (1 - (1 + c) ** -n)``, ``c = rate / 12``."""
    if months < 1:
        raise AssumptionError(f"term: {months} months; a loan needs at least one payment")
    c = annual_rate / 12.0
    if c == 0:
        return balance / months
    return balance * c / -math.expm1(-months * math.log1p(c))


def amortization_schedule(balance: float, annual_rate: float, months: int) -> pd.DataFrame:
    """Level-payment amortization table: ``month, payment, interest, principal, balance``."""
    pmt = level_payment(balance, annual_rate, months)
    rows = []
    bal = float(balance)
    for m in range(1, months + 1):
        interest = bal * annual_rate / 12.0
        principal = bal if m == months else pmt - interest
        bal -= principal
        rows.append((m, interest + principal, interest, principal, max(bal, 0.0)))
    return pd.DataFrame(rows, columns=["month", "payment", "interest", "principal", "balance"])


def scheduled_fractions(
    wac: np.ndarray, term: np.ndarray, age: np.ndarray, months: int, amortization: np.ndarray | None = None
) -> np.ndarray:
    """Fraction of the start-of-month balance scheduled to amortize in each projected month, ``(loans, months)``.

    This is the standard's ``1 - SCH AM(i) / SCH AM(i-1)``. Level-payment loans with ``N`` payments left
    amortize ``c / ((1 + c) ** N - 1)`` (``1 / N`` at zero rate); bullet receivables amortize nothing until
    their last month, then everything. Months past a loan's maturity give 1 (nothing is left anyway).
    """
    remaining = (term - age)[:, None] - np.arange(months)[None, :]  # payments left at start of month i
    c = (wac / 12.0)[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        level = np.where(
            c > 0,
            c / np.expm1(np.maximum(remaining, 1) * np.log1p(c)),
            1.0 / np.maximum(remaining, 1),
        )
    frac = level
    if amortization is not None:
        frac = np.where((amortization == "bullet")[:, None], np.where(remaining <= 1, 1.0, 0.0), level)
    return np.where(remaining <= 1, 1.0, frac)


# --------------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------------


def _loan_arrays(loans: pd.DataFrame) -> dict[str, np.ndarray]:
    """Validated arrays from a loan tape with columns ``balance, wac, term`` and optional ``age, amortization``."""
    if not isinstance(loans, pd.DataFrame):
        raise AssumptionError("loans: expected a pandas DataFrame with columns balance, wac, term[, age, amortization]")
    missing = [c for c in ("balance", "wac", "term") if c not in loans.columns]
    if missing:
        raise AssumptionError(f"loans: missing column(s) {', '.join(missing)}")
    if len(loans) == 0:
        raise AssumptionError("loans: the tape has no rows")
    out: dict[str, np.ndarray] = {}
    for col in ("balance", "wac", "term", "age"):
        raw = loans[col] if col in loans.columns else pd.Series(0, index=loans.index)
        arr = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise AssumptionError(f"loans row {bad[0]}: {col} {raw.iloc[bad[0]]!r} is not a number")
        out[col] = arr
    for col in ("term", "age"):
        frac = np.flatnonzero(out[col] != np.round(out[col]))
        if frac.size:
            raise AssumptionError(f"loans row {frac[0]}: {col} {out[col][frac[0]]:g} is not a whole number of months")
    rules = [
        ("balance", out["balance"] < 0, "is negative"),
        ("wac", out["wac"] < 0, "is negative (rates are decimals: 0.08 = 8 %)"),
        ("wac", out["wac"] > 1, "is over 100 % (rates are decimals: 0.08 = 8 %)"),
        ("term", out["term"] < 1, "must be at least 1 month"),
        ("age", out["age"] < 0, "is negative"),
        ("age", out["age"] >= out["term"], "must be below the term (no payments left)"),
    ]
    for col, mask, rule in rules:
        bad = np.flatnonzero(mask)
        if bad.size:
            raise AssumptionError(f"loans row {bad[0]}: {col} {out[col][bad[0]]:g} {rule}")
    out["term"] = out["term"].astype(np.int64)
    out["age"] = out["age"].astype(np.int64)
    kinds = loans["amortization"].astype(str).str.lower().to_numpy() if "amortization" in loans.columns else None
    if kinds is not None:
        bad = np.flatnonzero(~np.isin(kinds, AMORTIZATION_TYPES))
        if bad.size:
            raise AssumptionError(
                f"loans row {bad[0]}: amortization {kinds[bad[0]]!r} is not one of {', '.join(AMORTIZATION_TYPES)}"
            )
    out["amortization"] = kinds if kinds is not None else np.full(len(loans), "level")
    return out


def _check_fee(servicing_fee: float, wac: np.ndarray) -> None:
    over = np.flatnonzero(servicing_fee > wac + 1e-15)
    if over.size:
        raise AssumptionError(
            f"servicing_fee: {servicing_fee:g} exceeds the coupon {wac[over[0]]:g} (loan {over[0]}); "
            "interest is paid at the net rate wac - servicing_fee"
        )


def pool_inputs(loans: pd.DataFrame, assumptions: Assumptions, months: int | None = None) -> dict[str, np.ndarray]:
    """Everything the engines need, per loan and projected month (shared by projection and Monte Carlo).

    Returns ``balance, net_rate, fee_rate`` (monthly, per loan), ``fraction`` (scheduled amortization
    fraction), ``smm`` and ``mdr`` (``(loans, months)``), ``remaining`` (months left per loan) and ``months``.
    The default rate is zero in each loan's last ``recovery_lag`` months (SF-17 i), so that every default is
    liquidated by maturity; both rates are zero after maturity.
    """
    arrs = _loan_arrays(loans)
    servicing_fee = float(assumptions.servicing_fee)
    recovery_lag = int(assumptions.recovery_lag)
    _check_fee(servicing_fee, arrs["wac"])
    remaining = arrs["term"] - arrs["age"]
    horizon = int(remaining.max()) if months is None else int(months)
    if horizon < 1:
        raise AssumptionError(f"months: {months} must be at least 1")
    prepay = _rates("prepayment", assumptions, horizon, arrs["age"])
    default = _rates("default", assumptions, horizon, arrs["age"])
    month_idx = np.arange(1, horizon + 1)[None, :]
    live = month_idx <= remaining[:, None]
    prepay = np.where(live, prepay, 0.0)
    default = np.where(month_idx <= (remaining - int(recovery_lag))[:, None], default, 0.0)
    return {
        "balance": arrs["balance"],
        "net_rate": (arrs["wac"] - servicing_fee) / 12.0,
        "fee_rate": np.full(arrs["wac"].shape, servicing_fee / 12.0),
        "fraction": scheduled_fractions(arrs["wac"], arrs["term"], arrs["age"], horizon, arrs["amortization"]),
        "smm": prepay,
        "mdr": default,
        "remaining": remaining,
        "months": np.int64(horizon),
    }


# --------------------------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------------------------


def _engine(
    inp: dict[str, np.ndarray], severity: float, recovery_lag: int, advancing: bool, detail: bool
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Run the SF-18 recursions month by month, vectorized over loans."""
    months = int(inp["months"])
    lag = int(recovery_lag)
    perf = inp["balance"].astype(float).copy()
    n_loans = perf.shape[0]
    r, fee = inp["net_rate"], inp["fee_rate"]
    # Foreclosure cohorts by months since default: current (amortized if advanced) balance and original
    # defaulted amount (the base of the loss severity). Slot k holds defaults of month i - 1 - k.
    cohort_bal = np.zeros((max(lag, 1), n_loans))
    cohort_def = np.zeros((max(lag, 1), n_loans))
    fcl = np.zeros(n_loans)
    names = SUM_COLUMNS
    sums = np.zeros((months, len(names)))
    per_loan = np.zeros((months, len(names), n_loans)) if detail else None
    sched_perf = np.zeros(months)
    for i in range(months):
        a = inp["fraction"][:, i]
        smm = inp["smm"][:, i]
        mdr = inp["mdr"][:, i]
        new_def = perf * mdr
        if lag == 0:
            liquidated, defaulted_base = new_def, new_def
        else:
            liquidated, defaulted_base = cohort_bal[lag - 1].copy(), cohort_def[lag - 1].copy()
        exp_am = (perf + fcl - liquidated) * a
        am_def = (new_def + fcl - liquidated) * a if advancing else np.zeros(n_loans)
        act_am = (perf - new_def) * a
        vol = perf * (1.0 - a) * smm
        vol = np.minimum(vol, np.maximum(perf - new_def - act_am, 0.0))  # SF-19 c: cannot exceed PERF BAL(i-1)
        exp_int = (perf + fcl) * r
        lost_int = (new_def + fcl) * r
        act_int = exp_int - lost_int
        loss = np.minimum(defaulted_base * severity, liquidated)
        recov = np.maximum(liquidated - loss, 0.0)
        begin = perf + fcl
        if lag > 0:
            cohort_bal[1:] = cohort_bal[:-1].copy()
            cohort_def[1:] = cohort_def[:-1].copy()
            cohort_bal[0], cohort_def[0] = new_def, new_def
            if advancing:
                cohort_bal *= 1.0 - a
        sched_perf[i] = float(np.sum(perf * a))
        new_perf = perf - new_def - vol - act_am
        new_fcl = new_def + fcl - liquidated - am_def
        new_perf = np.where(np.abs(new_perf) < 1e-9 * np.maximum(perf, 1.0), 0.0, new_perf)
        new_fcl = np.where(np.abs(new_fcl) < 1e-9 * np.maximum(fcl + new_def, 1.0), 0.0, new_fcl)
        svc = (perf + fcl) * fee if advancing else (perf - new_def) * fee
        prin_coll = act_am + vol + recov + (am_def if advancing else 0.0)
        int_coll = exp_int if advancing else act_int
        values = (
            new_perf, new_def, new_fcl, exp_am, vol, am_def, act_am, exp_int, lost_int, act_int, recov, loss,
            liquidated, begin, new_perf + new_fcl, svc, prin_coll, int_coll, prin_coll + int_coll,
        )
        stacked = np.vstack(values)
        sums[i] = stacked.sum(axis=1)
        if per_loan is not None:
            per_loan[i] = stacked
        perf, fcl = new_perf, new_fcl
    frame = pd.DataFrame(sums, columns=list(names))
    frame.insert(0, "month", np.arange(1, months + 1))
    prior_perf = np.concatenate([[inp["balance"].sum()], frame["performing_balance"].to_numpy()[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["smm"] = np.where(prior_perf - sched_perf > 0, frame["voluntary_prepayments"] / (prior_perf - sched_perf), 0.0)
        frame["mdr"] = np.where(prior_perf > 0, frame["new_defaults"] / prior_perf, 0.0)
    frame.attrs["original_balance"] = float(inp["balance"].sum())
    detail_frame = None
    if per_loan is not None:
        loan_ids = np.repeat(np.arange(n_loans), months)
        month_ids = np.tile(np.arange(1, months + 1), n_loans)
        data = {"loan": loan_ids, "month": month_ids}
        for k, name in enumerate(names):
            data[name] = per_loan[:, k, :].T.reshape(-1)
        detail_frame = pd.DataFrame(data)
    return frame, detail_frame


def project_loans(
    loans: pd.DataFrame,
    assumptions: Assumptions | None = None,
    *,
    detail: bool = False,
    **overrides: Any,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame]:
    """Loan-level projection of a tape (columns ``balance, wac, term`` and optional ``age, amortization``)
    under ``assumptions`` (:class:`chainabs.model.assumptions.Assumptions`; ``overrides`` by name, e.g.
    ``cpr=0.1``).

    Rates given as vectors are indexed by projected month (month 1 = first month after the cut-off); PSA and
    SDA are evaluated at each loan's own age. Returns the pool frame (same columns as :func:`project_pool`,
    summed over loans) or, with ``detail=True``, ``(pool, per_loan)`` where ``per_loan`` has one row per
    loan (tape position) and month.
    """
    a = Assumptions.of(assumptions, **overrides)
    inp = pool_inputs(loans, a)
    pool, per_loan = _engine(inp, float(a.severity), int(a.recovery_lag), bool(a.advancing), detail)
    if detail:
        assert per_loan is not None
        per_loan["loan"] = loans.index.to_numpy()[per_loan["loan"].to_numpy()]
        return pool, per_loan
    return pool


def project_pool(
    balance: float,
    wac: float,
    term: int,
    assumptions: Assumptions | None = None,
    *,
    age: int = 0,
    amortization: str = "level",
    **overrides: Any,
) -> pd.DataFrame:
    """Project a representative line with the standard formulas; one row per month (``term - age`` rows).

    ``balance`` is the current balance, ``wac`` the gross coupon (decimal), ``term`` the original term and
    ``age`` the months already paid; ``assumptions`` (or ``overrides`` by name, e.g. ``cpr=0.1, sda=100``)
    the prepayment and default measures, severity and recovery lag, advancing and servicing fee (see
    :mod:`chainabs.model.assumptions`). Interest columns are at the net rate ``wac - servicing_fee``.
    ``amortization`` is ``"level"`` (level payment) or ``"bullet"`` (principal at maturity). Columns:
    :data:`COLUMNS` (see ``docs/cashflows.md``).
    """
    tape = pd.DataFrame({"balance": [balance], "wac": [wac], "term": [term], "age": [age], "amortization": [amortization]})
    result = project_loans(tape, Assumptions.of(assumptions, **overrides))
    assert isinstance(result, pd.DataFrame)
    return result


# --------------------------------------------------------------------------------------------------------------
# Integer collections for the waterfall
# --------------------------------------------------------------------------------------------------------------


def _cumulative_floor(values: Iterable[float], scale: int) -> tuple[list[int], Fraction]:
    """Round a series of amounts to integer units: each period gets ``floor(cum) - floor(previous cum)``."""
    cum = Fraction(0)
    paid = 0
    out: list[int] = []
    for v in values:
        fv = float(v)
        if not math.isfinite(fv):
            raise AssumptionError(f"collections: period {len(out) + 1} amount {v!r} is not a finite number")
        if fv < 0:
            raise AssumptionError(f"collections: period {len(out) + 1} amount {fv:g} is negative")
        cum += Fraction(fv) * scale
        whole = math.floor(cum)
        out.append(whole - paid)
        paid = whole
    return out, cum - paid


def to_collections(df: pd.DataFrame, decimals: int, column: str = "total_collections") -> list[int]:
    """Integer base-unit collections per period from a projection column (default: total collections).

    Rounding rule: amounts are scaled by ``10 ** decimals`` and rounded down *cumulatively*: period ``t``
    gets ``floor(S_t) - floor(S_{t-1})`` where ``S_t`` is the exact running total. The sub-unit remainder
    of each period is carried to the next, so the integers sum to ``floor(S_n)`` exactly and differ from
    the running total by less than one unit at every period; the final remainder (< 1 unit) is reported by
    :func:`collections_remainder`. Arithmetic is exact (binary floats as fractions), never float rounding.
    """
    if isinstance(decimals, bool) or int(decimals) != decimals or not 0 <= decimals <= 36:
        raise AssumptionError(f"decimals: {decimals!r} must be a whole number between 0 and 36")
    if column not in df.columns:
        raise AssumptionError(f"collections: column {column!r} is not in the projection")
    out, _ = _cumulative_floor(df[column].to_numpy(dtype=float), 10 ** int(decimals))
    return out


def collections_remainder(df: pd.DataFrame, decimals: int, column: str = "total_collections") -> Fraction:
    """What :func:`to_collections` leaves over after the last period, in base units (below one unit)."""
    _, rest = _cumulative_floor(df[column].to_numpy(dtype=float), 10 ** int(decimals))
    return rest


def to_collection_table(
    df: pd.DataFrame,
    decimals: int,
    columns: Sequence[str] = ("interest_collections", "principal_collections", "principal_loss"),
) -> pd.DataFrame:
    """Several projection columns as integer base units (same rule as :func:`to_collections`, per column).

    Returns ``month`` plus one Python-int column per requested column; ``attrs['remainder']`` maps each
    column to its final sub-unit remainder.
    """
    table = pd.DataFrame({"month": df["month"].to_numpy()})
    remainders: dict[str, Fraction] = {}
    for col in columns:
        table[col] = pd.Series(to_collections(df, decimals, col), dtype=object)
        remainders[col] = collections_remainder(df, decimals, col)
    table.attrs["remainder"] = remainders
    return table
