"""Reports fixtures: the consumer deal driven through three periods of KNOWN loan-level collections.

The cut-off tape is rebuilt here the way ``plugins.spv.onboarded_pool`` built it (same seed and
criteria), independently of the reports code. Each period's servicing tape is written by hand below:
named loans prepay, default, fall delinquent and recover; every other loan pays 1/24 of its balance and a
month of interest at its own rate (30/360).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pytest

from chainabs.chain.sender import transact
from chainabs.chain import spv as spvlib
from chainabs.model.synthetic import generate_tape
from chainabs.model.tape import onboarding_order, select_eligible
from chainabs.model import terms
from chainabs.dev.sandbox import BOOK_LOANS
from chainabs.chain.connection import advance_to

PERIODS = 3
CURTAILMENT = 1_000_000  # one currency unit (6 decimals) paid early by loan C in period 2
RECOVERY_PCT = 40  # recovered in period 2 of loan B's defaulted principal


def cutoff_tape(spec: Any) -> pd.DataFrame:
    """The fixture pool's cut-off tape, typed, in onboarding order (same as ``plugins.spv.onboarded_pool``)."""
    from chainabs.model.tape import check_tape

    kind = spec.eligibility.asset_types[0]
    book = generate_tape(BOOK_LOANS, kind=kind, seed=11, cutoff=spec.dates.cut_off, decimals=spec.currency.decimals)
    criteria = terms.criteria_from_spec(spec)
    tape = select_eligible(book, criteria, today=spec.dates.cut_off)
    return onboarding_order(check_tape(tape, criteria, today=spec.dates.cut_off))


