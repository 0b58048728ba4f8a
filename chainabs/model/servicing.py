"""Loan-level servicing tapes: the format, their validation and Merkle commitment, their aggregation into the
period report, and the allocation of a pool-level projection to loans.

Each period the servicer produces one row per loan of the pool (every loan, also those already repaid,
prepaid or defaulted, so that the tape is the whole pool), commits the StandardMerkleTree root of the tape
in ``SPV.submitReport(report, tapeRoot, tapeUri)`` and submits the tape's aggregates as the
``PeriodReport``. It also brings the asset registry in line with the tape (``updateAssets``: each loan whose
status or outstanding principal changed, with the loan's servicing leaf as ``evidence``) *before* it submits
the report (:mod:`chainabs.chain.servicing`). Anyone holding a copy of the tape can then check, from chain
data alone (:func:`chainabs.apps.verify.verify_servicing_tape`): the root, every aggregate, and per loan the status and principal the
registry holds, the beginning balance (the registry at the previous report), the leaf in the registry event,
and that the tape covers exactly the pool's loans.

Servicing tape columns (one row per loan; amounts in the currency's base units):

==================== ======= =========================================================================
column               type    meaning
==================== ======= =========================================================================
period               int     the period the tape reports (1-based, as ``ReportSubmitted.period``)
loan_id              str     the originator's loan number, as in the cut-off tape
status               str     Performing | Delinquent30 | Delinquent60 | Delinquent90 | Defaulted |
                             Prepaid | Repaid (the registry's ``AssetStatus`` names) at the period end
days_delinquent      int     days past due at the period end (consistent with ``status``)
beginning_principal  int     outstanding principal at the start of the period
scheduled_principal  int     scheduled principal collected
prepaid_principal    int     unscheduled principal collected (full prepayments and curtailments)
defaulted_principal  int     principal charged off this period (all of it when ``status`` is Defaulted)
ending_principal     int     beginning - scheduled - prepaid - defaulted
interest_collected   int     interest collected
recoveries           int     recoveries collected on principal charged off in this or earlier periods
==================== ======= =========================================================================

The leaf of a row is ``keccak256(bytes.concat(keccak256(abi.encode(period, loanId, status, ...))))`` with the
ABI types of :data:`SERVICING_FIELDS` (``loanId`` as bytes32, ASCII left-aligned; ``status`` as the
registry's code), so OpenZeppelin's ``StandardMerkleTree.of(values, SERVICING_TYPES)`` gives the same root.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from eth_abi import encode as abi_encode

from chainabs.model.merkle import MerkleTree, hash_encoded_leaf
from chainabs.model.numbers import parse_int
from chainabs.model.assets import (
    ACTIVE_STATUSES, FINAL_STATUSES, STATUS_CODE, STATUSES, loan_id_bytes, status_for_days,
)
from chainabs.model.tape import TapeIssue, TapeValidationError
from chainabs.model.waterfall import PeriodReport

#: Statuses a loan can have in a servicing tape (all but None and Repurchased).
TAPE_STATUSES: tuple[str, ...] = STATUSES[1:8]
#: Delinquency buckets of the ``PeriodReport`` by status.
BUCKET_OF_STATUS: dict[str, str] = {"Delinquent30": "delinquent_30", "Delinquent60": "delinquent_60",
                                    "Delinquent90": "delinquent_90_plus"}

#: (column, ABI type) of every field of the servicing leaf, in encoding order: defined here only.
SERVICING_FIELDS: tuple[tuple[str, str], ...] = (
    ("period", "uint256"),
    ("loan_id", "bytes32"),
    ("status", "uint8"),
    ("days_delinquent", "uint16"),
    ("beginning_principal", "uint96"),
    ("scheduled_principal", "uint96"),
    ("prepaid_principal", "uint96"),
    ("defaulted_principal", "uint96"),
    ("ending_principal", "uint96"),
    ("interest_collected", "uint96"),
    ("recoveries", "uint96"),
)
SERVICING_COLUMNS: tuple[str, ...] = tuple(n for n, _ in SERVICING_FIELDS)
SERVICING_TYPES: tuple[str, ...] = tuple(t for _, t in SERVICING_FIELDS)
AMOUNT_COLUMNS: tuple[str, ...] = SERVICING_COLUMNS[4:]
INT_COLUMNS: tuple[str, ...] = ("period", "days_delinquent", *AMOUNT_COLUMNS)
_INT_MAX = {"period": 2**63 - 1, "days_delinquent": 2**16 - 1, **{c: 2**63 - 1 for c in AMOUNT_COLUMNS}}

#: PeriodReport field -> how it is computed from a tape (for messages and docs).
AGGREGATE_RULES: dict[str, str] = {
    "interest_collections": "sum(interest_collected)",
    "scheduled_principal": "sum(scheduled_principal)",
    "prepayments": "sum(prepaid_principal)",
    "recoveries": "sum(recoveries)",
    "defaults": "sum(defaulted_principal)",
    "delinquent_30": "sum(ending_principal) where status = Delinquent30",
    "delinquent_60": "sum(ending_principal) where status = Delinquent60",
    "delinquent_90_plus": "sum(ending_principal) where status = Delinquent90",
    "pool_ending_balance": "sum(ending_principal)",
}


class ServicingError(ValueError):
    """A servicing tape cannot be built from the inputs (e.g. recoveries but no loan ever defaulted)."""


# ---------------------------------------------------------------------------------------------- format


def validate_servicing_tape(tape: pd.DataFrame, period: int | None = None) -> tuple[pd.DataFrame, list[TapeIssue]]:
    """Type a servicing tape and list every problem (row numbers 1-based, naming field and rule).

    Checks: columns, integer types and ranges, loan id format and duplicates, status names, one period
    (equal to ``period`` if given), the balance identity, status against days delinquent and balance.
    """
    issues: list[TapeIssue] = []
    missing = [c for c in SERVICING_COLUMNS if c not in tape.columns]
    if missing:
        return tape, [TapeIssue(None, None, c, "missing_column", f"required column {c!r} is missing") for c in missing]
    if len(tape) == 0:
        return tape, [TapeIssue(None, None, "loan_id", "empty_tape", "the tape has no rows")]
    src = tape.reset_index(drop=True)
    out = pd.DataFrame({"loan_id": src["loan_id"].astype(str), "status": src["status"].astype(str).str.strip()})
    loan = out["loan_id"]

    def add(mask: np.ndarray, fld: str, rule: str, message: str | pd.Series) -> None:
        for i in np.flatnonzero(mask):
            msg = message if isinstance(message, str) else str(message.iloc[i])
            issues.append(TapeIssue(int(i) + 1, loan.iloc[i], fld, rule, msg))

    broken = np.zeros(len(src), dtype=bool)
    bad = ~loan.str.fullmatch(r"[!-~](?:[ -~]{0,30}[!-~])?").to_numpy(dtype=bool, na_value=False)
    add(bad, "loan_id", "format", "must be 1-32 printable ASCII characters without surrounding spaces")
    broken |= bad
    bad = ~out["status"].isin(TAPE_STATUSES).to_numpy()
    add(bad, "status", "status", "unknown status " + out["status"].map(repr) + f"; one of {list(TAPE_STATUSES)}")
    broken |= bad
    for col in INT_COLUMNS:
        ints, bad = parse_int(src[col])
        add(bad, col, "type", "not an integer: " + src[col].astype(str).map(repr))
        neg = ~bad & (ints.to_numpy() < 0)
        add(neg, col, "negative", ints.astype(str) + " < 0")
        over = ~bad & (ints.to_numpy() > _INT_MAX[col])
        add(over, col, "range", ints.astype(str) + f" > {_INT_MAX[col]}")
        broken |= bad | neg | over
        out[col] = ints
    out = out[list(SERVICING_COLUMNS)]
    ok = ~broken
    dup = ok & out["loan_id"].duplicated(keep=False).to_numpy()
    add(dup, "loan_id", "duplicate_loan", "loan " + out["loan_id"] + " appears more than once")
    periods = out.loc[ok, "period"].unique()
    expected = period if period is not None else (int(periods[0]) if len(periods) else None)
    if expected is not None:
        add(ok & (out["period"].to_numpy() != expected), "period", "period", f"not period {expected}")
    identity = (out["beginning_principal"] - out["scheduled_principal"] - out["prepaid_principal"]
                - out["defaulted_principal"])
    add(ok & (identity.to_numpy() != out["ending_principal"].to_numpy()), "ending_principal", "balance_identity",
        "beginning - scheduled - prepaid - defaulted = " + identity.astype(str) + " != ending "
        + out["ending_principal"].astype(str))
    active = out["status"].isin(ACTIVE_STATUSES).to_numpy()
    final = out["status"].isin(FINAL_STATUSES).to_numpy()
    expected_status = pd.Series(status_for_days(out["days_delinquent"]), index=out.index)
    add(ok & active & (expected_status != out["status"]).to_numpy(), "days_delinquent", "status_days",
        out["days_delinquent"].astype(str) + " days past due is " + expected_status + ", not " + out["status"])
    add(ok & active & (out["ending_principal"].to_numpy() == 0), "ending_principal", "active_zero_balance",
        "an active loan must have an outstanding principal; zero balance is Repaid, Prepaid or Defaulted")
    add(ok & final & (out["ending_principal"].to_numpy() != 0), "ending_principal", "closed_with_balance",
        out["status"] + " loan still has " + out["ending_principal"].astype(str) + " outstanding")
    issues.sort(key=lambda i: (i.row or 0, i.field))
    return out, issues


def check_servicing_tape(tape: pd.DataFrame, period: int | None = None) -> pd.DataFrame:
    """The typed servicing tape, or :class:`chainabs.model.tape.TapeValidationError` listing every issue."""
    typed, issues = validate_servicing_tape(tape, period)
    if issues:
        raise TapeValidationError(issues)
    return typed


def read_servicing_tape(path: str | Path) -> pd.DataFrame:
    """A servicing tape from CSV or Parquet (untyped: :func:`check_servicing_tape` types it)."""
    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_servicing_tape(tape: pd.DataFrame, path: str | Path) -> Path:
    """Write a servicing tape (CSV or Parquet by suffix), columns in :data:`SERVICING_COLUMNS` order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = tape[list(SERVICING_COLUMNS)]
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------------------ commitment


