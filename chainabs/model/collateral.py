"""Collateral of secured assets (``interfaces/ICollateralRegistry.sol``) and what their recoveries show.

A collateral file has one row per secured loan of a tape:

================ ====== ===========================================================================
column           type   meaning
================ ====== ===========================================================================
loan_id          str    the loan it secures (as in the cut-off tape)
kind             str    vehicle, real_estate, equipment or other
identifier       str    the collateral's identifier (VIN, land-registry or serial number); only its
                        keccak256 goes on chain
appraised_value  int    appraised value in the currency's base units (> 0)
appraisal_date   date   YYYY-MM-DD, not after the cut-off date
lien_hash        hex    32-byte hash of the lien registration or security document
================ ====== ===========================================================================

From the registry's history of defaulted loans (``AssetStatusChanged`` and ``RecoveryRecorded`` rows),
:func:`disposal_timeline` gives each loan's path default -> recovery -> repossession -> sale or charge-off with
dates and cash, and :func:`recovery_rates` the recovery rate per loan and for the pool (recovered / claim at
default, and proceeds against the appraised value).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from eth_utils import keccak

from chainabs.model.inputs import missing_column_messages
from chainabs.model.numbers import INT64_MAX, int64_overflow, parse_int, range_text
from chainabs.model.tape import TapeIssue, TapeValidationError

#: ``ICollateralRegistry.CollateralKind`` codes.
COLLATERAL_KINDS: dict[str, int] = {"vehicle": 1, "real_estate": 2, "equipment": 3, "other": 4}
COLLATERAL_COLUMNS: tuple[str, ...] = ("loan_id", "kind", "identifier", "appraised_value", "appraisal_date",
                                       "lien_hash")
_MAX_VALUE = 2**96 - 1


def identifier_hash(identifier: str) -> bytes:
    """keccak256 of the identifier's UTF-8 text, trimmed and upper-cased (VINs and serials are case-blind)."""
    return keccak(text=identifier.strip().upper())


def validate_collateral(frame: pd.DataFrame, loan_ids: list[str] | None = None, *,
                        cutoff: dt.date | None = None) -> tuple[pd.DataFrame, list[TapeIssue]]:
    """Type a collateral file and list every problem (row numbers 1-based, naming field and rule): columns, a
    loan of the tape (``loan_ids``) once, a known kind, a non-empty identifier, a positive integer value that
    fits, a date not after ``cutoff``, a 32-byte hex lien hash."""
    missing = missing_column_messages(frame.columns, COLLATERAL_COLUMNS, "file")
    if missing:
        return frame, [TapeIssue(None, None, c, "missing_column", message) for c, message in missing.items()]
    src = frame.reset_index(drop=True)
    issues: list[TapeIssue] = []
    loan = src["loan_id"].astype(str).str.strip()

    def add(mask: np.ndarray, fld: str, rule: str, message: str | pd.Series) -> None:
        for i in np.flatnonzero(mask):
            text = message if isinstance(message, str) else str(message.iloc[i])
            issues.append(TapeIssue(int(i) + 1, loan.iloc[i], fld, rule, text))

    if loan_ids is not None:
        add(~loan.isin(set(map(str, loan_ids))).to_numpy(), "loan_id", "unknown_loan", "not a loan of the tape")
    add(loan.duplicated(keep=False).to_numpy(), "loan_id", "duplicate_loan", "collateral listed twice for this loan")
    kind = src["kind"].astype(str).str.strip().str.lower()
    add(~kind.isin(list(COLLATERAL_KINDS)).to_numpy(), "kind", "kind",
        "unknown kind " + kind.map(repr) + f"; one of {list(COLLATERAL_KINDS)}")
    ident = src["identifier"].astype(str).str.strip()
    add((ident == "").to_numpy() | src["identifier"].isna().to_numpy(), "identifier", "empty", "no identifier")
    value, bad = parse_int(src["appraised_value"])
    huge = bad & int64_overflow(src["appraised_value"])
    limits = range_text(1, min(_MAX_VALUE, INT64_MAX))  # the Python tools hold amounts as int64
    add(bad & ~huge, "appraised_value", "type", "not an integer: " + src["appraised_value"].astype(str).map(repr))
    add(huge, "appraised_value", "range", src["appraised_value"].astype(str).str.strip().map(repr)
        + f" is out of range {limits}")
    add(~bad & ((value <= 0) | (value > _MAX_VALUE)).to_numpy(), "appraised_value", "range",
        value.astype(str) + f" is out of range {limits}")
    date = pd.to_datetime(src["appraisal_date"], errors="coerce", format="%Y-%m-%d")
    add(date.isna().to_numpy(), "appraisal_date", "date", "not a YYYY-MM-DD date: "
        + src["appraisal_date"].astype(str).map(repr))
    if cutoff is not None:
        add((date > pd.Timestamp(cutoff)).to_numpy(), "appraisal_date", "after_cut_off",
            f"appraised after the cut-off date {cutoff}")
    lien = src["lien_hash"].astype(str).str.strip().str.lower()
    add(~lien.str.fullmatch(r"0x[0-9a-f]{64}").to_numpy(dtype=bool, na_value=False), "lien_hash", "hash",
        "not a 32-byte hex hash (0x + 64 hex digits)")
    issues.sort(key=lambda i: (i.row or 0, i.field))
    typed = pd.DataFrame({"loan_id": loan, "kind": kind, "identifier": ident, "appraised_value": value,
                          "appraisal_date": date, "lien_hash": lien})
    return typed, issues


