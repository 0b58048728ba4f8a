"""Loan tapes: the record format shared with the chain, I/O (CSV / Parquet) and vectorized validation.

The record of an asset (its fields, ABI types and packing) is defined once, in :mod:`chainabs.model.assets`;
a tape has one column per record field. Its encoding is the StandardMerkleTree leaf
(:mod:`chainabs.model.merkle`), the calldata of ``IAssetRegistry.registerAndPool`` and the leaf hash the
registry emits.

Tape columns (one row per asset; amounts in the deal currency's base units):

==================== ========= ==========================================================================
column               type      meaning
==================== ========= ==========================================================================
loan_id              str       originator's loan number, printable ASCII, 1-32 characters, unique
asset_type           str       consumer_loan | trade_receivable | lease | mortgage | rent
original_principal   int       principal at origination (> 0)
principal            int       outstanding principal at the cut-off date (> 0, <= original_principal)
rate_bps             int       annual interest (or discount) rate in basis points
term_months          int       original term in months (> 0)
origination_date     date      ISO date (YYYY-MM-DD), UTC
maturity_date        date      ISO date, after origination_date
days_delinquent      int       days past due at the cut-off date
region               int       region bucket code 0..255 (default: GB/T 2260 province code, 11..82)
industry             int       industry bucket code 0..255 (default: GB/T 4754 division, 1..97)
obligor              hex       0x + 64 hex: salted hash of the obligor's identity (never personal data)
contract_hash        hex       0x + 64 hex: hash of the loan contract
schedule_hash        hex       0x + 64 hex: hash of the repayment schedule
==================== ========= ==========================================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from eth_hash.auto import keccak

from chainabs.model.assets import (
    ASSET_TYPES, LEAF_FIELDS, LEAF_TYPES, TAPE_COLUMNS, asset_id, loan_id_bytes, pack_record,
)
from chainabs.model.merkle import MerkleTree, hash_encoded_leaf
from chainabs.model.inputs import missing_column_messages, read_table
from chainabs.model.numbers import int64_overflow, parse_int, range_text

INT_COLUMNS = ("original_principal", "principal", "rate_bps", "term_months", "days_delinquent", "region", "industry")
DATE_COLUMNS = ("origination_date", "maturity_date")
HASH_COLUMNS = ("obligor", "contract_hash", "schedule_hash")
#: Largest value per integer column (ABI width; amounts are limited to int64 in the Python tools).
INT_MAX: dict[str, int] = {
    "original_principal": 2**63 - 1,
    "principal": 2**63 - 1,
    "rate_bps": 2**16 - 1,
    "term_months": 2**16 - 1,
    "days_delinquent": 2**16 - 1,
    "region": 255,
    "industry": 255,
}
SECONDS_PER_DAY = 86_400
BPS = 10_000


@dataclass(frozen=True)
class PoolCriteria:
    """Eligibility criteria of a pool (mirror of ``IAssetRegistry.PoolCriteria``)."""

    cutoff_date: dt.date
    legal_final_date: dt.date
    allowed_asset_types: tuple[str, ...]
    min_rate_bps: int
    max_rate_bps: int
    max_remaining_term_days: int
    max_days_delinquent: int
    max_principal_per_asset: int
    max_region_bps: int
    max_industry_bps: int
    max_obligor_bps: int

    def to_chain(self) -> tuple[int, ...]:
        """The ``PoolCriteria`` tuple for the contract."""
        mask = 0
        for name in self.allowed_asset_types:
            mask |= 1 << ASSET_TYPES[name]
        return (
            date_to_unix(self.cutoff_date),
            date_to_unix(self.legal_final_date),
            mask,
            self.min_rate_bps,
            self.max_rate_bps,
            self.max_remaining_term_days,
            self.max_days_delinquent,
            self.max_principal_per_asset,
            self.max_region_bps,
            self.max_industry_bps,
            self.max_obligor_bps,
        )

    @classmethod
    def from_chain(cls, values: Sequence[int]) -> PoolCriteria:
        """Criteria from the contract's ``poolCriteria`` tuple."""
        v = [int(x) for x in values]
        names = tuple(n for n, code in ASSET_TYPES.items() if (v[2] >> code) & 1)
        return cls(unix_to_date(v[0]), unix_to_date(v[1]), names, *v[3:])


@dataclass(frozen=True)
class TapeIssue:
    """One problem of a tape: ``row`` is the 1-based data row (``None`` for tape-level issues)."""

    row: int | None
    loan_id: str | None
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        where = "tape" if self.row is None else f"row {self.row}" + (f" ({self.loan_id})" if self.loan_id else "")
        return f"{where}: {self.field}: {self.rule}: {self.message}"


