"""Loan-level servicing tapes: the format, their validation, their commitment as a Merkle sum tree, their
aggregation into the period report, the registry updates that must precede the report, and the allocation of a
pool-level projection to loans (the synthetic servicer of the demo and the tests).

Each period the servicer produces one row per loan of the pool (every loan still in it, also those already
repaid, prepaid or whose recovery is closed, so that the tape is the whole pool), brings the asset registry in
line with it (:func:`registry_updates`: status changes, the balances of late and defaulted loans, recoveries, each
update carrying the loan's leaf hash as evidence), then submits the tape's aggregates as the ``PeriodReport``
with the tape's sum-tree commitment (:func:`tape_tree`, ``interfaces/IServicing.sol``). The SPV accepts the
report only when its figures equal the commitment's totals and the registry's tallies and flows; anyone holding
the tape can prove a false leaf or sum on chain (``ServicingCourt``).

Servicing tape columns (one row per loan; amounts in the currency's base units):

==================== ======= =========================================================================
column               type    meaning
==================== ======= =========================================================================
period               int     the period the tape reports (1-based, as ``ReportSubmitted.period``)
loan_id              str     the originator's loan number, as in the cut-off tape
status               str     the registry's ``AssetStatus`` name at the period end: Performing,
                             Delinquent30/60/90, Defaulted, InRecovery, Repossessed, Prepaid, Repaid,
                             Disposed, ChargedOff
days_delinquent      int     days past due at the period end (consistent with an active ``status``)
beginning_principal  int     outstanding principal at the start (of a loan in recovery: its claim)
scheduled_principal  int     scheduled principal collected
prepaid_principal    int     unscheduled principal collected (full prepayments and curtailments)
defaulted_principal  int     principal that defaulted this period (the whole loan: defaults are whole);
                             of an active loan: a dilution written off (a credit note or dispute as a loss)
ending_principal     int     at the end: the outstanding principal, or the claim left on a defaulted loan
interest_collected   int     interest collected
recoveries           int     cash recovered on a defaulted loan (payments, collateral sale proceeds)
==================== ======= =========================================================================

Balance rules per row (``interfaces/IServicing.sol``, checked on chain by ``ServicingCourt``):
an active loan (Performing .. Delinquent90) has ``beginning = scheduled + prepaid + defaulted + ending`` (its
defaulted principal: a dilution written off), ending > 0, no recoveries; a prepaid or repaid loan ``beginning = scheduled + prepaid``, ending 0; a loan that defaulted this
period ``beginning = scheduled + prepaid + defaulted`` and a claim ``ending <= defaulted``; a loan already in
recovery no scheduled or prepaid principal and ``ending <= beginning`` (0 once Disposed or ChargedOff).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from chainabs.model.assets import (
    ACTIVE_STATUSES, CLOSED_STATUSES, RECOVERING_STATUSES, STATUS_CODE, STATUSES, asset_id, status_for_days,
)
from chainabs.model.inputs import PARQUET_SUFFIXES, missing_column_messages, read_csv, read_parquet
from chainabs.model.numbers import format_amount, int64_overflow, parse_int, range_text
from chainabs.model.servicing_tree import LoanLeaf, SumTree, leaf_hash
from chainabs.model.tape import TapeIssue, TapeValidationError
from chainabs.model.waterfall import PeriodReport

#: Statuses a loan can have in a servicing tape (all but None and Repurchased: a loan bought back leaves the tape).
TAPE_STATUSES: tuple[str, ...] = tuple(s for s in STATUSES if s not in ("None", "Repurchased"))
#: Delinquency buckets of the ``PeriodReport`` by status.
BUCKET_OF_STATUS: dict[str, str] = {"Delinquent30": "delinquent_30", "Delinquent60": "delinquent_60",
                                    "Delinquent90": "delinquent_90_plus"}
#: The closing status of a resolved recovery: a secured loan's collateral is sold, an unsecured loan charged off.
RESOLVED_STATUS: dict[bool, str] = {True: "Disposed", False: "ChargedOff"}

SERVICING_COLUMNS: tuple[str, ...] = (
    "period", "loan_id", "status", "days_delinquent", "beginning_principal", "scheduled_principal",
    "prepaid_principal", "defaulted_principal", "ending_principal", "interest_collected", "recoveries",
)
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
    "pool_ending_balance": "sum(ending_principal) where status is Performing .. Delinquent90",
}
#: Registry state columns (:func:`registry_updates`): per loan its registry status name and principal.
REGISTRY_COLUMNS: tuple[str, ...] = ("loan_id", "status", "principal")


class ServicingError(ValueError):
    """A servicing tape cannot be built from the inputs (e.g. recoveries but no loan ever defaulted)."""


# ---------------------------------------------------------------------------------------------- format


def validate_servicing_tape(tape: pd.DataFrame, period: int | None = None) -> tuple[pd.DataFrame, list[TapeIssue]]:
    """Type a servicing tape and list every problem (row numbers 1-based, naming field and rule).

    Checks: columns, integer types and ranges, loan id format and duplicates, status names, one period
    (equal to ``period`` if given), the balance identity, status against days delinquent and balance.
    """
    issues: list[TapeIssue] = []
    missing = missing_column_messages(tape.columns, SERVICING_COLUMNS, "tape")
    if missing:
        return tape, [TapeIssue(None, None, c, "missing_column", message) for c, message in missing.items()]
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
        huge = bad & int64_overflow(src[col])
        add(bad & ~huge, col, "type", "not an integer: " + src[col].astype(str).map(repr))
        add(huge, col, "range", src[col].astype(str).str.strip().map(repr)
            + f" is out of range {range_text(0, _INT_MAX[col])}")
        neg = ~bad & (ints.to_numpy() < 0)
        add(neg, col, "negative", ints.astype(str) + " < 0")
        over = ~bad & (ints.to_numpy() > _INT_MAX[col])
        add(over, col, "range", ints.astype(str) + f" is out of range {range_text(0, _INT_MAX[col])}")
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
    _balance_rules(out, ok, add)
    issues.sort(key=lambda i: (i.row or 0, i.field))
    return out, issues


def _balance_rules(t: pd.DataFrame, ok: np.ndarray, add: object) -> None:
    """The per-row balance rules of the module docstring (``ServicingCourt``'s identity), plus: defaults are whole
    loans (an active loan has no defaulted principal), status against days past due for active loans."""
    col = {c: t[c].to_numpy(dtype=np.int64) for c in AMOUNT_COLUMNS}
    begin, sched, prep, dflt = col["beginning_principal"], col["scheduled_principal"], col["prepaid_principal"], \
        col["defaulted_principal"]
    end, recov = col["ending_principal"], col["recoveries"]
    status = t["status"]
    active = status.isin(ACTIVE_STATUSES).to_numpy()
    paid = status.isin(("Prepaid", "Repaid")).to_numpy()
    recovering = status.isin(RECOVERING_STATUSES).to_numpy()
    closed_after_default = status.isin(("Disposed", "ChargedOff")).to_numpy()
    after_default = recovering | closed_after_default
    new_default = after_default & (dflt > 0)
    text = {c: t[c].astype(str) for c in AMOUNT_COLUMNS}

    def check(mask: np.ndarray, fld: str, rule: str, message: str | pd.Series) -> None:
        add(ok & mask, fld, rule, message)  # type: ignore[operator]

    out = sched + prep
    # An active loan's defaulted principal is a dilution written off (a credit note or dispute counted as a loss,
    # recorded by the servicing court): the loan stays in the pool with the rest.
    check(active & (out + dflt + end != begin), "ending_principal", "balance_identity",
          "beginning " + text["beginning_principal"] + " != scheduled + prepaid + diluted + ending = "
          + pd.Series(out + dflt + end).astype(str))
    check(active & (end == 0), "ending_principal", "active_zero_balance",
          "an active loan must have an outstanding principal; zero balance is Repaid or Prepaid")
    check(paid & (dflt != 0), "defaulted_principal", "whole_loan_default",
          "defaults are whole loans: a loan that defaults has status Defaulted (or a later recovery status)")
    check((active | paid) & (recov != 0), "recoveries", "recovery_without_default",
          "recoveries come only from a defaulted loan")
    check(paid & (out != begin), "ending_principal", "balance_identity",
          "a " + status + " loan pays its whole beginning " + text["beginning_principal"] + ", not "
          + pd.Series(out).astype(str))
    check(paid & (end != 0), "ending_principal", "closed_with_balance",
          status + " loan still has " + text["ending_principal"] + " outstanding")
    check(new_default & (out + dflt != begin), "defaulted_principal", "balance_identity",
          "beginning " + text["beginning_principal"] + " != scheduled + prepaid + defaulted = "
          + pd.Series(out + dflt).astype(str))
    check(new_default & (end > dflt), "ending_principal", "claim_above_default",
          "the claim " + text["ending_principal"] + " is above the defaulted principal " + text["defaulted_principal"])
    check(after_default & (dflt == 0) & (out != 0), "scheduled_principal", "recovery_collections",
          "a loan in recovery collects no scheduled or prepaid principal; its cash is recoveries")
    check(after_default & (dflt == 0) & (end > begin), "ending_principal", "claim_increase",
          "the claim " + text["ending_principal"] + " is above the beginning claim " + text["beginning_principal"])
    check(closed_after_default & (end != 0), "ending_principal", "closed_with_balance",
          status + " loan still has a claim of " + text["ending_principal"])
    expected = pd.Series(status_for_days(t["days_delinquent"]), index=t.index)
    check(active & (expected != status).to_numpy(), "days_delinquent", "status_days",
          t["days_delinquent"].astype(str) + " days past due is " + expected + ", not " + status)


def check_servicing_tape(tape: pd.DataFrame, period: int | None = None) -> pd.DataFrame:
    """The typed servicing tape, or :class:`chainabs.model.tape.TapeValidationError` listing every issue."""
    typed, issues = validate_servicing_tape(tape, period)
    if issues:
        raise TapeValidationError(issues)
    return typed


def read_servicing_tape(path: str | Path) -> pd.DataFrame:
    """A servicing tape from CSV or Parquet (untyped: :func:`check_servicing_tape` types it); a file that cannot
    be read raises :class:`chainabs.model.inputs.InputFileError`, one line naming the file and the problem."""
    path = Path(path)
    return read_parquet(path) if path.suffix.lower() in PARQUET_SUFFIXES else read_csv(path)  # any other suffix: CSV


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


@dataclasses.dataclass(frozen=True)
class CommittedTape:
    """A period's typed tape with its sum tree: leaves sorted by asset id (``interfaces/IServicing.sol``)."""

    tape: pd.DataFrame
    tree: SumTree
    loan_ids: tuple[str, ...]  # in leaf order
    index: Mapping[str, int]  # loan id -> leaf position

    @property
    def period(self) -> int:
        return self.tree.period

    @property
    def commitment(self) -> tuple[bytes, tuple[int, ...]]:
        """``ServicingCommitment`` (root, sums) as ``SPV.submitReport`` takes it."""
        return self.tree.commitment

    @property
    def report(self) -> PeriodReport:
        """The period report the tape aggregates to (:func:`period_report`): the tree's totals."""
        return _report(self.tape)

    def leaf(self, loan_id: str) -> LoanLeaf:
        return self.tree.leaves[self.index[str(loan_id)]]

    def evidence(self, loan_id: str) -> bytes:
        """The loan's leaf hash: the evidence of its registry updates this period."""
        return leaf_hash(self.period, self.leaf(loan_id))


def commit_tape(tape: pd.DataFrame, originator: str, period: int | None = None) -> CommittedTape:
    """Validate ``tape`` and build its sum tree (leaves sorted by the asset ids ``originator`` registered)."""
    t = check_servicing_tape(tape, period)
    ids = [asset_id(originator, str(lid)) for lid in t["loan_id"]]
    order = sorted(range(len(t)), key=ids.__getitem__)
    cols = {c: t[c].to_numpy(dtype=np.int64) for c in AMOUNT_COLUMNS}
    codes = t["status"].map(STATUS_CODE).to_numpy()
    leaves = [
        LoanLeaf(k, ids[i], int(codes[i]), int(cols["beginning_principal"][i]), int(cols["scheduled_principal"][i]),
                 int(cols["prepaid_principal"][i]), int(cols["defaulted_principal"][i]), int(cols["ending_principal"][i]),
                 int(cols["interest_collected"][i]), int(cols["recoveries"][i]))
        for k, i in enumerate(order)
    ]
    loan_ids = tuple(str(t["loan_id"].iloc[i]) for i in order)
    return CommittedTape(t, SumTree(int(t["period"].iloc[0]), leaves), loan_ids, {lid: k for k, lid in enumerate(loan_ids)})


def period_report(tape: pd.DataFrame) -> PeriodReport:
    """The ``PeriodReport`` a servicing tape aggregates to (see :data:`AGGREGATE_RULES`)."""
    return _report(check_servicing_tape(tape))


def _report(t: pd.DataFrame) -> PeriodReport:

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
        pool_ending_balance=total("ending_principal", t["status"].isin(ACTIVE_STATUSES)),
    )


