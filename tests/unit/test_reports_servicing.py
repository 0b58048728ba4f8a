"""Servicing tapes (chainabs.model.servicing): the commitment (leaves sorted by asset id, sums equal to the period
report, leaf hashes equal to eth-abi's encoding), validation that names row / field / rule for every balance
rule, the registry updates a period needs (legal, idempotent, resumable), and the synthetic servicer's allocation
of pool-level flows to loans over several periods (exact where the loans allow it, registry-legal throughout)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainabs.model import assets
from chainabs.model import servicing as sv
from chainabs.model.servicing_tree import LEAF_TYPE
from chainabs.model.tape import TapeValidationError
from chainabs.model.waterfall import PeriodReport

ORIGINATOR = "0x" + "ab" * 20
COLS = list(sv.SERVICING_COLUMNS)


def _row(loan: str, status: str, begin: int, sched: int = 0, prep: int = 0, dflt: int = 0, end: int | None = None,
         interest: int = 0, recov: int = 0, days: int = 0, period: int = 2) -> dict:
    if end is None:
        end = begin - sched - prep - dflt
    return dict(zip(COLS, (period, loan, status, days, begin, sched, prep, dflt, end, interest, recov), strict=True))


def _tape() -> pd.DataFrame:
    """Period 2 of six loans: amortising, 60 days late, prepaid, defaulted this period with a claim, in recovery
    with cash collected, and charged off."""
    return pd.DataFrame([
        _row("L1", "Performing", 10_000, sched=400, interest=120),
        _row("L2", "Delinquent60", 5_000, days=65),
        _row("L3", "Prepaid", 2_000, prep=2_000, interest=30),
        _row("L4", "Defaulted", 3_000, dflt=3_000, end=2_500),
        _row("L5", "InRecovery", 1_800, end=1_000, recov=800),
        _row("L6", "ChargedOff", 700, end=0, recov=100),
    ])


def test_commitment_sorts_leaves_by_asset_id_and_sums_to_the_report():
    committed = sv.commit_tape(_tape(), ORIGINATOR)
    ids = [assets.asset_id(ORIGINATOR, lid) for lid in committed.loan_ids]
    assert ids == sorted(ids) and sorted(committed.loan_ids) == [f"L{i}" for i in range(1, 7)]
    assert [committed.leaf(lid).asset_id for lid in committed.loan_ids] == ids
    assert committed.report == sv.period_report(_tape()) == PeriodReport(
        interest_collections=150, scheduled_principal=400, prepayments=2_000, recoveries=900, defaults=3_000,
        delinquent_30=0, delinquent_60=5_000, delinquent_90_plus=0, pool_ending_balance=14_600)
    root, sums = committed.commitment
    # ending (active only), scheduled, prepaid, defaulted, interest, recoveries, count
    assert sums == (14_600, 400, 2_000, 3_000, 150, 900, 6) and len(root) == 32
    # the same tape in another row order commits to the same root
    assert sv.commit_tape(_tape().iloc[::-1], ORIGINATOR).commitment == committed.commitment


def test_leaf_hash_is_eth_abi_encoding_of_period_and_leaf():
    committed = sv.commit_tape(_tape(), ORIGINATOR)
    for lid in committed.loan_ids:
        leaf = committed.leaf(lid)
        assert committed.evidence(lid) == keccak(encode(["uint256", LEAF_TYPE], [2, leaf.as_abi()]))
    leaf = committed.leaf("L4")
    assert (leaf.status, leaf.beginning, leaf.defaulted, leaf.ending) == (assets.STATUS_CODE["Defaulted"], 3_000,
                                                                          3_000, 2_500)


def test_any_change_changes_the_commitment():
    base = sv.commit_tape(_tape(), ORIGINATOR).commitment[0]
    seen = {base}
    for col, row in (("interest_collected", 0), ("recoveries", 4), ("ending_principal", 3)):
        tape = _tape()
        tape.loc[row, col] += 1
        seen.add(sv.commit_tape(tape, ORIGINATOR).commitment[0])
    seen.add(sv.commit_tape(_tape().assign(period=3), ORIGINATOR).commitment[0])
    seen.add(sv.commit_tape(_tape(), "0x" + "cd" * 20).commitment[0])  # other asset ids
    assert len(seen) == 6


# Each case breaks one rule in one row of the tape; the validator names exactly that row, field and rule.
BROKEN: list[tuple[int, dict, str, str]] = [
    (0, {"ending_principal": 9_601}, "ending_principal", "balance_identity"),
    (0, {"scheduled_principal": 10_000, "ending_principal": 0}, "ending_principal", "active_zero_balance"),
    (2, {"defaulted_principal": 500, "prepaid_principal": 1_500}, "defaulted_principal", "whole_loan_default"),
    (1, {"defaulted_principal": 100}, "ending_principal", "balance_identity"),
    (0, {"recoveries": 5}, "recoveries", "recovery_without_default"),
    (2, {"prepaid_principal": 1_000, "ending_principal": 1_000}, "ending_principal", "closed_with_balance"),
    (2, {"prepaid_principal": 1_000}, "ending_principal", "balance_identity"),
    (3, {"ending_principal": 3_001}, "ending_principal", "claim_above_default"),
    (3, {"defaulted_principal": 2_999}, "defaulted_principal", "balance_identity"),
    (4, {"scheduled_principal": 10, "beginning_principal": 1_800}, "scheduled_principal", "recovery_collections"),
    (4, {"ending_principal": 1_801}, "ending_principal", "claim_increase"),
    (5, {"ending_principal": 1}, "ending_principal", "closed_with_balance"),
    (1, {"days_delinquent": 20}, "days_delinquent", "status_days"),
    (1, {"status": "Lost"}, "status", "status"),
    (4, {"recoveries": "1.5"}, "recoveries", "type"),
    (4, {"interest_collected": -1}, "interest_collected", "negative"),
    (0, {"loan_id": " L1"}, "loan_id", "format"),
    (0, {"days_delinquent": 2**16}, "days_delinquent", "range"),
]


@pytest.mark.parametrize("row, change, field, rule", BROKEN, ids=[f"{b[3]}-{i}" for i, b in enumerate(BROKEN)])
def test_each_broken_rule_is_named_by_row_field_and_rule(row, change, field, rule):
    tape = _tape().astype(object)
    for col, value in change.items():
        tape.loc[row, col] = value
    _, issues = sv.validate_servicing_tape(tape, period=2)
    assert (row + 1, field, rule) in {(i.row, i.field, i.rule) for i in issues}, issues
    assert {i.row for i in issues} == {row + 1}  # no other row accused
    with pytest.raises(TapeValidationError, match=f"{field}: {rule}"):
        sv.commit_tape(tape, ORIGINATOR)


def test_a_dilution_written_off_keeps_the_receivable_active():
    """A credit note counted as a loss: the active loan's defaulted principal, the rest still outstanding."""
    tape = _tape()
    tape.loc[0, ["defaulted_principal", "ending_principal"]] = [1_000, 8_600]
    assert sv.validate_servicing_tape(tape, period=2)[1] == []
    assert sv.period_report(tape).defaults == 3_000 + 1_000