class TapeValidationError(ValueError):
    """The tape has problems; ``issues`` lists every one of them."""

    def __init__(self, issues: Sequence[TapeIssue]):
        self.issues = list(issues)
        lines = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(f"{len(self.issues)} tape issue(s), nothing was sent:\n{lines}")


@dataclass(frozen=True)
class TapeAggregates:
    """Pool aggregates computed from a tape with the contract's integer arithmetic."""

    count: int
    principal: int
    wa_rate_bps: int
    wa_maturity_date: int
    region: dict[int, int] = field(default_factory=dict)
    industry: dict[int, int] = field(default_factory=dict)
    max_obligor: str = ""
    max_obligor_principal: int = 0


def date_to_unix(d: dt.date | pd.Timestamp) -> int:
    """Unix seconds of midnight UTC of ``d``."""
    return int(pd.Timestamp(d).normalize().tz_localize(None).value // 10**9)


def unix_to_date(seconds: int) -> dt.date:
    """UTC date of unix ``seconds``."""
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.UTC).date()


# ---------------------------------------------------------------------------------------------------- I/O


def read_tape(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet tape as it is (no coercion: :func:`validate_tape` checks and types it).

    A file that cannot be read raises :class:`chainabs.model.inputs.InputFileError` (a ``ValueError``), one line
    naming the file and the problem: ``tape.csv: empty file (no header row)``, ``tape.csv: no such file``...
    """
    return read_table(path, what="tape")


def write_tape(tape: pd.DataFrame, path: str | Path) -> Path:
    """Write a tape as CSV or Parquet (by suffix); dates as ISO dates."""
    path = Path(path)
    out = tape.copy()
    for col in DATE_COLUMNS:
        if col in out and pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d") if path.suffix.lower() == ".csv" else out[col]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------------- validation


class _Collector:
    def __init__(self, loan_ids: pd.Series):
        self.loan_ids = loan_ids
        self.parts: list[pd.DataFrame] = []
        self.tape_level: list[TapeIssue] = []

    def add(self, mask: pd.Series | np.ndarray, column: str, rule: str, message: str | Callable[[], pd.Series]) -> None:
        """Record ``rule`` broken in ``column`` at the rows of ``mask``; ``message`` is a text or a function
        giving one text per row (only called when some row breaks the rule)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        msg = message()[mask].astype(str).to_numpy() if callable(message) else message
        self.parts.append(
            pd.DataFrame({"row": idx + 1, "loan_id": self.loan_ids.iloc[idx].to_numpy(), "field": column,
                          "rule": rule, "message": msg})
        )

    def issues(self) -> list[TapeIssue]:
        out = list(self.tape_level)
        if self.parts:
            frame = pd.concat(self.parts, ignore_index=True).sort_values(["row", "field"], kind="stable")
            out.extend(
                TapeIssue(int(r), (str(lid) if lid is not None else None), f, ru, m)
                for r, lid, f, ru, m in frame.itertuples(index=False, name=None)
            )
        return out


def _parse_date(raw: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        parsed = raw.dt.tz_localize(None) if raw.dt.tz is not None else raw
    else:
        parsed = pd.to_datetime(raw.astype(str).str.strip(), errors="coerce", format="%Y-%m-%d")
    bad = parsed.isna().to_numpy()
    return parsed.dt.normalize().astype("datetime64[s]"), bad


def _days(series: pd.Series) -> np.ndarray:
    return series.to_numpy().astype("datetime64[s]").astype("int64")


def validate_tape(
    tape: pd.DataFrame, criteria: PoolCriteria | None = None, *, today: dt.date | None = None
) -> tuple[pd.DataFrame, list[TapeIssue]]:
    """Check a tape and type it: schema, types, ranges, formats, dates, duplicates, then (with ``criteria``)
    the pool's eligibility rules and concentration limits, all vectorized.

    Returns the typed tape (columns of :data:`TAPE_COLUMNS`; dates as ``datetime64``) and every issue found
    (empty when the tape is good). Rows with schema or type problems are not checked further.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    loan_ids = tape["loan_id"].astype(str) if "loan_id" in tape else pd.Series([None] * len(tape), dtype=object)
    issues = _Collector(loan_ids.reset_index(drop=True))
    missing = missing_column_messages(tape.columns, TAPE_COLUMNS, "tape")
    for col, message in missing.items():
        issues.tape_level.append(TapeIssue(None, None, col, "missing_column", message))
    if missing:
        return tape, issues.issues()
    if len(tape) == 0:
        issues.tape_level.append(TapeIssue(None, None, "loan_id", "empty_tape", "the tape has no rows"))
        return tape, issues.issues()
    src = tape.reset_index(drop=True)
    out = pd.DataFrame(index=src.index)
    broken = np.zeros(len(src), dtype=bool)

    # text columns
    lid = src["loan_id"].astype(str)
    bad = ~lid.str.fullmatch(r"[!-~](?:[ -~]{0,30}[!-~])?").to_numpy(dtype=bool, na_value=False)
    issues.add(bad, "loan_id", "format", "must be 1-32 printable ASCII characters without surrounding spaces")
    broken |= bad
    out["loan_id"] = lid
    atype = src["asset_type"].astype(str).str.strip()
    bad = ~atype.isin(list(ASSET_TYPES)).to_numpy()
    issues.add(bad, "asset_type", "type", lambda: "unknown asset type " + atype.map(repr) + f"; one of {sorted(ASSET_TYPES)}")
    broken |= bad
    out["asset_type"] = atype
    for col in HASH_COLUMNS:
        text = src[col].astype(str).str.strip().str.lower()
        bad = ~text.str.fullmatch(r"0x[0-9a-f]{64}").to_numpy(dtype=bool, na_value=False)
        issues.add(bad, col, "format", "must be 0x followed by 64 hex digits")
        broken |= bad
        out[col] = text

    # numbers and dates
    for col in INT_COLUMNS:
        values, bad = parse_int(src[col])
        huge = bad & int64_overflow(src[col])
        issues.add(bad & ~huge, col, "type", lambda: "not an integer: " + src[col].astype(str).map(repr))
        issues.add(huge, col, "range", lambda: src[col].astype(str).str.strip().map(repr)
                   + f" is out of range {range_text(0, INT_MAX[col])}")
        broken |= bad
        neg = ~bad & (values.to_numpy() < 0)
        issues.add(neg, col, "negative", lambda: values.astype(str) + " < 0")
        over = ~bad & (values.to_numpy() > INT_MAX[col])
        issues.add(over, col, "range", lambda: values.astype(str) + f" is out of range {range_text(0, INT_MAX[col])}")
        broken |= neg | over
        out[col] = values
    for col in DATE_COLUMNS:
        values, bad = _parse_date(src[col])
        issues.add(bad, col, "type", lambda: "not a YYYY-MM-DD date: " + src[col].astype(str).map(repr))
        broken |= bad
        out[col] = values

    ok = ~broken
    dup = out["loan_id"].duplicated(keep=False).to_numpy() & ok
    issues.add(dup, "loan_id", "duplicate_loan", lambda: "loan " + out["loan_id"] + " appears more than once")
    p = out["principal"].to_numpy()
    op = out["original_principal"].to_numpy()
    issues.add(ok & (p == 0), "principal", "zero_principal", "outstanding principal is 0")
    issues.add(ok & (op == 0), "original_principal", "zero_principal", "original principal is 0")
    issues.add(ok & (p > op), "principal", "principal_above_original",
               lambda: out["principal"].astype(str) + " > original " + out["original_principal"].astype(str))
    issues.add(ok & (out["term_months"].to_numpy() == 0), "term_months", "term", "term is 0 months")
    orig = _days(out["origination_date"])
    mat = _days(out["maturity_date"])
    today_s = date_to_unix(today)
    issues.add(ok & (orig > today_s), "origination_date", "future_origination",
               lambda: out["origination_date"].dt.strftime("%Y-%m-%d") + f" is after today {today.isoformat()}")
    issues.add(ok & (mat <= orig), "maturity_date", "maturity_before_origination",
               lambda: out["maturity_date"].dt.strftime("%Y-%m-%d") + " is not after origination "
               + out["origination_date"].dt.strftime("%Y-%m-%d"))
    if criteria is not None:
        _check_criteria(out, ok, criteria, issues, orig, mat)
    return out, issues.issues()


def _check_criteria(
    out: pd.DataFrame, ok: np.ndarray, c: PoolCriteria, issues: _Collector, orig: np.ndarray, mat: np.ndarray
) -> None:
    """The pool's eligibility rules (same names and order as the contract's ``Rule``) and concentration."""
    p = out["principal"].to_numpy()
    rate = out["rate_bps"].to_numpy()
    cutoff = date_to_unix(c.cutoff_date)
    legal = date_to_unix(c.legal_final_date)
    issues.add(ok & ~out["asset_type"].isin(c.allowed_asset_types).to_numpy(), "asset_type", "asset_type",
               lambda: out["asset_type"] + f" not allowed (allowed: {', '.join(c.allowed_asset_types)})")
    issues.add(ok & (p > c.max_principal_per_asset), "principal", "principal_cap",
               lambda: out["principal"].astype(str) + f" > cap {c.max_principal_per_asset}")
    issues.add(ok & ((rate < c.min_rate_bps) | (rate > c.max_rate_bps)), "rate_bps", "rate_range",
               lambda: out["rate_bps"].astype(str) + f" bps outside [{c.min_rate_bps}, {c.max_rate_bps}]")
    issues.add(ok & (orig >= cutoff), "origination_date", "origination_after_cutoff",
               lambda: out["origination_date"].dt.strftime("%Y-%m-%d") + f" is not before cut-off {c.cutoff_date}")
    issues.add(ok & (mat <= cutoff), "maturity_date", "matured_at_cutoff",
               lambda: out["maturity_date"].dt.strftime("%Y-%m-%d") + f" is not after cut-off {c.cutoff_date}")
    issues.add(ok & (mat > legal), "maturity_date", "maturity_after_legal_final",
               lambda: out["maturity_date"].dt.strftime("%Y-%m-%d") + f" is after legal final {c.legal_final_date}")
    remaining = mat - cutoff
    too_long = ok & (mat > cutoff) & (remaining > c.max_remaining_term_days * SECONDS_PER_DAY)
    issues.add(too_long, "maturity_date", "remaining_term",
               lambda: pd.Series(remaining // SECONDS_PER_DAY).astype(str) + f" days remaining > {c.max_remaining_term_days}")
    issues.add(ok & (out["days_delinquent"].to_numpy() > c.max_days_delinquent), "days_delinquent", "delinquency",
               lambda: out["days_delinquent"].astype(str) + f" days > {c.max_days_delinquent}")
    total = int(out.loc[ok, "principal"].sum())
    if total == 0:
        return
    for col, limit in (("region", c.max_region_bps), ("industry", c.max_industry_bps),
                       ("obligor", c.max_obligor_bps)):
        sums = out.loc[ok].groupby(col)["principal"].sum()
        breached = sums[sums.astype(object) * BPS > total * limit]
        for bucket, amount in breached.items():
            share = int(amount) * BPS // total
            rows = ok & (out[col] == bucket).to_numpy()
            issues.add(rows, col, "concentration",
                       f"{col} {bucket} holds {share} bps of pool principal > limit {limit} bps")


def check_tape(
    tape: pd.DataFrame, criteria: PoolCriteria | None = None, *, today: dt.date | None = None
) -> pd.DataFrame:
    """The typed tape, or :class:`TapeValidationError` listing every issue."""
    typed, issues = validate_tape(tape, criteria, today=today)
    if issues:
        raise TapeValidationError(issues)
    return typed


# ---------------------------------------------------------------------------------------------------- encoding


def select_eligible(
    book: pd.DataFrame, criteria: PoolCriteria, *, today: dt.date | None = None, rounds: int = 20
) -> pd.DataFrame:
    """The loans of an originator's ``book`` that can be pooled under ``criteria``.

    Rows with any issue are dropped until none is left (dropping loans changes the concentration shares,
    hence the rounds). Raises :class:`TapeValidationError` for tape-level problems (e.g. a missing column).
    """
    tape = book.reset_index(drop=True)
    for _ in range(rounds):
        _, issues = validate_tape(tape, criteria, today=today)
        if not issues:
            return tape
        bad = sorted({i.row - 1 for i in issues if i.row is not None})
        if not bad:
            raise TapeValidationError(issues)
        tape = tape.drop(index=bad).reset_index(drop=True)
    raise TapeValidationError([TapeIssue(None, None, "loan_id", "selection", f"no eligible pool after {rounds} rounds")])


def onboarding_order(tape: pd.DataFrame) -> pd.DataFrame:
    """The order assets are registered in: by obligor, then loan id (the registry sums per-obligor exposure
    over adjacent records). Deterministic, so an interrupted onboarding resumes at the same place."""
    return tape.sort_values(["obligor", "loan_id"], kind="stable").reset_index(drop=True)


def asset_ids(tape: pd.DataFrame, originator: str) -> list[int]:
    """Token ids of every row of a typed tape."""
    return [asset_id(originator, lid) for lid in tape["loan_id"]]


def _columns(tape: pd.DataFrame) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {
        "loan_id": [loan_id_bytes(x) for x in tape["loan_id"]],
        "asset_type": [ASSET_TYPES[x] for x in tape["asset_type"]],
    }
    for col in INT_COLUMNS:
        cols[col] = tape[col].astype("int64").tolist()
    for col in DATE_COLUMNS:
        cols[col] = _days(tape[col]).tolist()
    for col in HASH_COLUMNS:
        cols[col] = [bytes.fromhex(x[2:]) for x in tape[col]]
    return cols


def to_records(tape: pd.DataFrame) -> list[tuple[Any, ...]]:
    """``AssetRecord`` tuples (calldata of ``registerAndPool``) of a typed tape, in its row order."""
    cols = _columns(tape)
    return list(zip(*(cols[c] for c in TAPE_COLUMNS), strict=True))


def pack_records(tape: pd.DataFrame) -> list[tuple[bytes, int, int, bytes, bytes, bytes]]:
    """``PackedRecord`` tuples (calldata of ``registerAndPool``) of a typed tape, in its row order."""
    return [pack_record(rec) for rec in to_records(tape)]


def leaf_values(tape: pd.DataFrame, originator: str) -> list[tuple[Any, ...]]:
    """Leaf values ``(originator, *record)`` of a typed tape, for ``MerkleTree.of(values, LEAF_TYPES)``."""
    return [(originator, *rec) for rec in to_records(tape)]


def encode_leaves(tape: pd.DataFrame, originator: str) -> np.ndarray:
    """``abi.encode(originator, record...)`` of every row as an (n, 32 * len(LEAF_TYPES)) uint8 array
    (vectorized equivalent of ``eth_abi.encode(LEAF_TYPES, value)``)."""
    n = len(tape)
    words = np.zeros((n, len(LEAF_TYPES), 32), dtype=np.uint8)
    words[:, 0, 12:] = np.frombuffer(bytes.fromhex(originator[2:]), dtype=np.uint8)
    words[:, 1, :] = np.frombuffer(b"".join(loan_id_bytes(x) for x in tape["loan_id"]), np.uint8).reshape(n, 32)
    ints = {
        "asset_type": tape["asset_type"].map(ASSET_TYPES).to_numpy(dtype=np.int64),
        **{c: tape[c].to_numpy(dtype=np.int64) for c in INT_COLUMNS},
        **{c: _days(tape[c]) for c in DATE_COLUMNS},
    }
    for pos, (name, typ) in enumerate(LEAF_FIELDS):
        if name in ints:
            words[:, pos, 24:] = ints[name].astype(">u8").view(np.uint8).reshape(n, 8)
        elif name in HASH_COLUMNS:
            words[:, pos, :] = np.frombuffer(
                bytes.fromhex("".join(x[2:] for x in tape[name])), np.uint8
            ).reshape(n, 32)
    return words.reshape(n, -1)


def leaf_hashes(tape: pd.DataFrame, originator: str) -> list[bytes]:
    """StandardMerkleTree leaf of every row (same as the registry's ``leafOf``)."""
    encoded = encode_leaves(tape, originator)
    return [hash_encoded_leaf(row.tobytes()) for row in encoded]


def leaf_chain(leaves: Sequence[bytes], start: bytes = bytes(32)) -> bytes:
    """Running hash ``h = keccak256(h ++ leaf)`` over ``leaves`` (the registry's ``leafChain``)."""
    h = start
    for leaf in leaves:
        h = keccak(h + leaf)
    return h


def tape_tree(tape: pd.DataFrame, originator: str) -> MerkleTree:
    """StandardMerkleTree of a typed tape (values in row order, leaf encoding :data:`LEAF_TYPES`)."""
    return MerkleTree.from_leaf_hashes(leaf_hashes(tape, originator), leaf_values(tape, originator), LEAF_TYPES)


def aggregates(tape: pd.DataFrame) -> TapeAggregates:
    """Count, principal, weighted averages (rounded down), bucket sums and largest obligor exposure of a typed
    tape: what the registry holds for the pool at seal."""
    p = [int(x) for x in tape["principal"].tolist()]
    total = sum(p)
    rate_w = sum(a * int(b) for a, b in zip(p, tape["rate_bps"].tolist(), strict=True))
    mat_w = sum(a * int(b) for a, b in zip(p, _days(tape["maturity_date"]).tolist(), strict=True))
    by_obligor = tape.groupby("obligor")["principal"].sum()
    top = by_obligor[by_obligor == by_obligor.max()].sort_index()
    return TapeAggregates(
        count=len(tape),
        principal=total,
        wa_rate_bps=rate_w // total if total else 0,
        wa_maturity_date=mat_w // total if total else 0,
        region={int(k): int(v) for k, v in tape.groupby("region")["principal"].sum().items()},
        industry={int(k): int(v) for k, v in tape.groupby("industry")["principal"].sum().items()},
        max_obligor=str(top.index[0]) if len(top) else "",
        max_obligor_principal=int(top.iloc[0]) if len(top) else 0,
    )
