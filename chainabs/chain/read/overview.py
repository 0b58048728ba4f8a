"""The deal now, from the SPV's and tokens' views: phase, dates, state, reserve, triggers with their headroom,
fees, documents (ERC-1643) and the ledger. What an investor's deal page shows; read with a handful of
batched view calls per new block (the event tables are in :mod:`.tables` and :mod:`.pool`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from chainabs.chain.read.deal import TOKEN_ABI, DealReader, batch_call, struct_field
from chainabs.chain.read.tables import TRIGGER_NAMES
from chainabs.model.deal import Ledger
from chainabs.model.waterfall import MINIMUM_TESTS, UNBOUNDED_RATIO, TriggerKind

#: ``ISPV.Phase`` names by code.
PHASES: tuple[str, ...] = ("Offering", "Active", "Ended", "Cancelled")
#: ``DealState`` members in order.
STATE_FIELDS: tuple[str, ...] = (
    "periods_closed", "pool_balance", "class_balances", "interest_shortfalls", "pdl", "fee_shortfalls",
    "reserve_balance", "cumulative_defaults", "cumulative_recoveries", "triggers_breached",
)
#: Events after which the closing date is known.
CLOSING_EVENTS = frozenset({"DealClosed"})


def deal_state(d: DealReader) -> dict[str, Any]:
    """Phase, ``dealState()``, the next payment date (while the deal is active) and whether a servicer
    report is pending, in one batch of view calls."""
    spv = d.spv.functions
    phase, state, pending = batch_call(d.w3, [spv.phase(), spv.dealState(), spv.pendingReportHash()])
    values = {name: struct_field(state, name, k) for k, name in enumerate(STATE_FIELDS)}
    out: dict[str, Any] = {
        "phase": PHASES[int(phase)],
        **{k: (list(map(int, v)) if isinstance(v, (list, tuple)) else int(v)) for k, v in values.items()},
        "report_pending": int.from_bytes(bytes(pending), "big") != 0,
    }
    out["next_period"] = out["periods_closed"] + 1
    out["next_payment_date"] = (int(spv.paymentDate(out["next_period"]).call())
                                if out["phase"] in ("Offering", "Active") else None)
    return out


def deal_dates(d: DealReader) -> dict[str, int | None]:
    """The deal's dates (unix seconds): the pool's cut-off, the closing (the ``DealClosed`` block), the
    offering deadline, the first payment and the legal final date."""
    closed = d.of("DealClosed")
    closing = d.block_times([closed[0].block_number])[closed[0].block_number] if closed else None
    crit = d.contract("AssetRegistry", d.registry).functions.poolCriteria(d.pool_id).call()
    return {"cut_off": int(crit[0]), "closing": closing, "offering_deadline": int(d.terms[8]),
            "first_payment": int(d.terms[4]), "legal_final": int(d.terms[5])}


def tranche_overview(d: DealReader) -> pd.DataFrame:
    """Per class (seniority order): name, symbol, coupon, original face, factor (1e18), outstanding principal,
    interest and principal distributed, write-down, interest shortfall, holders, supply and the token's
    address (token views, one batch per token)."""
    rows = []
    classes = d.params[2]
    for i, address in enumerate(d.tokens):
        fn = d.contract(TOKEN_ABI, address).functions
        (coupon, face, current, factor, written, shortfall, interest, principal, holders, supply, decimals,
         paused) = batch_call(d.w3, [
            fn.couponBps(), fn.originalFace(), fn.currentPrincipal(), fn.factor(), fn.cumulativeWriteDown(),
            fn.interestShortfall(), fn.totalInterestDistributed(), fn.totalPrincipalDistributed(), fn.holderCount(),
            fn.totalSupply(), fn.decimals(), fn.paused()])
        rows.append({
            "class": i, "name": d.token_names[i], "symbol": d.token_symbols[i],
            "equity": bool(struct_field(classes[i], "isEquity", 1)), "coupon_bps": int(coupon),
            "original_face": int(face), "factor": int(factor), "current_principal": int(current),
            "interest_distributed": int(interest), "principal_distributed": int(principal),
            "cumulative_write_down": int(written), "interest_shortfall": int(shortfall), "holders": int(holders),
            "supply": int(supply), "decimals": int(decimals), "paused": bool(paused), "address": address,
        })
    return pd.DataFrame(rows)


def last_result(d: DealReader) -> Any | None:
    """The ``PeriodResult`` of the last period close (None before the first)."""
    closes = d.of("PeriodClosed")
    return closes[-1].args["result"] if closes else None


def trigger_overview(d: DealReader, state: dict[str, Any] | None = None) -> pd.DataFrame:
    """Each trigger now: its test, threshold, the value measured at the last close, whether it is breached
    (the deal state's mask: what governs the next close), its headroom (how far the value may move before a
    breach, in bps; negative when breached), what a breach switches and whether it can cure."""
    state = state or deal_state(d)
    result = last_result(d)
    values = struct_field(result, "triggerValues", 16) if result is not None else None
    rows = []
    for j, t in enumerate(d.params[9]):
        kind = TriggerKind(int(struct_field(t, "kind", 0)))
        threshold = int(struct_field(t, "thresholdBps", 1))
        value = None if values is None or int(values[j]) == UNBOUNDED_RATIO else int(values[j])
        minimum = kind in MINIMUM_TESTS
        headroom = None if value is None else (value - threshold if minimum else threshold - value)
        rows.append({
            "trigger": j, "test": TRIGGER_NAMES[kind], "threshold_bps": threshold, "value_bps": value,
            "breached_when": "below" if minimum else "above", "headroom_bps": headroom,
            "breached": bool((int(state["triggers_breached"]) >> j) & 1),
            "switches_to_sequential": bool(struct_field(t, "switchesToSequential", 2)),
            "steps_up_reserve": bool(struct_field(t, "stepsUpReserve", 3)), "curable": bool(struct_field(t, "curable", 4)),
        })
    return pd.DataFrame(rows)


def reserve_overview(d: DealReader, state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The reserve account: balance now, its target at the last close, the funded amount at closing, the
    floor and the target rates (bps of the pool; stepped up after a breach), the classes it covers."""
    state = state or deal_state(d)
    result = last_result(d)
    params = d.params
    covered = int(params[7])
    return {
        "balance": int(state["reserve_balance"]), "initial": int(d.terms[6]),
        "target": int(struct_field(result, "reserveTarget", 12)) if result is not None else None,
        "step_up": bool(struct_field(result, "reserveStepUp", 1)) if result is not None else False,
        "target_bps": int(params[4]), "step_up_target_bps": int(params[5]), "floor": int(params[6]),
        "covers_interest_of": d.token_symbols[:covered],
    }