def test_a_dilution_is_booked_on_its_own_receivable_under_the_deals_terms():
    """``dilution_faults`` (``ServicingCourt.challengeDilution``): a receivable diluted by X this period books at
    least X as prepaid (repurchase terms) or as defaulted (loss terms) on its own leaf; a dilution booked
    elsewhere, or under the other field, is a fault named with the amounts in currency units."""
    tape = _tape()
    tape.loc[0, ["prepaid_principal", "ending_principal"]] = [1_000, 8_600]  # L1: 1,000 as prepaid
    committed = sv.commit_tape(tape, ORIGINATOR)
    assert sv.dilution_faults(committed, {"L1": 1_000}, repurchase=True) == []
    assert sv.dilution_faults(committed, {"L3": 2_000, "L4": 3_000}, repurchase=True) == [
        sv.Fault("UnbookedDilution", "L4", "diluted by 0.00 this period (repurchased), the tape books 0.00 as prepaid")]
    assert sv.dilution_faults(committed, {"L4": 3_000, "L9": 5}, repurchase=False) == []  # L9: no leaf (a Gap)
    [fault] = sv.dilution_faults(committed, {"L1": 1_001}, repurchase=True, decimals=0)
    assert (fault.kind, fault.loan_id) == ("UnbookedDilution", "L1") and "1,001.00" in fault.detail
    [fault] = sv.dilution_faults(committed, {"L1": 1_000}, repurchase=False, decimals=0)
    assert fault.detail == "diluted by 1,000.00 this period (written off), the tape books 0.00 as defaulted"
    assert sv.CHALLENGE_KINDS.index("UnbookedDilution") == 8


