"""The SPV from Python: offering, closing, periods, end of deal, and the deal's state read back.

Every function takes brownie contract objects and accounts and sends transactions with
:mod:`chainabs.chain.sender`, so the same code runs on brownie's anvil, an attached node and a live network.
Amounts are integers in base units. :class:`chainabs.model.deal.DealModel` is the off-chain mirror used to
check every on-chain figure (:func:`reconcile`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from chainabs.chain.abis import decode_deal_params
from chainabs.chain.connection import connected_web3
from chainabs.chain.contracts import contract_at
from chainabs.chain.read.tranches import tranche_states
from chainabs.chain.sender import Receipt, refusal, transact
from chainabs.model.deal import DealModel, Ledger
from chainabs.model.waterfall import DealState, PeriodReport, PeriodResult

#: ``ReportFigure``: the figures a report is checked by, in the order checked (``ReportDisagrees`` names one).
REPORT_FIGURES: tuple[str, ...] = (
    "PoolBalance", "ScheduledPrincipal", "Prepayments", "Defaults", "InterestCollections", "Recoveries", "LoanCount",
    "Delinquent30", "Delinquent60", "Delinquent90Plus", "DefaultsOnChain", "RecoveriesOnChain", "PrepaidInFull",
    "PaidOff",
)
#: A ``ServicingCommitment`` of nothing (for calls refused before the commitment is looked at).
EMPTY_COMMITMENT: tuple[bytes, tuple[int, ...]] = (b"\0" * 32, (0,) * 7)


# ----------------------------------------------------------------------------------------------- actions


def subscribe(spv: Any, investor: Any, class_index: int, amount: int, *, retained: bool = False) -> Receipt:
    """Approve the currency and subscribe ``amount`` of class ``class_index`` (payment and delivery)."""
    currency = currency_of(spv)
    transact(currency.approve, spv, int(amount), sender=investor)
    if retained:
        return transact(spv.subscribeRetained, class_index, int(amount), sender=investor)
    return transact(spv.subscribe, class_index, int(amount), sender=investor)


def pool_sold(spv: Any, servicer: Any) -> bool:
    """True when the SPV's own record says the close of its clean-up call sold the pool: a report from
    ``servicer`` would be refused ``PoolSold`` (asked with an ``eth_call``; the registry's pool owner is no proof
    either way, as the originator may give the pool back)."""
    error = refusal(spv.submitReport, PeriodReport(0, 0, 0, 0, 0, 0, 0, 0, 0).as_abi(), EMPTY_COMMITMENT, "",
                    sender=servicer)
    return error is not None and error.name == "PoolSold"


def close_deal(spv: Any, arranger: Any) -> Receipt:
    """Approve the reserve funding and close the deal (true sale of the pool)."""
    reserve = int(spv.terms()[6])
    if reserve:
        transact(currency_of(spv).approve, spv, reserve, sender=arranger)
    return transact(spv.closeDeal, sender=arranger)


def submit_report(spv: Any, servicer: Any, report: PeriodReport,
                  commitment: tuple[bytes, tuple[int, ...]] = EMPTY_COMMITMENT, tape_uri: str = "") -> Receipt:
    """Approve and deposit the period's collections with the report and its servicing tape's commitment
    (``chainabs.model.servicing.CommittedTape.commitment``; :func:`chainabs.chain.servicing.service_period`
    does the whole period)."""
    if report.cash_in:
        transact(currency_of(spv).approve, spv, report.cash_in, sender=servicer)
    return transact(spv.submitReport, report.as_abi(), commitment, tape_uri, sender=servicer)


def close_period(spv: Any, caller: Any, report: PeriodReport) -> Receipt:
    """Run the waterfall for the pending report (anyone may call once the payment date has come)."""
    return transact(spv.closePeriod, report.as_abi(), sender=caller)


def defaulted_claims(spv: Any) -> int:
    """The registry's claims on the deal pool's defaulted loans still in recovery."""
    terms = spv.terms()
    return int(contract_at("AssetRegistry", terms[1]).servicingFigures(int(terms[2]))[5])


def clean_up_price(spv: Any, report: PeriodReport) -> tuple[int, int]:
    """What a clean-up call on the pending ``report`` pays: (its pool balance, at par; the registry's claims
    on the defaulted loans still in recovery)."""
    return report.pool_ending_balance, defaulted_claims(spv)


def exercise_clean_up_call(spv: Any, originator: Any, report: PeriodReport) -> Receipt:
    """The originator buys what is left of the pool into the pending period (:func:`clean_up_price`); the
    pool's certificates go back to it at the period's close."""
    live, defaulted = clean_up_price(spv, report)
    transact(currency_of(spv).approve, spv, live + defaulted, sender=originator)
    return transact(spv.exerciseCleanUpCall, report.as_abi(), sender=originator)


def cancel_offering(spv: Any, caller: Any) -> Receipt:
    """Cancel the offering (the arranger any time before closing, anyone after the offering deadline)."""
    return transact(spv.cancelOffering, sender=caller)


def refund(spv: Any, caller: Any, holder: Any) -> int:
    """After a cancelled offering, cancel ``holder``'s units and pay it back; returns the amount refunded."""
    return int(transact(spv.refund, holder, sender=caller).event("Refunded")["amount"])


