"""Seeded synthetic loan tapes for the demo, the tests and the benchmarks.

``consumer_loan`` (default) is modelled on a Chinese consumer-finance ABS such as the 2017 Baidu / Changan
Xinsheng deal: many small unsecured instalment loans (RMB 1,000-50,000, 3-36 months, 8-24 % APR under the
24 % judicial cap, equal monthly instalments 等额本息), borrowers spread over the provinces roughly by
population and economic weight, a few borrowers with two loans, almost no arrears at cut-off.
``trade_receivable`` is a supply-chain pool (invoices of RMB 50k-5m, 1-6 months, discount rates 3-9 %, a
limited set of buyers with skewed weights). ``lease`` is an equipment-lease pool (RMB 0.2-5m, 24-60 months).
``auto_loan`` is a secured car-loan pool (RMB 30k-400k, 12-60 months, 4-15 %), each loan with its vehicle as
collateral (:func:`generate_collateral`).

Amounts are in base units of a currency with ``decimals`` decimals (6 by default, like the test stablecoin).
The same ``seed`` always gives the same tape.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

from chainabs.model.tape import BPS, PoolCriteria, read_tape

DEFAULT_CUTOFF = dt.date(2024, 6, 30)
KINDS = ("consumer_loan", "trade_receivable", "lease", "auto_loan")

# GB/T 2260 province codes and rough weights (population x consumer credit usage).
PROVINCES: dict[int, float] = {
    44: 11.0, 32: 7.5, 37: 7.0, 33: 6.5, 41: 6.0, 51: 5.5, 42: 4.5, 13: 4.5, 43: 4.3, 35: 3.6, 34: 3.8,
    31: 3.5, 11: 3.2, 36: 2.9, 53: 2.7, 45: 2.9, 61: 2.6, 21: 2.6, 50: 2.5, 14: 2.0, 52: 2.0, 12: 1.6,
    23: 1.9, 15: 1.4, 22: 1.5, 65: 1.4, 62: 1.3, 46: 0.8, 64: 0.5, 63: 0.4, 54: 0.2,
}
# GB/T 4754 divisions of the borrower's employer (consumer) or of the obligor (receivables, leases).
CONSUMER_INDUSTRIES: dict[int, float] = {
    13: 3, 18: 4, 26: 3, 36: 4, 39: 6, 47: 5, 48: 3, 51: 7, 52: 9, 54: 4, 59: 3, 61: 4, 62: 5, 64: 5, 65: 6,
    66: 3, 70: 4, 72: 3, 80: 4, 83: 6, 84: 5, 88: 2, 92: 2,
}
TRADE_INDUSTRIES: dict[int, float] = {13: 3, 17: 3, 26: 4, 29: 3, 33: 3, 34: 4, 36: 5, 38: 4, 39: 6, 51: 5, 52: 3}
LEASE_INDUSTRIES: dict[int, float] = {26: 3, 30: 2, 34: 4, 36: 3, 44: 2, 48: 3, 54: 4, 56: 2, 84: 4, 85: 2}


def _pick(rng: np.random.Generator, table: dict[int, float], n: int) -> np.ndarray:
    codes = np.array(list(table), dtype=np.int64)
    w = np.array(list(table.values()), dtype=float)
    return rng.choice(codes, size=n, p=w / w.sum())


def _hex32(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.bytes(32 * n).hex()
    return ["0x" + raw[64 * i : 64 * (i + 1)] for i in range(n)]


def _annuity_balance(principal: np.ndarray, rate_bps: np.ndarray, term: np.ndarray, paid: np.ndarray) -> np.ndarray:
    """Outstanding principal after ``paid`` equal monthly instalments (等额本息)."""
    r = rate_bps / BPS / 12.0
    growth_n = (1 + r) ** term
    growth_k = (1 + r) ** paid
    return principal * (growth_n - growth_k) / (growth_n - 1)


def _dates(rng: np.random.Generator, cutoff: dt.date, term: np.ndarray, elapsed: np.ndarray):
    """Origination strictly before the cut-off, ``elapsed`` whole months ago; maturity ``term`` months later."""
    n = len(term)
    cutoff_month = np.datetime64(cutoff, "M")
    day = rng.integers(0, 28, size=n)  # day of month - 1
    orig_month = cutoff_month - elapsed.astype("timedelta64[M]") - np.timedelta64(1, "M")
    orig = orig_month.astype("datetime64[D]") + day.astype("timedelta64[D]")
    mat = (orig_month + term.astype("timedelta64[M]")).astype("datetime64[D]") + day.astype("timedelta64[D]")
    return orig.astype("datetime64[s]"), mat.astype("datetime64[s]")


def generate_tape(
    n: int, *, kind: str = "consumer_loan", seed: int = 0, cutoff: dt.date = DEFAULT_CUTOFF, decimals: int = 6,
    prefix: str | None = None,
) -> pd.DataFrame:
    """A typed tape of ``n`` eligible assets of ``kind`` (see module doc), reproducible from ``seed``.

    Loan ids are ``<prefix><number>`` (prefix ``CL``, ``TR`` or ``LS`` by kind unless given).
    """
    if kind not in KINDS:
        raise ValueError(f"unknown tape kind {kind!r}; one of {KINDS}")
    if n <= 0:
        raise ValueError("a tape needs at least one asset")
    rng = np.random.default_rng(seed)
    unit = 10**decimals
    fen = max(unit // 100, 1)  # amounts rounded to the cent (fen)
    if kind == "consumer_loan":
        term = rng.choice(np.array([3, 6, 9, 12, 12, 12, 18, 24, 24, 36]), size=n)
        original = np.clip(rng.lognormal(np.log(7_000), 0.75, size=n), 1_000, 50_000)
        rate = np.round(rng.uniform(800, 2400, size=n) / 10) * 10
        elapsed = (rng.uniform(0, 1, size=n) * (term - 1)).astype(np.int64)
        balance = _annuity_balance(original, rate, term, elapsed)
        borrowers = np.arange(n)
        repeat = rng.random(n) < 0.03  # ~3% of loans belong to a borrower who already has one
        borrowers[repeat] = rng.integers(0, n, size=int(repeat.sum()))
        region_table, industry_table = PROVINCES, CONSUMER_INDUSTRIES
        delinquent = np.where(rng.random(n) < 0.02, rng.integers(1, 30, size=n), 0)
    elif kind == "trade_receivable":
        term = rng.integers(2, 7, size=n)  # at least one month left at cut-off
        original = np.clip(rng.lognormal(np.log(400_000), 0.9, size=n), 50_000, 5_000_000)
        rate = np.round(rng.uniform(300, 900, size=n) / 10) * 10
        elapsed = np.zeros(n, dtype=np.int64)
        balance = original.copy()  # an invoice is paid in one bullet at maturity
        n_buyers = max(25, n // 20)
        weights = 1.0 / np.arange(1, n_buyers + 1) ** 0.5
        borrowers = rng.choice(n_buyers, size=n, p=weights / weights.sum())
        region_table, industry_table = PROVINCES, TRADE_INDUSTRIES
        delinquent = np.zeros(n, dtype=np.int64)
    elif kind == "auto_loan":
        term = rng.choice(np.array([12, 24, 36, 36, 48, 60]), size=n)
        original = np.clip(rng.lognormal(np.log(120_000), 0.5, size=n), 30_000, 400_000)
        rate = np.round(rng.uniform(400, 1500, size=n) / 10) * 10
        elapsed = (rng.uniform(0, 0.7, size=n) * (term - 1)).astype(np.int64)
        balance = _annuity_balance(original, rate, term, elapsed)
        borrowers = np.arange(n)
        region_table, industry_table = PROVINCES, CONSUMER_INDUSTRIES
        delinquent = np.where(rng.random(n) < 0.02, rng.integers(1, 30, size=n), 0)
    else:
        term = rng.choice(np.array([24, 36, 36, 48, 60]), size=n)
        original = np.clip(rng.lognormal(np.log(900_000), 0.7, size=n), 200_000, 5_000_000)
        rate = np.round(rng.uniform(500, 1200, size=n) / 10) * 10
        elapsed = (rng.uniform(0, 0.6, size=n) * term).astype(np.int64)
        balance = _annuity_balance(original, rate, term, elapsed)
        borrowers = np.arange(n)
        region_table, industry_table = PROVINCES, LEASE_INDUSTRIES
        delinquent = np.where(rng.random(n) < 0.01, rng.integers(1, 30, size=n), 0)
    original_units = (np.floor(original * unit / fen) * fen).astype(np.int64)
    balance_units = np.minimum((np.floor(balance * unit / fen) * fen).astype(np.int64), original_units)
    balance_units = np.maximum(balance_units, fen)
    origination, maturity = _dates(rng, cutoff, term.astype(np.int64), elapsed)
    # obligors: salted hashes of a borrower number; each borrower keeps one region and industry
    uniq, inverse = np.unique(borrowers, return_inverse=True)
    obligor_ids = np.array(_hex32(rng, len(uniq)), dtype=object)
    obligor_region = _pick(rng, region_table, len(uniq))
    obligor_industry = _pick(rng, industry_table, len(uniq))
    prefix = prefix if prefix is not None else {"consumer_loan": "CL", "trade_receivable": "TR", "lease": "LS",
                                                 "auto_loan": "AL"}[kind]
    width = max(7, len(str(n)))
    return pd.DataFrame(
        {
            "loan_id": [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)],
            "asset_type": kind,
            "original_principal": original_units,
            "principal": balance_units,
            "rate_bps": rate.astype(np.int64),
            "term_months": term.astype(np.int64),
            "origination_date": pd.to_datetime(origination),
            "maturity_date": pd.to_datetime(maturity),
            "days_delinquent": delinquent.astype(np.int64),
            "region": obligor_region[inverse],
            "industry": obligor_industry[inverse],
            "obligor": obligor_ids[inverse],
            "contract_hash": _hex32(rng, n),
            "schedule_hash": _hex32(rng, n),
        }
    )


def default_criteria(kind: str = "consumer_loan", cutoff: dt.date = DEFAULT_CUTOFF, *, decimals: int = 6,
                     **overrides: object) -> PoolCriteria:
    """Typical eligibility criteria of a pool of ``kind`` (fields can be overridden by keyword)."""
    unit = 10**decimals
    base = {
        "consumer_loan": dict(allowed=("consumer_loan",), rates=(600, 2400), term=36 * 31, delinquent=29,
                              cap=200_000, region=2_000, industry=3_000, obligor=500),
        "trade_receivable": dict(allowed=("trade_receivable",), rates=(200, 1200), term=7 * 31, delinquent=0,
                                 cap=10_000_000, region=3_000, industry=4_000, obligor=1_500),
        "lease": dict(allowed=("lease",), rates=(300, 1500), term=60 * 31, delinquent=29,
                      cap=10_000_000, region=3_000, industry=4_000, obligor=500),
        "auto_loan": dict(allowed=("auto_loan",), rates=(300, 1800), term=60 * 31, delinquent=29,
                          cap=500_000, region=2_000, industry=3_000, obligor=500),
    }[kind]
    legal_final = dt.date(cutoff.year + (base["term"] // 365) + 3, cutoff.month, 1)
    criteria = PoolCriteria(
        cutoff_date=cutoff,
        legal_final_date=legal_final,
        allowed_asset_types=base["allowed"],
        min_rate_bps=base["rates"][0],
        max_rate_bps=base["rates"][1],
        max_remaining_term_days=base["term"],
        max_days_delinquent=base["delinquent"],
        max_principal_per_asset=base["cap"] * unit,
        max_region_bps=base["region"],
        max_industry_bps=base["industry"],
        max_obligor_bps=base["obligor"],
    )
    return dataclasses.replace(criteria, **overrides) if overrides else criteria


#: Prefix of a tape argument that asks for a synthetic tape (``synthetic:<n>``).
SYNTHETIC_PREFIX = "synthetic:"


def is_synthetic(argument: str) -> bool:
    """True for a tape argument ``synthetic:<n>``."""
    return argument.startswith(SYNTHETIC_PREFIX)


def tape_argument(argument: str, *, kind: str = "consumer_loan", seed: int = 0, cutoff: dt.date = DEFAULT_CUTOFF,
                  decimals: int = 6) -> pd.DataFrame:
    """The tape a command-line argument names: a CSV / Parquet path (read as it is, for validation), or
    ``synthetic:<n>``, a seeded synthetic tape of ``n`` loans of ``kind`` at ``cutoff``."""
    if not is_synthetic(argument):
        return read_tape(argument)
    count = argument[len(SYNTHETIC_PREFIX):]
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"{argument!r}: expected synthetic:<number of loans>, e.g. synthetic:800")
    return generate_tape(int(count), kind=kind, seed=seed, cutoff=cutoff, decimals=decimals)


#: Vehicle makers' world manufacturer identifiers (first three characters of a VIN) for synthetic VINs.
_WMI = ("LSV", "LFV", "LGB", "LBV", "LHG", "LVS", "LDC", "LGX")
_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def generate_collateral(tape: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """The vehicles securing an ``auto_loan`` tape (:data:`chainabs.model.collateral.COLLATERAL_COLUMNS`): one
    per loan, a synthetic VIN, appraised at origination at 105-140 % of the original principal, a lien document
    hash. Reproducible from ``seed``."""
    rng = np.random.default_rng([seed, 1])
    n = len(tape)
    chars = np.array(list(_VIN_CHARS))
    body = rng.choice(chars, size=(n, 14))
    vins = [_WMI[int(k)] + "".join(row) for k, row in zip(rng.integers(0, len(_WMI), size=n), body, strict=True)]
    ltv = rng.uniform(1.05, 1.40, size=n)
    value = (tape["original_principal"].to_numpy(dtype=np.float64) * ltv).astype(np.int64)
    return pd.DataFrame({
        "loan_id": tape["loan_id"].astype(str).to_numpy(),
        "kind": "vehicle",
        "identifier": vins,
        "appraised_value": value,
        "appraisal_date": pd.to_datetime(tape["origination_date"]).dt.strftime("%Y-%m-%d").to_numpy(),
        "lien_hash": _hex32(rng, n),
    })