def test_tape_level_rules():
    assert sv.validate_servicing_tape(_tape())[1] == []
    dup = pd.concat([_tape(), _tape().iloc[[0]]], ignore_index=True)
    assert {(i.row, i.rule) for i in sv.validate_servicing_tape(dup)[1]} == {(1, "duplicate_loan"), (7, "duplicate_loan")}
    assert [i.rule for i in sv.validate_servicing_tape(_tape(), period=3)[1]] == ["period"] * 6
    assert [i.rule for i in sv.validate_servicing_tape(_tape().drop(columns="recoveries"))[1]] == ["missing_column"]
    assert [i.rule for i in sv.validate_servicing_tape(_tape().iloc[0:0])[1]] == ["empty_tape"]


def test_write_and_read_back(tmp_path):
    for name in ("p2.csv", "p2.parquet"):
        path = sv.write_servicing_tape(_tape(), tmp_path / name)
        assert sv.commit_tape(sv.read_servicing_tape(path), ORIGINATOR).commitment == \
            sv.commit_tape(_tape(), ORIGINATOR).commitment


# ---------------------------------------------------------------------------------------- registry updates


def _registry() -> pd.DataFrame:
    """The registry as period 1 left it (the loans of :func:`_tape` before period 2)."""
    return pd.DataFrame({"loan_id": ["L1", "L2", "L3", "L4", "L5", "L6"],
                         "status": ["Performing", "Delinquent30", "Performing", "Delinquent90", "Defaulted",
                                    "Repossessed"],
                         "principal": [10_000, 5_000, 2_000, 3_200, 1_800, 700]})


def test_registry_updates_for_a_period():
    committed = sv.commit_tape(_tape(), ORIGINATOR)
    updates = sv.registry_updates(_registry(), committed)
    got = [(u.loan_id, u.status, u.principal, u.recovered, u.recovery) for u in updates]
    assert got == [
        # L1 performing: its balance may lag, no update
        ("L2", "Delinquent60", 5_000, 0, False),
        ("L3", "Prepaid", 0, 0, False),  # its balance before the prepayment is the registry's already
        ("L4", "Delinquent90", 3_000, 0, False),  # balance before the default: what the defaulted flow adds
        ("L4", "Defaulted", 2_500, 0, False),  # the claim left
        ("L5", "InRecovery", 1_000, 800, True),
        ("L6", "ChargedOff", 0, 100, True),
    ]
    assert all(u.evidence == committed.evidence(u.loan_id) for u in updates)
    assert all(u.asset_id == assets.asset_id(ORIGINATOR, u.loan_id) for u in updates)
    assert updates[0].as_abi() == (updates[0].asset_id, assets.STATUS_CODE["Delinquent60"], 5_000,
                                   committed.evidence("L2"), 0)


def test_registry_updates_resume_where_a_run_stopped():
    committed = sv.commit_tape(_tape(), ORIGINATOR)
    updates = sv.registry_updates(_registry(), committed)
    final = sv.apply_updates(_registry(), updates)
    assert sv.registry_updates(final, committed, recorded=[u.asset_id for u in updates if u.recovered]) == []
    for k in range(len(updates) + 1):
        state = sv.apply_updates(_registry(), updates[:k])
        recorded = [u.asset_id for u in updates[:k] if u.recovered]
        rest = sv.registry_updates(state, committed, recorded)
        assert sv.apply_updates(state, rest).equals(final), k
        # every unit of recovered cash is recorded exactly once
        assert sum(u.recovered for u in updates[:k] + rest) == committed.report.recoveries