def leaf_values(tape: pd.DataFrame) -> list[tuple[Any, ...]]:
    """``abi.encode`` values of every row of a typed tape, in :data:`SERVICING_TYPES` order."""
    cols = [tape[c].astype("int64").tolist() if c in INT_COLUMNS else tape[c].tolist() for c in SERVICING_COLUMNS]
    values = []
    for row in zip(*cols, strict=True):
        r = dict(zip(SERVICING_COLUMNS, row, strict=True))
        r["loan_id"] = loan_id_bytes(str(r["loan_id"]))
        r["status"] = STATUS_CODE[r["status"]]
        values.append(tuple(int(r[c]) if c not in ("loan_id",) else r[c] for c in SERVICING_COLUMNS))
    return values


def leaf_hashes(tape: pd.DataFrame) -> list[bytes]:
    """StandardMerkleTree leaf of every row of a typed tape."""
    return [hash_encoded_leaf(abi_encode(list(SERVICING_TYPES), list(v))) for v in leaf_values(tape)]


def servicing_tree(tape: pd.DataFrame) -> MerkleTree:
    """StandardMerkleTree of a servicing tape (validated first; values in row order)."""
    typed = check_servicing_tape(tape)
    values = leaf_values(typed)
    leaves = [hash_encoded_leaf(abi_encode(list(SERVICING_TYPES), list(v))) for v in values]
    return MerkleTree.from_leaf_hashes(leaves, values, SERVICING_TYPES)


