"""Collateral files (chainabs.model.collateral): every rule named by row and field, the on-chain record
encoding, synthetic vehicles, and the disposal timeline and recovery rates computed from registry history."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from eth_utils import keccak

from chainabs.model import collateral as cl
from chainabs.model import synthetic
from chainabs.model.tape import TapeValidationError

CUTOFF = dt.date(2025, 6, 30)


def _file() -> pd.DataFrame:
    return pd.DataFrame({
        "loan_id": ["AL1", "AL2"], "kind": ["vehicle", "Real_Estate"], "identifier": ["lsv123", "BJ-0042"],
        "appraised_value": [150_000_000_000, 2_000_000_000_000], "appraisal_date": ["2025-01-05", "2025-06-30"],
        "lien_hash": ["0x" + "ab" * 32, "0x" + "CD" * 32],
    })


def test_a_good_file_types_and_encodes():
    typed = cl.check_collateral(_file(), ["AL1", "AL2"], cutoff=CUTOFF)
    records = cl.collateral_records(typed)
    assert records[0] == (1, int(dt.datetime(2025, 1, 5, tzinfo=dt.UTC).timestamp()), 150_000_000_000,
                          keccak(text="LSV123"), bytes.fromhex("ab" * 32))
    assert records[1][0] == cl.COLLATERAL_KINDS["real_estate"] and records[1][4] == bytes.fromhex("cd" * 32)
    assert cl.identifier_hash(" lsv123 ") == cl.identifier_hash("LSV123")


BROKEN = [
    ("loan_id", "AL9", "unknown_loan"), ("kind", "boat", "kind"), ("identifier", "  ", "empty"),
    ("appraised_value", "12.5", "type"), ("appraised_value", 0, "range"), ("appraised_value", -5, "range"),
    ("appraisal_date", "05/01/2025", "date"), ("appraisal_date", "2025-07-01", "after_cut_off"),
    ("lien_hash", "0x1234", "hash"),
]


@pytest.mark.parametrize("field, value, rule", BROKEN, ids=[f"{b[0]}-{b[2]}" for b in BROKEN])
def test_each_bad_cell_is_named(field, value, rule):
    f = _file().astype(object)
    f.loc[1, field] = value
    _, issues = cl.validate_collateral(f, ["AL1", "AL2"], cutoff=CUTOFF)
    assert [(i.row, i.field, i.rule) for i in issues] == [(2, field, rule)]
    loan = value if field == "loan_id" else "AL2"
    with pytest.raises(TapeValidationError, match=f"row 2 \\({loan}\\): {field}: {rule}"):
        cl.check_collateral(f, ["AL1", "AL2"], cutoff=CUTOFF)


def test_duplicates_and_missing_columns():
    dup = pd.concat([_file(), _file().iloc[[0]]], ignore_index=True)
    assert {(i.row, i.rule) for i in cl.validate_collateral(dup)[1]} == {(1, "duplicate_loan"), (3, "duplicate_loan")}
    assert [i.rule for i in cl.validate_collateral(_file().drop(columns="lien_hash"))[1]] == ["missing_column"]


def test_synthetic_vehicles_are_valid_and_over_collateralised():
    tape = synthetic.generate_tape(50, kind="auto_loan", seed=5, cutoff=CUTOFF)
    typed = cl.check_collateral(synthetic.generate_collateral(tape, seed=5), list(tape["loan_id"]), cutoff=CUTOFF)
    assert (typed["appraised_value"] > tape["original_principal"]).all()
    assert typed["identifier"].str.len().eq(17).all() and typed["identifier"].is_unique
    assert synthetic.generate_collateral(tape, seed=5).equals(synthetic.generate_collateral(tape, seed=5))


def _history() -> tuple[pd.DataFrame, pd.DataFrame]:
    day = 86_400
    changes = pd.DataFrame([
        # asset 1: defaulted with 10,000 outstanding, repossessed, sold 60 days later for 7,000 (plus 500 earlier)
        (1, "Delinquent30", 10_000, 0), (1, "Defaulted", 10_000, 30 * day), (1, "InRecovery", 9_500, 60 * day),
        (1, "Repossessed", 9_500, 70 * day), (1, "Disposed", 0, 90 * day),
        # asset 2: defaulted with 4,000, still in recovery; asset 3 never defaulted
        (2, "Defaulted", 4_000, 60 * day), (2, "InRecovery", 4_000, 90 * day), (3, "Prepaid", 0, 40 * day),
        # asset 4: unsecured, charged off after collecting 1,000 of 2,000
        (4, "Defaulted", 2_000, 10 * day), (4, "ChargedOff", 0, 100 * day),
    ], columns=["asset_id", "to", "principal_before", "time"])
    cash = pd.DataFrame([(1, 500), (1, 7_000), (4, 1_000)], columns=["asset_id", "amount"])
    return changes, cash


def test_disposal_timeline_and_recovery_rates():
    timeline = cl.disposal_timeline(*_history())
    assert timeline["asset_id"].tolist() == [1, 2, 4]
    one = timeline.iloc[0]
    assert (one["claim_at_default"], one["recovered"], one["outcome"], one["days_to_resolution"]) == \
        (10_000, 7_500, "Disposed", 60)
    assert one["repossessed_at"] == pd.Timestamp(70 * 86_400, unit="s")
    assert timeline.iloc[1]["outcome"] == "open" and pd.isna(timeline.iloc[1]["disposed_at"])
    per_loan, totals = cl.recovery_rates(timeline, pd.DataFrame({"asset_id": [1, 2], "appraised_value": [12_500, 5_000]}))
    assert per_loan.set_index("asset_id").loc[1, "recovery_rate"] == 0.75
    assert per_loan.set_index("asset_id").loc[1, "proceeds_to_appraisal"] == 0.6
    assert totals == {"defaulted_loans": 3, "resolved_loans": 2, "claims_resolved": 12_000, "recovered": 8_500,
                      "recovery_rate": 8_500 / 12_000, "loss_given_default": 1 - 8_500 / 12_000,
                      "average_days_to_resolution": 75.0}
    empty = cl.disposal_timeline(_history()[0].iloc[0:0], _history()[1].iloc[0:0])
    assert empty.empty and cl.recovery_rates(empty)[1]["recovery_rate"] is None