def test_registry_updates_send_only_the_recoveries_not_on_chain_yet():
    """Recovered cash recorded this period by an earlier run (another tape, a refused or cancelled report) counts
    by amount: the rest is sent, all of it recorded sends no cash, more than the tape is refused by name."""
    committed = sv.commit_tape(_tape(), ORIGINATOR)
    l5 = assets.asset_id(ORIGINATOR, "L5")
    partial = {u.loan_id: u.recovered for u in sv.registry_updates(_registry(), committed, {l5: 300})}
    assert partial["L5"] == 800 - 300 and partial["L6"] == 100
    whole = sv.registry_updates(_registry(), committed, {l5: 800})
    assert [(u.loan_id, u.recovered) for u in whole if u.loan_id == "L5"] == [("L5", 0)]  # the step, no cash
    with pytest.raises(sv.ServicingError, match="loan L5: the registry already holds recoveries of 900 this period, "
                                                "above the tape's 800"):
        sv.registry_updates(_registry(), committed, {l5: 900})


@pytest.mark.parametrize("status, principal, match", [
    ("Defaulted", 3_000, "Delinquent60 in the tape but Defaulted in the registry"),
    ("Delinquent30", 4_000, "balance 5000 above the registry's 4000"),
    ("Prepaid", 0, "Delinquent60 in the tape but Prepaid in the registry"),
    ("Performing", 5_000, "the registry cannot move from Performing to Delinquent60"),
])
def test_registry_updates_refuse_impossible_moves(status, principal, match):
    state = _registry()
    state.loc[1, ["status", "principal"]] = [status, principal]
    with pytest.raises(sv.ServicingError, match=f"loan L2: {match}"):
        sv.registry_updates(state, sv.commit_tape(_tape(), ORIGINATOR))
    with pytest.raises(sv.ServicingError, match="loan L6: in the tape but not in the pool's registry state"):
        sv.registry_updates(sv.without_loans(_registry(), ["L6"]), sv.commit_tape(_tape(), ORIGINATOR))


def test_quiet_period_carries_balances_and_claims():
    quiet = sv.quiet_period(_tape(), 3)
    assert sv.validate_servicing_tape(quiet, period=3)[1] == []
    report = sv.period_report(quiet)
    assert report == PeriodReport(0, 0, 0, 0, 0, 0, 5_000, 0, 14_600)
    assert quiet.set_index("loan_id").loc["L4", "beginning_principal"] == 2_500  # the claim carried
    assert quiet.set_index("loan_id").loc["L3", "beginning_principal"] == 0


# -------------------------------------------------------------------------------------------- allocation


def _cutoff(balances: list[int], rates: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"loan_id": [f"L{i:03d}" for i in range(len(balances))], "principal": balances,
                         "rate_bps": rates, "days_delinquent": [0] * len(balances)})