def fee_overview(d: DealReader) -> pd.DataFrame:
    """Per fee: recipient, fixed amount per period, rate (bps p.a. of the pool), total paid out, owed now
    (earned, not yet withdrawn), and shortfall carried."""
    spv = d.spv.functions
    recipients = spv.feeRecipients().call()
    calls = [c for k in range(len(recipients)) for c in (spv.feePaidTotal(k), spv.feeOwed(k))]
    values = batch_call(d.w3, calls)
    state = deal_state(d)
    rows = []
    for k, recipient in enumerate(recipients):
        fee = d.params[3][k]
        rows.append({
            "fee": k, "recipient": recipient, "fixed_amount": int(struct_field(fee, "fixedAmount", 0)),
            "pool_bps": int(struct_field(fee, "poolBps", 1)), "paid": int(values[2 * k]), "owed": int(values[2 * k + 1]),
            "shortfall": int(state["fee_shortfalls"][k]) if k < len(state["fee_shortfalls"]) else 0,
        })
    return pd.DataFrame(rows, columns=["fee", "recipient", "fixed_amount", "pool_bps", "paid", "owed", "shortfall"])


def documents(d: DealReader) -> pd.DataFrame:
    """Every ERC-1643 document of every tranche token: token symbol and address, name, URI, content hash and the
    time it was last updated (unix seconds) (:func:`chainabs.chain.documents.read_documents`)."""
    from chainabs.chain.documents import read_documents

    return read_documents(d.w3, d.tokens)


def ledger(d: DealReader) -> dict[str, Any]:
    """``SPV.ledger()`` as {item: amount} with the two totals (received, accounted), the SPV's currency
    balance and whether the identities hold (:class:`chainabs.model.deal.Ledger`)."""
    spv = d.spv.functions
    erc20 = d.contract("IERC20Metadata", d.currency).functions
    raw, balance = batch_call(d.w3, [spv.ledger(), erc20.balanceOf(d.spv_address)])
    book = Ledger(*(int(v) for v in raw))
    return {"items": dict(vars(book)), "received": book.received, "accounted": book.accounted,
            "held": book.held, "currency_balance": int(balance),
            "balanced": book.received == book.accounted and int(balance) >= book.held}
