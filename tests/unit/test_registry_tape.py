"""Tape validation (the bad-tape suite on the Python side), synthetic tapes, encodings."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from eth_abi import encode as abi_encode

from chainabs.model import synthetic
from chainabs.model import tape as tp
from chainabs.model.merkle import hash_encoded_leaf
from chainabs.model import assets

CUTOFF = synthetic.DEFAULT_CUTOFF
CRIT = synthetic.default_criteria()


@pytest.fixture(scope="module")
def csv_tape(tmp_path_factory):
    """A 300-loan consumer tape as read back from CSV (all strings)."""
    path = tmp_path_factory.mktemp("tape") / "tape.csv"
    tp.write_tape(synthetic.generate_tape(300, seed=21), path)
    return tp.read_tape(path)


def rules_of(issues):
    return {(i.row, i.field, i.rule) for i in issues}


def test_good_tape_roundtrips_csv_and_parquet(tmp_path, csv_tape):
    typed, issues = tp.validate_tape(csv_tape, CRIT, today=CUTOFF)
    assert issues == []
    tp.write_tape(typed, tmp_path / "t.parquet")
    again, issues = tp.validate_tape(tp.read_tape(tmp_path / "t.parquet"), CRIT, today=CUTOFF)
    assert issues == [] and again.equals(typed)
    with pytest.raises(ValueError, match="unknown tape format"):
        tp.read_tape(tmp_path / "t.xlsx")


BAD = [
    ("missing column", lambda t: t.drop(columns=["rate_bps"]), {(None, "rate_bps", "missing_column")}),
    ("wrong type", lambda t: t.assign(principal=t.principal.where(t.index != 4, "12x")), {(5, "principal", "type")}),
    ("bad date", lambda t: t.assign(maturity_date=t.maturity_date.where(t.index != 2, "2025-13-01")),
     {(3, "maturity_date", "type")}),
    ("negative principal", lambda t: t.assign(principal=t.principal.where(t.index != 7, "-100")),
     {(8, "principal", "negative")}),
    ("duplicate loan", lambda t: t.assign(loan_id=t.loan_id.where(t.index != 9, t.loan_id[3])),
     {(4, "loan_id", "duplicate_loan"), (10, "loan_id", "duplicate_loan")}),
    ("ineligible rate", lambda t: t.assign(rate_bps=t.rate_bps.where(t.index != 1, "3600")),
     {(2, "rate_bps", "rate_range")}),
    ("ineligible term", lambda t: t.assign(maturity_date=t.maturity_date.where(t.index != 6, "2028-01-01")),
     {(7, "maturity_date", "remaining_term")}),
    ("zero term", lambda t: t.assign(term_months=t.term_months.where(t.index != 0, "0")),
     {(1, "term_months", "term")}),
    ("future origination", lambda t: t.assign(origination_date=t.origination_date.where(t.index != 5, "2024-07-15")),
     {(6, "origination_date", "future_origination"), (6, "origination_date", "origination_after_cutoff")}),
    ("bad obligor hash", lambda t: t.assign(obligor=t.obligor.where(t.index != 8, "0x1234")),
     {(9, "obligor", "format")}),
    ("unknown asset type", lambda t: t.assign(asset_type=t.asset_type.where(t.index != 3, "car")),
     {(4, "asset_type", "type")}),
    ("delinquent", lambda t: t.assign(days_delinquent=t.days_delinquent.where(t.index != 11, "45")),
     {(12, "days_delinquent", "delinquency")}),
]


@pytest.mark.parametrize("name,mutate,expected", BAD, ids=[b[0] for b in BAD])
def test_bad_tape_suite_names_row_field_rule(csv_tape, name, mutate, expected):
    bad = mutate(csv_tape.copy())
    _, issues = tp.validate_tape(bad, CRIT, today=CUTOFF - dt.timedelta(days=0) + dt.timedelta(days=5))
    assert rules_of(issues) == expected, [str(i) for i in issues]
    with pytest.raises(tp.TapeValidationError) as err:
        tp.check_tape(bad, CRIT, today=CUTOFF + dt.timedelta(days=5))
    assert "nothing was sent" in str(err.value) and len(err.value.issues) == len(expected)


def test_every_bad_row_is_reported_at_once(csv_tape):
    bad = csv_tape.copy()
    bad.loc[[1, 50, 200], "principal"] = "-1"
    bad.loc[[7], "rate_bps"] = "abc"
    _, issues = tp.validate_tape(bad, CRIT, today=CUTOFF)
    assert rules_of(issues) == {(2, "principal", "negative"), (51, "principal", "negative"),
                                (201, "principal", "negative"), (8, "rate_bps", "type")}
    assert str(issues[0]).startswith("row 2 (CL0000002): principal: negative:")


def test_concentration_breach_is_reported_per_bucket(csv_tape):
    crit = synthetic.default_criteria(max_region_bps=500)
    typed, issues = tp.validate_tape(csv_tape, crit, today=CUTOFF)
    shares = typed.groupby("region")["principal"].sum() * 10_000 / typed.principal.sum()
    breached = {int(r) for r, s in shares.items() if s > 500}
    assert breached and {int(typed.region[i.row - 1]) for i in issues} == breached
    assert all(i.rule == "concentration" and i.field == "region" for i in issues)


@pytest.mark.parametrize("kind", synthetic.KINDS)
def test_synthetic_tapes_are_seeded_and_eligible(kind):
    a = synthetic.generate_tape(500, kind=kind, seed=3)
    b = synthetic.generate_tape(500, kind=kind, seed=3)
    assert a.equals(b) and not a.equals(synthetic.generate_tape(500, kind=kind, seed=4))
    _, issues = tp.validate_tape(a, synthetic.default_criteria(kind), today=CUTOFF)
    assert issues == []
    assert (a.principal <= a.original_principal).all() and (a.origination_date < pd.Timestamp(CUTOFF)).all()


def test_consumer_pool_looks_like_a_chinese_consumer_finance_abs():
    t = synthetic.generate_tape(5_000, seed=8)
    unit = 10**6
    assert 3_000 * unit < t.original_principal.mean() < 12_000 * unit
    assert set(t.term_months.unique()) <= {3, 6, 9, 12, 18, 24, 36}
    assert t.rate_bps.between(800, 2400).all()
    assert t.region.value_counts(normalize=True).idxmax() == 44  # Guangdong
    assert t.obligor.nunique() < len(t)  # some borrowers hold two loans


def test_leaf_encoding_is_abi_encode_and_packing_roundtrips():
    t = synthetic.generate_tape(5, seed=9)
    originator = "0x" + "12" * 20
    for value, leaf, rec in zip(tp.leaf_values(t, originator), tp.leaf_hashes(t, originator), tp.to_records(t),
                                strict=True):
        assert hash_encoded_leaf(abi_encode(list(assets.LEAF_TYPES), list(value))) == leaf
        assert assets.unpack_record(assets.pack_record(rec)) == rec
    assert assets.loan_id_text(assets.loan_id_bytes("CL0000001")) == "CL0000001"
    assert tp.PoolCriteria.from_chain(CRIT.to_chain()) == CRIT


def test_a_100k_row_tape_round_trips_and_validates(tmp_path):
    """Scale check of the vectorized validation (its speed is measured by `make bench`: tape_validate_100k_s)."""
    path = tmp_path / "big.csv"
    tp.write_tape(synthetic.generate_tape(100_000, seed=1), path)
    typed, issues = tp.validate_tape(tp.read_tape(path), CRIT, today=CUTOFF)
    assert issues == [] and len(typed) == 100_000 and np.issubdtype(typed.principal.dtype, np.integer)