def cancel_report(spv: Any, trustee: Any) -> Receipt:
    """The trustee cancels the pending report; its deposits become returnable to their depositors."""
    return transact(spv.cancelReport, sender=trustee)


def withdraw_returned(spv: Any, depositor: Any) -> int:
    """Pay ``depositor`` what cancelled reports owe it back; returns the amount."""
    return int(transact(spv.withdrawReturned, sender=depositor).event("DepositReturned")["amount"])


def release_held(spv: Any, caller: Any, class_index: int) -> Receipt:
    """Deliver what is held for class ``class_index`` (a payment its token refused) to its token."""
    return transact(spv.releaseHeld, class_index, sender=caller)


def withdraw_fees(spv: Any, caller: Any, fee_index: int) -> Receipt:
    """Pay fee ``fee_index``'s recipient what it earned and was not paid yet (anyone may call)."""
    return transact(spv.withdrawFees, fee_index, sender=caller)


def withdraw_all_fees(spv: Any, caller: Any) -> list[int]:
    """Withdraw every fee's earnings to its recipient; returns the amount paid per fee."""
    paid = []
    for k in range(len(spv.feeRecipients())):
        tx = withdraw_fees(spv, caller, k)
        paid.append(int(tx.event("FeesWithdrawn")["amount"]) if "FeesWithdrawn" in tx.events else 0)
    return paid


def end_deal(spv: Any, caller: Any) -> Receipt:
    """End the deal (paid off or past legal final): the rest goes to the equity class."""
    return transact(spv.endDeal, sender=caller)


# ------------------------------------------------------------------------------------------------- views


def read_state(spv: Any) -> DealState:
    """The SPV's waterfall state after its last close."""
    return DealState.from_abi(spv.dealState())


def read_ledger(spv: Any) -> Ledger:
    """``SPV.ledger()`` as a :class:`chainabs.model.deal.Ledger`."""
    return Ledger(*(int(v) for v in spv.ledger()))


def result_of(receipt: Any) -> PeriodResult:
    """The ``PeriodResult`` a closePeriod transaction emitted."""
    return PeriodResult.from_abi(receipt.event("PeriodClosed")["result"])


def read_params(spv: Any) -> tuple[Any, ...]:
    """The deal's ``DealParams`` tuple, decoded from ``SPV.dealParamsEncoded()``."""
    return decode_deal_params(bytes(spv.dealParamsEncoded()))


def payment_rows(receipt: Any, closed: Any) -> list[dict[str, Any]]:
    """One row per class of a closePeriod transaction: what the chain paid (``PeriodClosed`` result, and the
    balance after it in ``ClassBalances``) against what the model paid (:class:`chainabs.model.deal.ClosedPeriod`),
    to the unit."""
    res = result_of(receipt)
    n = len(res.interest_paid)
    rows = []
    for ev in receipt.events["ClassBalances"]:
        i = int(ev["classIndex"])
        interest = res.interest_paid[i] + (res.residual if i == n - 1 else 0)
        row = {
            "period": int(ev["period"]), "class": i,
            "chain_interest": interest, "model_interest": closed.class_interest[i],
            "chain_principal": res.principal_paid[i], "model_principal": closed.result.principal_paid[i],
            "chain_write_down": res.write_down[i], "model_write_down": closed.result.write_down[i],
            "chain_balance": int(ev["balance"]), "model_balance": closed.state.class_balances[i],
        }
        row["match"] = all(row[f"chain_{k}"] == row[f"model_{k}"] for k in ("interest", "principal", "write_down", "balance"))
        rows.append(row)
    return rows


def reconcile(spv: Any, model: DealModel) -> pd.DataFrame:
    """Compare every on-chain figure with the model: one row per figure, ``match`` True when equal."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, chain_value: Any, model_value: Any) -> None:
        rows.append({"figure": figure, "chain": chain_value, "model": model_value, "match": chain_value == model_value})

    state = read_state(spv)
    for name, value in vars(model.state).items():
        add(f"state.{name}", getattr(state, name), value)
    ledger = read_ledger(spv)
    for name, value in vars(model.ledger).items():
        add(f"ledger.{name}", getattr(ledger, name), value)
    tranches = tranche_states(connected_web3(), [str(a) for a in spv.classTokens()])
    for i, t in enumerate(model.tranches):
        row = tranches.iloc[i]
        add(f"class{i}.original_face", int(row["original_face"]), t.original_face)
        add(f"class{i}.current_principal", int(row["current_principal"]), t.current_principal)
        add(f"class{i}.cumulative_write_down", int(row["cumulative_write_down"]), t.cumulative_write_down)
        add(f"class{i}.interest_shortfall", int(row["interest_shortfall"]), t.interest_shortfall)
        add(f"class{i}.interest_distributed", int(row["interest_distributed"]), t.interest_distributed)
        add(f"class{i}.principal_distributed", int(row["principal_distributed"]), t.principal_distributed)
        add(f"class{i}.held", tuple(int(v) for v in spv.heldForClass(i)), tuple(model.held[i]))
    currency = currency_of(spv)
    add("currency.balance_of_spv", int(currency.balanceOf(spv)), model.ledger.held)
    return pd.DataFrame(rows)


def currency_of(spv: Any) -> Any:
    """The deal currency (any ERC-20; the test stablecoin's ABI is a superset)."""
    return contract_at("TestStablecoin", spv.terms()[0])