# ------------------------------------------------------------------------------------------ registry


@dataclasses.dataclass(frozen=True)
class RegistryUpdate:
    """One ``IAssetRegistry.StatusUpdate``; ``recovery`` marks a step of a defaulted loan's recovery (which the
    pool's disposal agent may send)."""

    loan_id: str
    asset_id: int
    status: str
    principal: int
    evidence: bytes
    recovered: int = 0
    recovery: bool = False

    def as_abi(self) -> tuple:
        return (self.asset_id, STATUS_CODE[self.status], self.principal, self.evidence, self.recovered)


def cutoff_registry(cutoff: pd.DataFrame) -> pd.DataFrame:
    """The registry's state of a pool at its cut-off tape (status from days past due, principal)."""
    return pd.DataFrame({
        "loan_id": cutoff["loan_id"].astype(str).to_numpy(),
        "status": status_for_days(cutoff["days_delinquent"].astype("int64").to_numpy()),
        "principal": cutoff["principal"].astype("int64").to_numpy(),
    })


def _legal(frm: str, to: str) -> bool:
    """``AssetLib.isLegalTransition``."""
    if frm in RECOVERING_STATUSES:
        if to in ("Disposed", "ChargedOff"):
            return True
        return to in RECOVERING_STATUSES and RECOVERING_STATUSES.index(to) >= RECOVERING_STATUSES.index(frm)
    if frm not in ACTIVE_STATUSES or to in ("None", "Repurchased") or STATUS_CODE[to] > STATUS_CODE["Repurchased"]:
        return False
    if to in ACTIVE_STATUSES and STATUS_CODE[to] > STATUS_CODE[frm]:
        return STATUS_CODE[to] - STATUS_CODE[frm] == 1
    return True


