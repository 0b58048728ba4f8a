"""Deal-level tables: the tranches now, the investor report period by period, triggers, currency
movements, the regulator's events, the SPV's conservation identities, and the holders of each class.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from web3 import Web3

from chainabs.chain.alerts import classify
from chainabs.chain.read.deal import CURRENCY_ABI, DealReader, struct_field
from chainabs.chain.read.tranches import positions, tranche_states
from chainabs.model.deal import Ledger
from chainabs.model.waterfall import MINIMUM_TESTS, UNBOUNDED_RATIO, TriggerKind

#: Display names of the trigger tests.
TRIGGER_NAMES: dict[TriggerKind, str] = {
    TriggerKind.CUMULATIVE_NET_LOSS: "cumulative net loss",
    TriggerKind.DELINQUENCY_60_PLUS: "60+ delinquency",
    TriggerKind.OVERCOLLATERALISATION: "overcollateralisation",
    TriggerKind.INTEREST_COVERAGE: "interest coverage",
}


#: Columns of the tranche summary (a view of :func:`chainabs.chain.read.tranches.tranche_states`).
SUMMARY_COLUMNS: dict[str, str] = {
    "symbol": "class", "original_face": "original_face", "interest_distributed": "interest_distributed",
    "principal_distributed": "principal_distributed", "cumulative_write_down": "cumulative_write_down",
    "current_principal": "current_principal", "holders": "holders",
}


def summary_table(d: DealReader) -> pd.DataFrame:
    """Per class: original face, paid interest / principal, write-down, current principal, holders (token views)."""
    states = tranche_states(d.w3, d.tokens)
    return states[list(SUMMARY_COLUMNS)].rename(columns=SUMMARY_COLUMNS)


def investor_report(d: DealReader) -> pd.DataFrame:
    """Per period and tranche: balances, interest due / paid / shortfall, principal, write-down, factor."""
    classes = d.params[2]
    sizes = {i: 0 for i in range(len(d.tokens))}
    for e in d.of("Subscribed"):
        sizes[int(e.args["classIndex"])] += int(e.args["amount"])
    begin = dict(sizes)
    rows = []
    paid: dict[int, dict[int, Any]] = {}
    for e in d.of("ClassBalances"):
        paid.setdefault(int(e.args["period"]), {})[int(e.args["classIndex"])] = e.args
    for e in d.of("PeriodClosed"):
        period = int(e.args["period"])
        res = e.args["result"]
        interest_due = struct_field(res, "interestDue", 4)
        interest_paid = struct_field(res, "interestPaid", 5)
        principal_paid = struct_field(res, "principalPaid", 6)
        write_down = struct_field(res, "writeDown", 7)
        residual = int(struct_field(res, "residual", 14))
        n = len(interest_paid)
        balances = [int(paid[period][i]["balance"]) for i in range(n)]
        pdl = [int(paid[period][i]["pdl"]) for i in range(n)]
        shortfalls = [int(paid[period][i]["interestShortfall"]) for i in range(n)]
        for i in range(n):
            original = sizes[i]
            ending = int(balances[i])
            rows.append(
                {
                    "period": period,
                    "class": d.token_symbols[i],
                    "coupon_bps": int(struct_field(classes[i], "couponBps", 0)),
                    "beginning_balance": begin[i],
                    "interest_due": int(interest_due[i]),
                    "interest_paid": int(interest_paid[i]),
                    "residual_paid": residual if i == n - 1 else 0,
                    "interest_shortfall": int(shortfalls[i]),
                    "principal_paid": int(principal_paid[i]),
                    "write_down": int(write_down[i]),
                    "ending_balance": ending,
                    "principal_deficiency": int(pdl[i]),
                    "factor": (ending - int(pdl[i])) / original if original else 0.0,
                }
            )
            begin[i] = ending
    return pd.DataFrame(rows)


def trigger_report(d: DealReader) -> pd.DataFrame:
    """Per period and trigger: measured value, threshold, breached (from the waterfall's own figures)."""
    triggers = d.params[9]
    rows = []
    for e in d.of("PeriodClosed"):
        res = e.args["result"]
        values = struct_field(res, "triggerValues", 16)
        mask = int(struct_field(res, "triggersBreached", 17))
        for j, t in enumerate(triggers):
            kind = TriggerKind(int(struct_field(t, "kind", 0)))
            value = int(values[j])
            rows.append(
                {
                    "period": int(e.args["period"]),
                    "trigger": j,
                    "test": TRIGGER_NAMES[kind],
                    "value_bps": None if value == UNBOUNDED_RATIO else value,
                    "threshold_bps": int(struct_field(t, "thresholdBps", 1)),
                    "breached_when": "below" if kind in MINIMUM_TESTS else "above",
                    "breached": bool((mask >> j) & 1),
                }
            )
    return pd.DataFrame(rows)


def currency_movements(d: DealReader) -> pd.DataFrame:
    """Every transfer of the currency into or out of the SPV, with its transaction hash."""
    rows = []
    for e in d.of("Transfer", contract=d.currency):
        src, dst = Web3.to_checksum_address(e.args["from"]), Web3.to_checksum_address(e.args["to"])
        rows.append(
            {
                "block": e.block_number,
                "tx": e.tx_hash,
                "direction": "in" if dst == d.spv_address else "out",
                "counterparty": src if dst == d.spv_address else dst,
                "amount": int(e.args["value"]),
            }
        )
    return pd.DataFrame(rows, columns=["block", "tx", "direction", "counterparty", "amount"])


def regulator_events(d: DealReader) -> pd.DataFrame:
    """Alerts and privileged actions of every contract of the deal (role changes, pauses, forced transfers...)."""
    rows = []
    for e in d.events:
        kind = classify(e.event, e.args)
        if kind is None or e.address == d.currency:
            continue
        rows.append({"block": e.block_number, "tx": e.tx_hash, "kind": kind, "contract": e.contract,
                     "address": e.address, "event": e.event, "args": {k: _short(v) for k, v in e.args.items()}})
    return pd.DataFrame(rows, columns=["block", "tx", "kind", "contract", "address", "event", "args"])


def _short(value: Any) -> Any:
    """Event arguments for a table: bytes as hex, lists of more than 4 items as their length."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_short(v) for v in value] if len(value) <= 4 else f"[{len(value)} items]"
    return value


def conservation(d: DealReader) -> dict[str, int]:
    """``SPV.ledger()`` with its two identities (:class:`chainabs.model.deal.Ledger`) checked against the currency
    balance."""
    ledger = Ledger(*(int(v) for v in d.spv.functions.ledger().call()))
    values = dict(vars(ledger))
    erc20 = d.contract(CURRENCY_ABI, d.currency)
    values["currency_balance"] = int(erc20.functions.balanceOf(d.spv_address).call())
    values["received"] = ledger.received
    values["accounted"] = ledger.accounted
    values["balanced"] = int(ledger.received == ledger.accounted and values["currency_balance"] == ledger.held)
    return values


#: Columns of the holder statements (a view of :func:`chainabs.chain.read.tranches.positions`).
STATEMENT_COLUMNS: dict[str, str] = {
    "symbol": "class", "holder": "holder", "balance": "balance", "interest_withdrawn": "interest_claimed",
    "principal_withdrawn": "principal_claimed", "interest_withdrawable": "interest_claimable",
    "principal_withdrawable": "principal_claimable",
}


def holder_statements(d: DealReader, holders: list[str]) -> pd.DataFrame:
    """Each holder's statement per class (holders that never held or were owed anything left out): balance,
    claimed and claimable interest and principal."""
    frame = positions(d.w3, d.tokens, holders, skip_empty=True)
    return frame[list(STATEMENT_COLUMNS)].rename(columns=STATEMENT_COLUMNS).reset_index(drop=True)


def token_holders(d: DealReader) -> list[str]:
    """Every address that ever received a tranche token (from Transfer events)."""
    seen: dict[str, None] = {}
    for e in d.of("Transfer"):
        if e.address in d.tokens:
            to = Web3.to_checksum_address(e.args["to"])
            if int(to, 16) != 0:
                seen[to] = None
    return list(seen)