def servicing_root(tape: pd.DataFrame) -> str:
    """``0x`` root of a servicing tape: what the servicer commits as ``tapeRoot``."""
    return servicing_tree(tape).root


def period_report(tape: pd.DataFrame) -> PeriodReport:
    """The ``PeriodReport`` a (typed) servicing tape aggregates to (see :data:`AGGREGATE_RULES`)."""
    t = check_servicing_tape(tape)

    def total(col: str, mask: pd.Series | None = None) -> int:
        s = t[col] if mask is None else t.loc[mask, col]
        return int(sum(int(v) for v in s.tolist()))

    return PeriodReport(
        interest_collections=total("interest_collected"),
        scheduled_principal=total("scheduled_principal"),
        prepayments=total("prepaid_principal"),
        recoveries=total("recoveries"),
        defaults=total("defaulted_principal"),
        delinquent_30=total("ending_principal", t["status"] == "Delinquent30"),
        delinquent_60=total("ending_principal", t["status"] == "Delinquent60"),
        delinquent_90_plus=total("ending_principal", t["status"] == "Delinquent90"),
        pool_ending_balance=total("ending_principal"),
    )


# ------------------------------------------------------------------------------------ servicer's side


def opening_tape(cutoff: pd.DataFrame) -> pd.DataFrame:
    """The pool at the cut-off date as a 'period 0' servicing tape (ending principal = cut-off principal)."""
    n = len(cutoff)
    zeros = np.zeros(n, dtype=np.int64)
    days = cutoff["days_delinquent"].astype("int64").to_numpy()
    principal = cutoff["principal"].astype("int64").to_numpy()
    return pd.DataFrame({
        "period": zeros, "loan_id": cutoff["loan_id"].astype(str).to_numpy(), "status": status_for_days(days),
        "days_delinquent": days, "beginning_principal": principal, "scheduled_principal": zeros,
        "prepaid_principal": zeros, "defaulted_principal": zeros, "ending_principal": principal,
        "interest_collected": zeros, "recoveries": zeros,
    })