def registry_updates(state: pd.DataFrame, committed: CommittedTape,
                     recorded: Mapping[int, int] | Iterable[int] = ()) -> list[RegistryUpdate]:
    """The ``updateAssets`` entries that bring the registry (``state``: :data:`REGISTRY_COLUMNS`) in line with
    the period's tape, so that the report's figures equal the registry's tallies and flows:

    * a late loan's status and balance (its principal counts in its bucket's tally); a cured loan's status;
      a performing loan's balance may lag (the registry only holds it at or above the tape's);
    * a loan that closes (prepaid, repaid) or defaults first gets its balance just before the event (what the
      registry adds to its prepaid / repaid / defaulted flows), then its new status (principal 0, or the claim);
    * a defaulted loan's recovery steps, claim and cash recovered (``recovery``).

    Each entry carries the loan's leaf hash as evidence. ``recorded``: the recovered cash already on chain for
    this period, asset id -> amount (or asset ids whose whole recovery is): a run resumed, or run again with a
    corrected tape or after a cancelled report, sends only the rest, and a loan whose recorded recoveries are
    above its tape's is refused by name (the registry's recoveries never go down). Entries of a loan are in the
    order they must run; the result is idempotent: run against the registry after some of them ran, it returns
    the rest."""
    reg = state.set_index(state["loan_id"].astype(str))
    if isinstance(recorded, Mapping):
        already = {int(a): int(v) for a, v in recorded.items()}
    else:  # asset ids whose whole recovery of the period is on chain
        already = {int(a): -1 for a in recorded}
    out: list[RegistryUpdate] = []
    t = committed.tape
    for row in t.itertuples(index=False):
        lid = str(row.loan_id)
        if lid not in reg.index:
            raise ServicingError(f"loan {lid}: in the tape but not in the pool's registry state")
        have, principal = str(reg.at[lid, "status"]), int(reg.at[lid, "principal"])
        want, end = str(row.status), int(row.ending_principal)
        aid = committed.leaf(lid).asset_id

        def upd(status: str, amount: int, recovered: int = 0, recovery: bool = False, *, frm: str) -> None:
            if not _legal(frm, status):
                raise ServicingError(f"loan {lid}: the registry cannot move from {frm} to {status}")
            out.append(RegistryUpdate(lid, aid, status, amount, committed.evidence(lid), recovered, recovery))

        if want in ACTIVE_STATUSES:
            if have not in ACTIVE_STATUSES:
                raise ServicingError(f"loan {lid}: {want} in the tape but {have} in the registry")
            if end > principal:
                raise ServicingError(f"loan {lid}: balance {end} above the registry's {principal} (it cannot grow)")
            if have != want or (want != "Performing" and principal != end):
                upd(want, end, frm=have)
            continue
        closing, dflt = want in ("Prepaid", "Repaid"), int(row.defaulted_principal)
        if (closing or dflt > 0) and have in ACTIVE_STATUSES:
            # The balance just before the event: what the registry adds to the pool's flows.
            before = (int(row.beginning_principal) - int(row.scheduled_principal) if want == "Prepaid"
                      else int(row.beginning_principal) - int(row.prepaid_principal) if want == "Repaid" else dflt)
            if before > principal:
                raise ServicingError(f"loan {lid}: balance {before} above the registry's {principal} (it cannot grow)")
            if before != principal:
                upd(have, before, frm=have)
            if closing:
                upd(want, 0, frm=have)
                continue
            claim = end if want == "Defaulted" else dflt
            upd("Defaulted", claim, frm=have)
            have, principal = "Defaulted", claim
        elif closing:
            if have != want:
                raise ServicingError(f"loan {lid}: {want} in the tape but {have} in the registry")
            continue
        # A defaulted loan: its recovery step, claim and cash (less what is on chain for the period already).
        recovered, on_chain = int(row.recoveries), already.get(aid, 0)
        if on_chain > recovered:
            raise ServicingError(f"loan {lid}: the registry already holds recoveries of {on_chain} this period, above "
                                 f"the tape's {recovered} (recorded recoveries cannot be taken back)")
        rest = 0 if on_chain < 0 else recovered - on_chain
        if have == want and principal == end and rest == 0:
            continue
        if have not in RECOVERING_STATUSES:
            raise ServicingError(f"loan {lid}: {want} in the tape but {have} in the registry")
        if end > principal:
            raise ServicingError(f"loan {lid}: claim {end} above the registry's {principal} (it cannot grow)")
        upd(want, end, rest, True, frm=have)
    return out


