"""Servicing tapes: leaf encoding (against eth_abi by hand and OpenZeppelin's JS library), validation that
names row / field / rule, aggregates to the PeriodReport, and the servicer's allocation of pool-level flows
to loans (exact sums, registry-legal transitions)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from eth_abi import encode
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainabs.model import servicing as sv
from chainabs.model.tape import TapeValidationError
from chainabs.model.waterfall import PeriodReport
from chainabs.model import assets

ROOT = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


def _tape() -> pd.DataFrame:
    """Three loans in period 2: one amortising, one 60 days late, one prepaid in full."""
    return pd.DataFrame([
        {"period": 2, "loan_id": "L1", "status": "Performing", "days_delinquent": 0, "beginning_principal": 10_000,
         "scheduled_principal": 400, "prepaid_principal": 0, "defaulted_principal": 0, "ending_principal": 9_600,
         "interest_collected": 120, "recoveries": 0},
        {"period": 2, "loan_id": "L2", "status": "Delinquent60", "days_delinquent": 65, "beginning_principal": 5_000,
         "scheduled_principal": 0, "prepaid_principal": 0, "defaulted_principal": 0, "ending_principal": 5_000,
         "interest_collected": 0, "recoveries": 0},
        {"period": 2, "loan_id": "L3", "status": "Prepaid", "days_delinquent": 0, "beginning_principal": 2_000,
         "scheduled_principal": 0, "prepaid_principal": 2_000, "defaulted_principal": 0, "ending_principal": 0,
         "interest_collected": 30, "recoveries": 17},
    ])


def test_leaf_is_the_standard_merkle_tree_leaf_of_the_row():
    tape = _tape()
    types = ["uint256", "bytes32", "uint8", "uint16", "uint96", "uint96", "uint96", "uint96", "uint96", "uint96", "uint96"]
    row = (2, b"L2".ljust(32, b"\0"), 3, 65, 5_000, 0, 0, 0, 5_000, 0, 0)  # Delinquent60 = 3
    assert sv.leaf_hashes(tape)[1] == keccak(keccak(encode(types, list(row))))
    assert list(sv.SERVICING_TYPES) == types


@pytest.mark.skipif(NODE is None, reason="node is required for the cross-check")
def test_root_equals_openzeppelin_js():
    tape = _tape()
    values = [[("0x" + v.hex()) if isinstance(v, bytes) else str(v) for v in row] for row in sv.leaf_values(tape)]
    js = "const {StandardMerkleTree}=require(process.argv[1]);const i=JSON.parse(require('fs').readFileSync(0,'utf8'));" \
         "console.log(StandardMerkleTree.of(i.values,i.types).root)"
    lib = str(ROOT / "node_modules" / "@openzeppelin" / "merkle-tree")
    out = subprocess.run([NODE, "-e", js, lib], input=json.dumps({"values": values, "types": list(sv.SERVICING_TYPES)}),
                         capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == sv.servicing_root(tape)


def test_aggregates_are_the_period_report():
    assert sv.period_report(_tape()) == PeriodReport(
        interest_collections=150, scheduled_principal=400, prepayments=2_000, recoveries=17, defaults=0,
        delinquent_30=0, delinquent_60=5_000, delinquent_90_plus=0, pool_ending_balance=14_600)


def test_any_change_changes_the_root():
    base = sv.servicing_root(_tape())
    for col in ("interest_collected", "recoveries"):
        tape = _tape()
        tape.loc[0, col] += 1
        assert sv.servicing_root(tape) != base
    tape = _tape()
    tape.loc[2, "period"] = tape.loc[1, "period"] = tape.loc[0, "period"] = 3  # same rows, another period
    assert sv.servicing_root(tape) != base


def test_bad_rows_are_named_by_row_field_and_rule():
    tape = _tape().astype(str)
    tape.loc[0, "ending_principal"] = "9601"  # identity broken
    tape.loc[1, "days_delinquent"] = "20"  # 20 days is Performing, not Delinquent60
    tape.loc[2, "status"] = "Lost"
    tape.loc[2, "recoveries"] = "1.5"
    _, issues = sv.validate_servicing_tape(tape, period=2)
    got = {(i.row, i.field, i.rule) for i in issues}
    assert got == {(1, "ending_principal", "balance_identity"), (2, "days_delinquent", "status_days"),
                   (3, "status", "status"), (3, "recoveries", "type")}
    with pytest.raises(TapeValidationError, match="row 1 \\(L1\\): ending_principal: balance_identity"):
        sv.check_servicing_tape(tape)
    dup = pd.concat([_tape(), _tape().iloc[[0]]], ignore_index=True)
    assert {(i.row, i.rule) for i in sv.validate_servicing_tape(dup)[1]} == {(1, "duplicate_loan"), (4, "duplicate_loan")}
    closed = _tape()
    closed.loc[2, ["prepaid_principal", "ending_principal"]] = [1_000, 1_000]
    assert [i.rule for i in sv.validate_servicing_tape(closed)[1]] == ["closed_with_balance"]
    assert [i.rule for i in sv.validate_servicing_tape(_tape(), period=3)[1]] == ["period"] * 3
    assert [i.rule for i in sv.validate_servicing_tape(_tape().drop(columns="recoveries"))[1]] == ["missing_column"]


def test_write_and_read_back(tmp_path):
    path = sv.write_servicing_tape(_tape(), tmp_path / "p2.csv")
    assert sv.servicing_root(sv.read_servicing_tape(path)) == sv.servicing_root(_tape())


def _cutoff(balances: list[int], rates: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"loan_id": [f"L{i:03d}" for i in range(len(balances))], "principal": balances,
                         "rate_bps": rates, "days_delinquent": [0] * len(balances)})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow])
@given(st.lists(st.integers(1_000, 10**9), min_size=5, max_size=30), st.data())
def test_allocation_adds_up_exactly_and_moves_one_bucket_at_a_time(balances, data):
    cutoff = _cutoff(balances, [data.draw(st.integers(600, 2400)) for _ in balances])
    book = sv.ServicingBook.open(cutoff, seed=3)
    order = {"Performing": 0, "Delinquent30": 1, "Delinquent60": 2, "Delinquent90": 3}
    for _ in range(4):
        prev = book.last
        begin = int(prev.loc[prev["status"].isin(assets.ACTIVE_STATUSES), "ending_principal"].sum())
        if begin == 0:
            break
        d = data.draw(st.integers(0, begin // 5))
        p = data.draw(st.integers(0, (begin - d) // 3))
        s = data.draw(st.integers(0, begin - d - p))
        end = begin - d - p - s
        claims = int(book.claims.sum()) + d
        buckets = [data.draw(st.integers(0, end // 4)) for _ in range(3)]
        report = PeriodReport(interest_collections=data.draw(st.integers(0, begin // 50)), scheduled_principal=s,
                              prepayments=p, recoveries=data.draw(st.integers(0, claims)), defaults=d,
                              delinquent_30=buckets[0], delinquent_60=buckets[1], delinquent_90_plus=buckets[2],
                              pool_ending_balance=end)
        tape = book.next_period(report)
        got = sv.period_report(tape)  # validates the tape too
        flows = ("interest_collections", "scheduled_principal", "prepayments", "recoveries", "defaults",
                 "pool_ending_balance")
        assert {f: getattr(got, f) for f in flows} == {f: getattr(report, f) for f in flows}
        assert got.delinquent_30 + got.delinquent_60 + got.delinquent_90_plus <= end
        assert got.delinquent_90_plus <= report.delinquent_90_plus and got.delinquent_60 <= report.delinquent_60
        merged = prev.merge(tape, on="loan_id", suffixes=("_0", "_1"))
        for before, after in zip(merged["status_0"], merged["status_1"], strict=True):
            if before in order and after in order:
                assert order[after] <= order[before] + 1, (before, after)
            if before in assets.FINAL_STATUSES:
                assert after == before
        assert (tape["beginning_principal"].to_numpy() == np.where(prev["status"].isin(assets.ACTIVE_STATUSES),
                                                                    prev["ending_principal"], 0)).all()


def test_allocation_defaults_the_most_delinquent_first_and_refuses_impossible_reports():
    cutoff = _cutoff([1_000, 2_000, 3_000], [1000, 1000, 1000])
    book = sv.ServicingBook.open(cutoff)
    late = dataclasses.replace(sv.period_report(sv.opening_tape(cutoff).assign(period=1)), delinquent_30=2_500)
    tape = book.next_period(late).set_index("loan_id")
    behind = tape.index[tape["status"] == "Delinquent30"]
    assert len(behind) == 1 and tape.loc[behind[0], "ending_principal"] <= 2_500
    owed = int(tape.loc[behind[0], "ending_principal"])
    tape = book.next_period(PeriodReport(0, 0, 0, 0, owed, 0, 0, 0, 6_000 - owed)).set_index("loan_id")
    assert tape.loc[behind[0], "status"] == "Defaulted"  # the late loan defaults before any current one
    assert (tape.drop(index=behind[0])["status"] == "Performing").all()
    with pytest.raises(sv.ServicingError, match="reductions exceed"):
        book.next_period(PeriodReport(0, 5_000, 0, 0, 0, 0, 0, 0, 0))
    with pytest.raises(sv.ServicingError, match="no loan"):
        sv.ServicingBook.open(cutoff).next_period(PeriodReport(0, 0, 0, 10, 0, 0, 0, 0, 6_000))


def test_registry_updates_carry_the_leaf_as_evidence():
    prev = _tape().assign(period=1)
    prev.loc[0, ["ending_principal"]] = 10_000
    prev.loc[2, ["status", "ending_principal"]] = ["Performing", 2_000]
    tape = _tape()
    ids = {"L1": 11, "L2": 22, "L3": 33}
    updates = sv.registry_updates(prev, tape, ids)
    leaves = sv.leaf_hashes(tape)
    assert updates == [(11, 1, 9_600, leaves[0]), (33, 6, 0, leaves[2])]  # L2 unchanged: no update