ORDER = {"Performing": 0, "Delinquent30": 1, "Delinquent60": 2, "Delinquent90": 3}


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.data_too_large, HealthCheck.too_slow])
@given(st.lists(st.integers(1_000, 10**9), min_size=5, max_size=30), st.booleans(), st.data())
def test_allocation_over_periods_is_exact_where_loans_allow_and_registry_legal(balances, secured, data):
    cutoff = _cutoff(balances, [data.draw(st.integers(600, 2400)) for _ in balances])
    book = sv.ServicingBook.open(cutoff, seed=3, secured=secured)
    registry = book.registry
    for _ in range(5):
        prev = book.last
        active = prev["status"].isin(assets.ACTIVE_STATUSES).to_numpy()
        recovering = prev["status"].isin(assets.RECOVERING_STATUSES).to_numpy()
        begin = int(prev.loc[active, "ending_principal"].sum())
        claims = int(prev.loc[recovering, "ending_principal"].sum())
        if begin == 0 and claims == 0:
            break
        largest = int(prev.loc[active, "ending_principal"].max()) if active.any() else 0
        d = data.draw(st.integers(0, begin // 4))
        p = data.draw(st.integers(0, begin // 4))
        s = data.draw(st.integers(0, begin // 4))
        r = data.draw(st.integers(0, claims + 10))
        buckets = [data.draw(st.integers(0, begin // 5)) for _ in range(3)]
        target = PeriodReport(interest_collections=data.draw(st.integers(0, begin // 50)), scheduled_principal=s,
                              prepayments=p, recoveries=r, defaults=d, delinquent_30=buckets[0],
                              delinquent_60=buckets[1], delinquent_90_plus=buckets[2], pool_ending_balance=0)
        tape = book.next_period(target)
        got = sv.period_report(tape)  # validates every balance rule of every row
        assert 2 * abs(got.defaults - d) <= largest  # whole loans: within half a loan
        assert got.prepayments == min(p, begin - got.defaults)
        assert got.recoveries == min(r, claims)
        paying = tape["status"].isin(("Performing", "Repaid")).to_numpy() & active
        avail = (tape["beginning_principal"] - tape["prepaid_principal"]).to_numpy()[paying]
        assert got.scheduled_principal == min(s, int(avail.sum()))
        if got.interest_collections:
            assert got.interest_collections == target.interest_collections
        assert got.pool_ending_balance == begin - got.defaults - got.prepayments - got.scheduled_principal
        for k, name in ((3, "delinquent_90_plus"), (2, "delinquent_60"), (1, "delinquent_30")):
            assert getattr(got, name) <= getattr(target, name)
        for before, after in zip(prev["status"], tape["status"], strict=True):
            if before in ORDER and after in ORDER:
                assert ORDER[after] <= ORDER[before] + 1, (before, after)
            if before in assets.CLOSED_STATUSES:
                assert after == before
            if after in ("Repossessed", "Disposed"):
                assert secured
        # what the registry needs to follow the tape is legal, and brings it to the tape's statuses
        committed = sv.commit_tape(tape, ORIGINATOR)
        registry = sv.apply_updates(registry, sv.registry_updates(registry, committed))
        assert registry["status"].tolist() == tape["status"].tolist()
        late = ~tape["status"].isin(("Performing",)).to_numpy()
        assert (registry["principal"].to_numpy()[late] == tape["ending_principal"].to_numpy()[late]).all()
        assert (registry["principal"].to_numpy() >= tape["ending_principal"].to_numpy()).all()  # lags, never below


def test_allocation_defaults_the_most_delinquent_first():
    cutoff = _cutoff([1_000, 2_000, 3_000], [1000, 1000, 1000])
    book = sv.ServicingBook.open(cutoff)
    tape = book.next_period(PeriodReport(0, 0, 0, 0, 0, 2_500, 0, 0, 0)).set_index("loan_id")
    behind = tape.index[tape["status"] == "Delinquent30"]
    assert len(behind) == 1 and tape.loc[behind[0], "ending_principal"] <= 2_500
    owed = int(tape.loc[behind[0], "ending_principal"])
    tape = book.next_period(PeriodReport(0, 0, 0, 0, owed, 0, 0, 0, 0)).set_index("loan_id")
    assert tape.loc[behind[0], "status"] == "Defaulted"  # the late loan defaults before any current one
    assert (tape.drop(index=behind[0])["status"] == "Performing").all()
    assert book.default_period.tolist() == [2 if lid == behind[0] else -1 for lid in book.last["loan_id"]]
    # recoveries with no loan in recovery cannot be realised: the tape recovers nothing (its report says so)
    assert sv.period_report(sv.ServicingBook.open(cutoff).next_period(PeriodReport(0, 0, 0, 10, 0, 0, 0, 0, 0))) \
        .recoveries == 0


def test_book_adopts_hand_written_tapes_and_forgets_bought_back_loans():
    cutoff = _cutoff([1_000, 2_000, 3_000], [1000, 1000, 1000])
    book = sv.ServicingBook.open(cutoff)
    quiet = sv.quiet_period(book.last, 1)
    quiet.loc[0, ["status", "defaulted_principal", "ending_principal"]] = ["Defaulted", 1_000, 900]
    book.adopt(quiet)
    assert book.period == 1 and book.default_period.tolist() == [1, -1, -1]
    with pytest.raises(sv.ServicingError, match="not the books' loans"):
        book.adopt(sv.quiet_period(book.last, 2).iloc[1:])
    with pytest.raises(TapeValidationError, match="period"):
        book.adopt(sv.quiet_period(book.last, 5))
    book.remove("L001")
    assert book.last["loan_id"].tolist() == ["L000", "L002"] and book.default_period.tolist() == [1, -1]
    assert book.registry["loan_id"].tolist() == ["L000", "L002"]
    with pytest.raises(sv.ServicingError, match="L001 is not in the books"):
        book.remove("L001")
    tape = book.next_period(PeriodReport(0, 0, 0, 900, 0, 0, 0, 0, 0))
    assert tape.set_index("loan_id").loc["L000", "status"] == "ChargedOff"  # unsecured: recovery closes