def known_tapes(cutoff: pd.DataFrame) -> tuple[dict[str, str], list[pd.DataFrame]]:
    """Three hand-written servicing tapes. Loans (by loan id order): A prepays in full in period 1; B defaults
    in full in period 1 (its claim: the whole loan) and its recovery closes in period 2 with 40% of its cut-off
    principal collected (charged off); D falls 30 days delinquent in period 1, 60 in period 2 and defaults in
    period 3, paying nothing; C curtails one unit in period 2. The others amortise."""
    ids = sorted(cutoff["loan_id"])
    named = {"A": ids[0], "B": ids[1], "C": ids[2], "D": ids[3]}
    rate = dict(zip(cutoff["loan_id"], cutoff["rate_bps"].astype(int), strict=True))
    balance = dict(zip(cutoff["loan_id"], cutoff["principal"].astype(int), strict=True))
    status = dict.fromkeys(ids, "Performing")
    tapes = []
    for period in range(1, PERIODS + 1):
        rows = []
        for lid in ids:
            begin = balance[lid] if status[lid] not in ("Prepaid", "Repaid", "ChargedOff") else 0
            row = {"period": period, "loan_id": lid, "status": status[lid], "days_delinquent": 0,
                   "beginning_principal": begin, "scheduled_principal": 0, "prepaid_principal": 0,
                   "defaulted_principal": 0, "interest_collected": 0, "recoveries": 0}
            if lid == named["A"] and period == 1:
                row.update(prepaid_principal=begin, status="Prepaid")
            elif lid == named["B"] and period == 1:
                row.update(defaulted_principal=begin, status="Defaulted")
            elif lid == named["B"] and period == 2:
                row.update(recoveries=balance_at_cutoff(cutoff, lid) * RECOVERY_PCT // 100, status="ChargedOff")
            elif lid == named["D"]:
                if period < 3:
                    row.update(status=("Delinquent30", "Delinquent60")[period - 1], days_delinquent=30 * period)
                else:
                    row.update(defaulted_principal=begin, status="Defaulted")
            elif begin > 0:
                row.update(scheduled_principal=begin // 24, interest_collected=begin * rate[lid] // 12_000)
                if lid == named["C"] and period == 2:
                    row["prepaid_principal"] = CURTAILMENT
            row["ending_principal"] = (row["beginning_principal"] - row["scheduled_principal"]
                                       - row["prepaid_principal"] - row["defaulted_principal"])
            if row["defaulted_principal"]:
                row["ending_principal"] = row["defaulted_principal"]  # the claim on the defaulted loan
            elif row["status"] == "ChargedOff":
                row["ending_principal"] = 0
            status[lid] = row["status"]
            balance[lid] = row["ending_principal"]
            rows.append(row)
        tapes.append(pd.DataFrame(rows))
    return named, tapes


def balance_at_cutoff(cutoff: pd.DataFrame, loan_id: str) -> int:
    return int(cutoff.loc[cutoff["loan_id"] == loan_id, "principal"].iloc[0])


@dataclass
class ServedDeal:
    """The closed deal after the known periods: its fixture, cut-off tape, tapes, reports, receipts."""

    deal: Any
    cutoff: pd.DataFrame
    named: dict[str, str]
    tapes: list[pd.DataFrame]
    reports: list[Any] = field(default_factory=list)
    closes: list[Any] = field(default_factory=list)
    url: str = ""


def run_period(d: Any, previous: pd.DataFrame, tape: pd.DataFrame, caller: Any) -> tuple[Any, Any]:
    """The servicer's period from its tape (registry updates read from chain, recovery steps by the disposal
    agent, report with the tape's commitment), then the close once due."""
    from chainabs.chain import servicing as servicer_side
    from chainabs.model import servicing

    report = servicing.period_report(tape)
    if report.cash_in:
        transact(d.currency.mint, d.roles["servicer"], report.cash_in, sender=d.roles["arranger"])
    period = int(tape["period"].iloc[0])
    servicer_side.service_period(d.spv, tape, d.roles["servicer"], disposal_agent=d.roles["disposal_agent"],
                                 tape_uri=f"ipfs://servicing-tape/{period}")
    d.model.submit(report)
    advance_to(int(d.spv.paymentDate(period)))
    tx = spvlib.close_period(d.spv, caller, report)
    assert spvlib.result_of(tx) == d.model.close_period().result
    return report, tx


@pytest.fixture(scope="module")
def served(closed, stranger):
    """The closed consumer deal after three known periods (module scope: built once per test module)."""
    import copy
    import dataclasses

    from brownie import web3

    from chainabs.model import servicing

    d = dataclasses.replace(closed, model=copy.deepcopy(closed.model))
    cutoff = cutoff_tape(d.spec)
    named, tapes = known_tapes(cutoff)
    out = ServedDeal(d, cutoff, named, tapes, url=web3.provider.endpoint_uri)
    previous = servicing.opening_tape(cutoff)
    for tape in tapes:
        report, tx = run_period(d, previous, tape, stranger)
        out.reports.append(report)
        out.closes.append(tx)
        previous = tape
    return out


def amortising_tape(previous: pd.DataFrame, cutoff: pd.DataFrame, late: tuple[str, ...] = ()) -> pd.DataFrame:
    """The next period after ``previous``: active loans pay 1/24 of their balance and a month of interest,
    except the ``late`` ones, which pay nothing and fall one bucket (30 more days) behind."""
    rate = dict(zip(cutoff["loan_id"], cutoff["rate_bps"].astype(int), strict=True))
    rows = []
    for r in previous.to_dict("records"):
        active = r["status"] in ("Performing", "Delinquent30", "Delinquent60", "Delinquent90")
        recovering = r["status"] in ("Defaulted", "InRecovery", "Repossessed")
        begin = int(r["ending_principal"]) if active or recovering else 0
        row = {**r, "period": int(r["period"]) + 1, "beginning_principal": begin, "scheduled_principal": 0,
               "prepaid_principal": 0, "defaulted_principal": 0, "interest_collected": 0, "recoveries": 0}
        if r["loan_id"] in late and active:
            days = min(int(r["days_delinquent"]) + 30, 90)
            row.update(days_delinquent=days, status=("Performing", "Delinquent30", "Delinquent60", "Delinquent90")[days // 30])
        elif active:
            row.update(scheduled_principal=begin // 24, interest_collected=begin * rate[r["loan_id"]] // 12_000)
        row["ending_principal"] = begin - row["scheduled_principal"]  # a claim in recovery stays as it was
        rows.append(row)
    return pd.DataFrame(rows)