def _largest_remainder(total: int, weights: np.ndarray, caps: np.ndarray | None = None) -> np.ndarray:
    """Split integer ``total`` in proportion to integer ``weights``: floors, then one unit each to the largest
    remainders (ties by position). With ``caps`` (``total`` <= sum(caps), weights = caps) no share exceeds its cap."""
    w = [int(x) for x in weights]
    wsum = sum(w)
    if total == 0:
        return np.zeros(len(w), dtype=np.int64)
    if wsum == 0:
        raise ServicingError(f"cannot allocate {total}: no loan to allocate it to")
    shares = [total * x // wsum for x in w]
    rema = [total * x % wsum for x in w]
    left = total - sum(shares)
    for i in sorted(range(len(w)), key=lambda k: (-rema[k], k))[:left]:
        shares[i] += 1
    out = np.array(shares, dtype=np.int64)
    if caps is not None and (out > caps).any():
        raise ServicingError("allocation above a loan's balance")
    return out


def _take_whole_loans(available: np.ndarray, total: int, status: np.ndarray, final: str,
                      order: list[int]) -> np.ndarray:
    """``total`` taken from the loans' ``available`` balances in ``order``, each loan whole (the last one
    partially); a loan taken whole gets the ``final`` status (in ``status``, in place)."""
    taken = np.zeros(len(available), dtype=np.int64)
    left = int(total)
    for i in order:
        if left == 0:
            break
        taken[i] = take = min(left, int(available[i]))
        left -= take
        if take == available[i]:
            status[i] = final
    return taken


def allocate_period(previous: pd.DataFrame, rates: pd.Series, report: PeriodReport, period: int, *,
                    claims: np.ndarray | None = None, seed: int = 0) -> pd.DataFrame:
    """A loan-level tape for ``period`` whose flows add up exactly to ``report``'s (a pool-level projection).

    ``previous`` is the last period's tape (or :func:`opening_tape`), ``rates`` the loans' rates (bps) by
    loan id, ``claims`` per loan of ``previous`` the principal charged off and not yet recovered.
    Defaults take the most delinquent loans whole (the last one partially: a partial charge-off);
    prepayments take current loans whole in a seeded order (the last one partially: a curtailment);
    scheduled principal is shared by outstanding balance and interest by balance x rate (largest remainder);
    recoveries by unrecovered charged-off principal. Delinquency is assigned loan by loan (a loan worsens at
    most one bucket a period, as the registry requires) as close to the report's buckets as whole loans
    allow: submit :func:`period_report` of the result, whose flows equal ``report``'s.
    """
    prev = previous.reset_index(drop=True)
    n = len(prev)
    claims = np.zeros(n, dtype=np.int64) if claims is None else np.asarray(claims, dtype=np.int64)
    order_key = np.random.default_rng([seed, period]).permutation(n)
    begin = np.where(prev["status"].isin(ACTIVE_STATUSES), prev["ending_principal"].astype("int64"), 0)
    bucket = np.select([prev["status"] == s for s in ACTIVE_STATUSES], [0, 1, 2, 3], default=-1)
    if report.defaults + report.prepayments + report.scheduled_principal > int(begin.sum()):
        raise ServicingError(f"period {period}: reductions exceed the pool balance {int(begin.sum())}")
    status = prev["status"].astype(object).to_numpy().copy()
    defaulted = _take_whole_loans(begin, report.defaults, status, "Defaulted",  # worst bucket first
                                  sorted(np.flatnonzero(begin > 0), key=lambda k: (-bucket[k], order_key[k])))
    avail = begin - defaulted
    prepaid = _take_whole_loans(avail, report.prepayments, status, "Prepaid",  # current loans first
                                sorted(np.flatnonzero(avail > 0), key=lambda k: (bucket[k], order_key[k])))
    avail = avail - prepaid
    scheduled = _largest_remainder(report.scheduled_principal, avail, caps=avail)
    ending = avail - scheduled
    status[(ending == 0) & (avail > 0)] = "Repaid"
    loan_rates = rates.reindex(prev["loan_id"].astype(str)).to_numpy(dtype=np.int64)
    interest = _largest_remainder(report.interest_collections, (begin - defaulted).astype(object) * loan_rates.astype(object))
    recoveries = _largest_remainder(report.recoveries, claims + defaulted)
    days = prev["days_delinquent"].astype("int64").to_numpy().copy()
    live = [int(i) for i in np.flatnonzero((ending > 0) & np.isin(status, ACTIVE_STATUSES))]
    new_bucket = dict.fromkeys(live, 0)
    for k, target in ((3, report.delinquent_90_plus), (2, report.delinquent_60), (1, report.delinquent_30)):
        room = target
        for i in sorted((i for i in live if bucket[i] >= k - 1 and new_bucket[i] == 0),
                        key=lambda j: (-bucket[j], order_key[j])):
            if ending[i] <= room:
                new_bucket[i] = k
                room -= int(ending[i])
    for i, k in new_bucket.items():
        status[i] = ACTIVE_STATUSES[k]
        days[i] = 30 * k
    return pd.DataFrame({
        "period": np.full(n, period, dtype=np.int64), "loan_id": prev["loan_id"].astype(str).to_numpy(),
        "status": status, "days_delinquent": days, "beginning_principal": begin.astype(np.int64),
        "scheduled_principal": scheduled, "prepaid_principal": prepaid, "defaulted_principal": defaulted,
        "ending_principal": ending.astype(np.int64), "interest_collected": interest.astype(np.int64),
        "recoveries": recoveries.astype(np.int64),
    })


@dataclasses.dataclass
class ServicingBook:
    """The servicer's loan-level books across periods: the last tape and each loan's unrecovered charge-off."""

    rates: pd.Series
    last: pd.DataFrame
    claims: np.ndarray
    seed: int = 0

    @classmethod
    def open(cls, cutoff: pd.DataFrame, seed: int = 0) -> ServicingBook:
        """Books at the cut-off date of a (typed) cut-off tape."""
        rates = cutoff.set_index(cutoff["loan_id"].astype(str))["rate_bps"].astype("int64")
        return cls(rates, opening_tape(cutoff), np.zeros(len(cutoff), dtype=np.int64), seed)

    def next_period(self, report: PeriodReport) -> pd.DataFrame:
        """The next period's tape from a pool-level report (:func:`allocate_period`); the books advance."""
        period = int(self.last["period"].iloc[0]) + 1
        tape = allocate_period(self.last, self.rates, report, period, claims=self.claims, seed=self.seed)
        self.claims = np.maximum(self.claims + tape["defaulted_principal"].to_numpy(dtype=np.int64)
                                 - tape["recoveries"].to_numpy(dtype=np.int64), 0)
        self.last = tape
        return tape


def registry_updates(previous: pd.DataFrame, tape: pd.DataFrame, asset_ids: dict[str, int]) -> list[tuple]:
    """``StatusUpdate`` tuples (assetId, status, principal, evidence = the loan's servicing leaf) for every
    loan whose status or outstanding principal differs from ``previous``."""
    prev = previous.set_index(previous["loan_id"].astype(str))
    leaves = leaf_hashes(tape)
    out = []
    for (lid, st, end), leaf in zip(tape[["loan_id", "status", "ending_principal"]].itertuples(index=False),
                                    leaves, strict=True):
        before = prev.loc[str(lid)]
        if before["status"] != st or int(before["ending_principal"]) != int(end):
            out.append((asset_ids[str(lid)], STATUS_CODE[st], int(end), leaf))
    return out