def apply_updates(state: pd.DataFrame, updates: Iterable[RegistryUpdate]) -> pd.DataFrame:
    """``state`` after ``updates`` ran (the last entry of each loan wins)."""
    out = state.copy()
    pos = {lid: i for i, lid in enumerate(out["loan_id"].astype(str))}
    status = out["status"].astype(object).to_numpy().copy()
    principal = out["principal"].to_numpy(dtype=np.int64).copy()
    for u in updates:
        i = pos[u.loan_id]
        status[i], principal[i] = u.status, u.principal
    out["status"], out["principal"] = status, principal
    return out


def without_loans(frame: pd.DataFrame, loan_ids: Iterable[str]) -> pd.DataFrame:
    """``frame`` (a tape or a registry state) without ``loan_ids`` (loans bought back out of the pool)."""
    drop = {str(x) for x in loan_ids}
    return frame[~frame["loan_id"].astype(str).isin(drop)].reset_index(drop=True)


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


def quiet_period(previous: pd.DataFrame, period: int) -> pd.DataFrame:
    """The tape of a period in which nothing happens to any loan (a starting point for building a period by
    hand): every balance and claim carried over, no flows."""
    prev = previous.reset_index(drop=True)
    status = prev["status"].astype(str)
    carried = status.isin(ACTIVE_STATUSES) | status.isin(RECOVERING_STATUSES)
    balance = np.where(carried, prev["ending_principal"].to_numpy(dtype=np.int64), 0)
    zeros = np.zeros(len(prev), dtype=np.int64)
    return pd.DataFrame({
        "period": np.full(len(prev), period, dtype=np.int64), "loan_id": prev["loan_id"].astype(str).to_numpy(),
        "status": status.to_numpy(dtype=object), "days_delinquent": prev["days_delinquent"].to_numpy(dtype=np.int64),
        "beginning_principal": balance, "scheduled_principal": zeros, "prepaid_principal": zeros,
        "defaulted_principal": zeros, "ending_principal": balance, "interest_collected": zeros, "recoveries": zeros,
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


def allocate_period(previous: pd.DataFrame, rates: pd.Series, report: PeriodReport, period: int, *,
                    default_period: np.ndarray | None = None, secured: bool = False, seed: int = 0) -> pd.DataFrame:
    """A loan-level tape for ``period`` that realises a pool-level projection ``report`` loan by loan; submit its
    own :func:`period_report` (the flows are whole-loan events, so some figures can only be approached).

    ``previous``: last period's tape (or :func:`opening_tape`); ``rates``: the loans' rates (bps) by loan id;
    ``default_period``: per loan of ``previous`` the period it defaulted in (-1: never); ``secured``: whether a
    recovery goes through repossession and a collateral sale (Disposed) or is charged off after collection.

    * defaults take whole active loans, the most delinquent first (seeded order within a bucket), a loan taken
      when the remaining target is at least half its balance: the total lands within half a loan of the target;
    * prepayments take whole performing loans in a seeded order, then curtail one: exact;
    * delinquency: each active loan moves at most one bucket worse (as the registry requires) or cures; the
      buckets are filled as close to the report's as whole loans allow; late loans pay nothing this period;
    * scheduled principal is shared by the performing loans' balances, interest by balance x rate among the
      loans that paid (largest remainder): exact;
    * recoveries close the oldest cohort of defaulted loans first, shared by claim (capped at each claim); every
      loan of a cohort reached closes (Disposed or ChargedOff); others advance one recovery step (Defaulted ->
      InRecovery -> Repossessed when secured) with their claim unchanged.
    """
    prev = previous.reset_index(drop=True)
    n = len(prev)
    since = np.full(n, -1, dtype=np.int64) if default_period is None else np.asarray(default_period, dtype=np.int64)
    rng_order = np.random.default_rng([seed, period]).permutation(n)
    status0 = prev["status"].astype(str).to_numpy()
    active0 = np.isin(status0, ACTIVE_STATUSES)
    recovering0 = np.isin(status0, RECOVERING_STATUSES)
    begin = np.where(active0 | recovering0, prev["ending_principal"].to_numpy(dtype=np.int64), 0)
    bucket = np.select([status0 == s for s in ACTIVE_STATUSES], [0, 1, 2, 3], default=-1)
    status = status0.astype(object).copy()
    zeros = np.zeros(n, dtype=np.int64)
    defaulted, prepaid, scheduled, interest, recoveries = zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy(), \
        zeros.copy()

    left = int(report.defaults)
    for i in sorted(np.flatnonzero(active0 & (begin > 0)), key=lambda k: (-bucket[k], rng_order[k])):
        if left <= 0:
            break
        if 2 * left >= begin[i]:
            defaulted[i] = begin[i]
            left -= int(begin[i])
            status[i] = "Defaulted"
    live = active0 & (defaulted == 0)

    left = int(report.prepayments)
    for pool in (live & (bucket == 0), live & (bucket > 0)):  # performing loans first
        for i in sorted(np.flatnonzero(pool), key=lambda k: rng_order[k]):
            if left == 0:
                break
            take = min(left, int(begin[i] - prepaid[i]))
            prepaid[i] += take
            left -= take
            if prepaid[i] == begin[i]:
                status[i] = "Prepaid"
    live &= prepaid < begin
    avail = begin - prepaid

    new_bucket = np.where(live, 0, -1)
    for k, target in ((3, report.delinquent_90_plus), (2, report.delinquent_60), (1, report.delinquent_30)):
        room = int(target)
        for i in sorted((i for i in np.flatnonzero(live) if bucket[i] >= k - 1 and new_bucket[i] == 0),
                        key=lambda j: (-bucket[j], rng_order[j])):
            if avail[i] <= room:
                new_bucket[i] = k
                room -= int(avail[i])
    paying = live & (new_bucket == 0)
    if paying.any():
        want = min(int(report.scheduled_principal), int(avail[paying].sum()))
        scheduled[paying] = _largest_remainder(want, avail[paying], caps=avail[paying])
    ending = np.where(live, avail - scheduled, 0)
    for i in np.flatnonzero(live):
        status[i] = "Repaid" if ending[i] == 0 else ACTIVE_STATUSES[int(new_bucket[i])]
    paid = (paying | np.isin(status, ("Prepaid",))) & (defaulted == 0) & active0
    if paid.any() and report.interest_collections:
        loan_rates = rates.reindex(prev["loan_id"].astype(str)).to_numpy(dtype=np.int64)
        weights = (begin[paid].astype(object) * loan_rates[paid].astype(object))
        interest[paid] = _largest_remainder(int(report.interest_collections), weights)

    ending = np.where(recovering0, begin, ending)
    ending = np.where(defaulted > 0, defaulted, ending)  # a new default's claim: the whole loan
    left = int(report.recoveries)
    cohorts = sorted({int(since[i]) for i in np.flatnonzero(recovering0)})
    for cohort in cohorts:
        members = np.flatnonzero(recovering0 & (since == cohort))
        if left == 0:
            break
        claims = begin[members]
        share = _largest_remainder(min(left, int(claims.sum())), claims, caps=claims)
        recoveries[members] = share
        left -= int(share.sum())
        for i in members:
            status[i] = RESOLVED_STATUS[secured]
            ending[i] = 0
    for i in np.flatnonzero(recovering0 & np.isin(status, RECOVERING_STATUSES)):
        if status[i] == "Defaulted":
            status[i] = "InRecovery"
        elif status[i] == "InRecovery" and secured:
            status[i] = "Repossessed"
    days = np.where(np.isin(status, ACTIVE_STATUSES), 30 * np.maximum(new_bucket, 0), 0).astype(np.int64)
    return pd.DataFrame({
        "period": np.full(n, period, dtype=np.int64), "loan_id": prev["loan_id"].astype(str).to_numpy(),
        "status": status, "days_delinquent": days, "beginning_principal": begin.astype(np.int64),
        "scheduled_principal": scheduled, "prepaid_principal": prepaid, "defaulted_principal": defaulted,
        "ending_principal": ending.astype(np.int64), "interest_collected": interest.astype(np.int64),
        "recoveries": recoveries.astype(np.int64),
    })


@dataclasses.dataclass
class ServicingBook:
    """The servicer's loan-level books across periods: the last tape, when each defaulted loan defaulted, and
    the registry's state of the pool as the servicer last left it."""

    rates: pd.Series
    last: pd.DataFrame
    default_period: np.ndarray
    registry: pd.DataFrame
    secured: bool = False
    seed: int = 0

    @classmethod
    def open(cls, cutoff: pd.DataFrame, seed: int = 0, *, secured: bool = False) -> ServicingBook:
        """Books at the cut-off date of a (typed) cut-off tape."""
        rates = cutoff.set_index(cutoff["loan_id"].astype(str))["rate_bps"].astype("int64")
        return cls(rates, opening_tape(cutoff), np.full(len(cutoff), -1, dtype=np.int64), cutoff_registry(cutoff),
                   secured, seed)

    @property
    def period(self) -> int:
        """The last period the books hold (0 at the cut-off)."""
        return int(self.last["period"].iloc[0]) if len(self.last) else 0

    def next_period(self, report: PeriodReport) -> pd.DataFrame:
        """The next period's tape from a pool-level projection (:func:`allocate_period`); the books advance."""
        period = self.period + 1
        return self.adopt(allocate_period(self.last, self.rates, report, period, default_period=self.default_period,
                                          secured=self.secured, seed=self.seed))

    def adopt(self, tape: pd.DataFrame) -> pd.DataFrame:
        """Take ``tape`` (the next period's, for the same loans in the same order) as the books' last."""
        t = check_servicing_tape(tape, self.period + 1)
        if t["loan_id"].astype(str).tolist() != self.last["loan_id"].astype(str).tolist():
            raise ServicingError(f"period {self.period + 1}: the tape's loans are not the books' loans")
        self.default_period = np.where(t["defaulted_principal"].to_numpy() > 0, self.period + 1, self.default_period)
        self.last = t
        return t

    def add(self, bought: pd.DataFrame) -> None:
        """Receivables bought into the pool during the books' last period (a revolving purchase, typed tape):
        they join the books at their purchase principal, as a cut-off tape's loans do, and every later tape."""
        known = set(self.last["loan_id"].astype(str))
        again = [str(x) for x in bought["loan_id"] if str(x) in known]
        if again:
            raise ServicingError(f"loans already in the books: {', '.join(again[:5])}")
        opening = opening_tape(bought.reset_index(drop=True))
        opening["period"] = self.period
        rates = bought.set_index(bought["loan_id"].astype(str))["rate_bps"].astype("int64")
        self.rates = pd.concat([self.rates, rates])
        self.last = pd.concat([self.last, opening], ignore_index=True)
        self.default_period = np.concatenate([self.default_period, np.full(len(bought), -1, dtype=np.int64)])
        self.registry = pd.concat([self.registry, cutoff_registry(bought)], ignore_index=True)

    def remove(self, loan_id: str) -> None:
        """A loan bought back out of the pool: it leaves the books (and every later tape)."""
        keep = self.last["loan_id"].astype(str) != str(loan_id)
        if keep.all():
            raise ServicingError(f"loan {loan_id} is not in the books")
        self.default_period = self.default_period[keep.to_numpy()]
        self.last = self.last[keep].reset_index(drop=True)
        self.registry = without_loans(self.registry, [loan_id])


# --------------------------------------------------------------------------------------- proving faults

#: ``ChallengeKind`` names (``interfaces/IServicing.sol``), in code order.
CHALLENGE_KINDS: tuple[str, ...] = (
    "SumMismatch", "NotInPool", "StatusMismatch", "PrincipalMismatch", "BrokenIdentity", "Discontinuity",
    "OutOfOrder", "Gap", "UnbookedDilution",
)


@dataclasses.dataclass(frozen=True)
class Fault:
    """A fault of a committed tape that ``ServicingCourt`` can prove: its ``ChallengeKind`` name, the loan, and
    what is wrong in words."""

    kind: str
    loan_id: str
    detail: str
    #: how it is proven, where a kind has several proofs: ``"purchase"`` for a ``Discontinuity`` against the
    #: receivable's purchase record (``challengePurchase``; else the previous period's tape or, in period 1, the
    #: cut-off tape), ``"missing"`` for a ``Gap`` that is a pool asset left out of the tape (``challengeMissing``)
    via: str = ""


def leaf_faults(committed: CommittedTape, state: pd.DataFrame) -> list[Fault]:
    """The leaves that contradict the registry (``ServicingCourt.challengeLeaf``): ``state`` has per loan its
    registry ``status`` (``"NotInPool"`` for an asset of another pool or none) and ``principal``. A performing
    loan's leaf may show less than the registry (balances of performing loans lag), never more; any other
    status shows exactly the registry's principal (the claim of a defaulted loan)."""
    reg = state.set_index(state["loan_id"].astype(str))
    out: list[Fault] = []
    for lid in committed.loan_ids:
        leaf = committed.leaf(lid)
        status = STATUSES[leaf.status]
        if lid not in reg.index or str(reg.at[lid, "status"]) in ("NotInPool", "None", "Repurchased"):
            out.append(Fault("NotInPool", lid, "the asset is not in the deal's pool"))
            continue
        have, principal = str(reg.at[lid, "status"]), int(reg.at[lid, "principal"])
        if have != status:
            out.append(Fault("StatusMismatch", lid, f"the tape says {status}, the registry {have}"))
        elif leaf.ending > principal if status == "Performing" else leaf.ending != principal:
            out.append(Fault("PrincipalMismatch", lid, f"the tape's ending principal {leaf.ending} against the "
                                                       f"registry's {principal}"))
    return out


def continuity_faults(committed: CommittedTape, previous: pd.DataFrame) -> list[Fault]:
    """Loans whose beginning principal is not their ending principal in ``previous`` (last period's tape, or
    :func:`opening_tape` of the cut-off tape for period 1): ``challengeContinuity`` / ``challengeCutoff``."""
    before = dict(zip(previous["loan_id"].astype(str), previous["ending_principal"].astype("int64"), strict=True))
    out: list[Fault] = []
    for lid in committed.loan_ids:
        leaf = committed.leaf(lid)
        if lid in before and leaf.beginning != int(before[lid]):
            out.append(Fault("Discontinuity", lid, f"begins at {leaf.beginning}, ended the last period at "
                                                   f"{int(before[lid])}"))
    return out


def purchase_faults(committed: CommittedTape, bought: Mapping[str, int]) -> list[Fault]:
    """Receivables bought while the previous period's report was pending (``bought``: loan id -> purchase
    principal; this tape is their first) whose beginning principal is not what they were bought at:
    ``challengePurchase``."""
    out: list[Fault] = []
    for lid in committed.loan_ids:
        if lid in bought and committed.leaf(lid).beginning != int(bought[lid]):
            out.append(Fault("Discontinuity", lid, f"begins at {committed.leaf(lid).beginning}, bought at "
                                                   f"{int(bought[lid])} in period {committed.period - 1}",
                             via="purchase"))
    return out


def dilution_faults(committed: CommittedTape, diluted: Mapping[str, int], *, repurchase: bool,
                    decimals: int = 6) -> list[Fault]:
    """Receivables the court recorded as diluted in the tape's period (``diluted``: loan id -> that period's
    total dilution of it, ``ServicingCourt.assetDilution``) whose leaf books less than the dilution: its
    ``prepaid`` under repurchase terms (the originator's cash is a deemed prepayment of that receivable), its
    ``defaulted`` under loss terms (the amount written off): ``challengeDilution``, kind ``UnbookedDilution``.
    A diluted receivable with no leaf is a ``Gap`` (``challengeMissing``), not this fault."""
    field = "prepaid" if repurchase else "defaulted"
    out: list[Fault] = []
    for lid in committed.loan_ids:
        amount = int(diluted.get(lid, 0))
        booked = getattr(committed.leaf(lid), field)
        if amount > booked:
            out.append(Fault("UnbookedDilution", lid, f"diluted by {format_amount(amount, decimals)} this period "
                                                      f"({'repurchased' if repurchase else 'written off'}), the "
                                                      f"tape books {format_amount(booked, decimals)} as {field}"))
    return out