def check_collateral(frame: pd.DataFrame, loan_ids: list[str] | None = None, *,
                     cutoff: dt.date | None = None) -> pd.DataFrame:
    """The typed collateral file, or :class:`TapeValidationError` listing every issue."""
    typed, issues = validate_collateral(frame, loan_ids, cutoff=cutoff)
    if issues:
        raise TapeValidationError(issues)
    return typed


def collateral_records(typed: pd.DataFrame) -> list[tuple[int, int, int, bytes, bytes]]:
    """``ICollateralRegistry.Collateral`` tuples of a typed collateral file, in its row order."""
    dates = typed["appraisal_date"].astype("datetime64[s]").astype("int64").tolist()
    return [
        (COLLATERAL_KINDS[k], int(d), int(v), identifier_hash(i), bytes.fromhex(h[2:]))
        for k, d, v, i, h in zip(typed["kind"], dates, typed["appraised_value"], typed["identifier"],
                                 typed["lien_hash"], strict=True)
    ]


# ---------------------------------------------------------------------------------------- recoveries

#: The statuses of a defaulted loan's path, in order (``chainabs.model.assets``).
RECOVERY_PATH: tuple[str, ...] = ("Defaulted", "InRecovery", "Repossessed", "Disposed", "ChargedOff")


def disposal_timeline(changes: pd.DataFrame, recoveries: pd.DataFrame) -> pd.DataFrame:
    """Per defaulted loan: when it reached each step of its recovery, its claim at default (the balance that
    defaulted), the cash recovered and how it ended. ``changes``: the registry's status changes (columns
    ``asset_id``, ``to`` status name, ``principal_before``, ``time`` unix seconds); ``recoveries``: its
    ``RecoveryRecorded`` rows (``asset_id``, ``amount``). Loans that never defaulted are left out."""
    cols = ["asset_id", "claim_at_default", *[f"{s.lower()}_at" for s in RECOVERY_PATH], "recovered", "outcome",
            "days_to_resolution"]
    cash = recoveries.groupby("asset_id")["amount"].sum().to_dict() if not recoveries.empty else {}
    rows = []
    for aid, own in changes.sort_values("time", kind="stable").groupby("asset_id", sort=True):
        defaults = own[own["to"] == "Defaulted"]
        if defaults.empty:
            continue
        at = {s: own.loc[own["to"] == s, "time"].min() for s in RECOVERY_PATH}
        end = next((s for s in ("Disposed", "ChargedOff") if pd.notna(at[s])), None)
        rows.append({
            "asset_id": int(aid), "claim_at_default": int(defaults["principal_before"].iloc[0]),
            **{f"{s.lower()}_at": (pd.to_datetime(int(at[s]), unit="s") if pd.notna(at[s]) else pd.NaT)
               for s in RECOVERY_PATH},
            "recovered": int(cash.get(aid, 0)), "outcome": end or "open",
            "days_to_resolution": (int(at[end] - at["Defaulted"]) // 86_400) if end else None,
        })
    return pd.DataFrame(rows, columns=cols)


def recovery_rates(timeline: pd.DataFrame, collateral: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Per resolved loan its recovery rate (recovered / claim at default) and, with ``collateral`` (``asset_id``,
    ``appraised_value``), the proceeds against the appraised value; and the pool's totals: loans defaulted,
    resolved, claims, recovered, the weighted recovery rate (loss given default = 1 - rate) and the average
    days from default to resolution."""
    t = timeline.copy()
    t["recovery_rate"] = [r / c if c else np.nan for r, c in zip(t["recovered"], t["claim_at_default"], strict=True)]
    if collateral is not None and not t.empty:
        value = collateral.set_index("asset_id")["appraised_value"]
        t["appraised_value"] = t["asset_id"].map(value)
        t["proceeds_to_appraisal"] = [r / v if v and v == v else np.nan
                                      for r, v in zip(t["recovered"], t["appraised_value"], strict=True)]
    resolved = t[t["outcome"] != "open"]
    claims = int(sum(int(x) for x in resolved["claim_at_default"]))
    recovered = int(sum(int(x) for x in resolved["recovered"]))
    totals = {
        "defaulted_loans": int(len(t)), "resolved_loans": int(len(resolved)), "claims_resolved": claims,
        "recovered": recovered, "recovery_rate": (recovered / claims) if claims else None,
        "loss_given_default": (1 - recovered / claims) if claims else None,
        "average_days_to_resolution": (float(resolved["days_to_resolution"].astype(float).mean())
                                       if len(resolved) else None),
    }
    return t, totals
