"""What each explorer page shows, as JSON-ready data built from the read side (:mod:`chainabs.chain.read`).

The deal, pool and regulator pages are built once per new block by the indexer (:func:`build_snapshot`);
the loan and investor pages per request (:func:`loan_view`, :func:`investor_view`). Amounts stay integers in
the currency's base units (``currency.decimals`` says how many); the templates format them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from web3 import Web3

from chainabs.apps.display import Money, short_hex
from chainabs.apps.reports import deal_title
from chainabs.chain import alerts
from chainabs.chain.abis import role_names
from chainabs.chain.read import investors as investorread
from chainabs.chain.read import loans as loanread
from chainabs.chain.read import overview
from chainabs.chain.read import pool as poolread
from chainabs.chain.read.deal import DealReader, struct_field
from chainabs.chain.read.tables import TRIGGER_NAMES
from chainabs.model import numbers
from chainabs.model.assets import STATUSES
from chainabs.model.waterfall import TriggerKind

#: Buckets shown per concentration kind (largest first; breached ones always).
CONCENTRATION_TOP = 8
#: Regulator rows a page shows at most (the JSON endpoint takes ``limit``).
REGULATOR_ROWS = 200


# --------------------------------------------------------------------------------------------------- helpers


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, bytes to 0x hex, timestamps to ISO, NaN to None."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(float(value)) else float(value)
    if isinstance(value, (pd.Timestamp, dt.date)):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A table as a list of JSON-ready rows."""
    return [jsonable(r) for r in frame.to_dict("records")]


ROLE_NAMES = role_names()


def currency_info(d: DealReader) -> dict[str, Any]:
    return {"address": d.currency, "symbol": d.currency_symbol, "decimals": d.decimals}


def money(d: DealReader) -> Money:
    return Money(d.decimals, d.currency_symbol)


# --------------------------------------------------------------------------------------------------- deal


def deal_view(d: DealReader) -> dict[str, Any]:
    """The deal page: phase, dates, tranches, reserve, triggers, fees, documents, ledger."""
    state = overview.deal_state(d)
    tranches = overview.tranche_overview(d)
    return {
        "spv": d.spv_address, "title": deal_title(d), "currency": currency_info(d), "registry": d.registry,
        "pool_id": d.pool_id, "originator": d.originator, "state": state, "dates": overview.deal_dates(d),
        "tranches": records(tranches), "reserve": overview.reserve_overview(d, state),
        "triggers": records(overview.trigger_overview(d, state)), "fees": records(overview.fee_overview(d)),
        "documents": records(overview.documents(d)), "ledger": jsonable(overview.ledger(d)),
        "principal_mode": "sequential" if int(d.params[8]) == 0 else "pro rata",
        "clean_up_call_bps": int(d.params[10]), "original_pool_balance": int(d.params[1]),
    }


# --------------------------------------------------------------------------------------------------- pool


def pool_view(d: DealReader) -> dict[str, Any]:
    """The pool page: the registry's pool now, status tally, performance per period (delinquency buckets,
    cumulative loss), concentration against the limits, stratification."""
    reg = poolread.registry_contract(d).functions
    info = reg.poolInfo(d.pool_id).call()
    keys = ("originator", "owner", "approved", "sealed", "registered", "count", "principal", "cutoff_principal",
            "cutoff_count", "wa_rate_bps", "wa_maturity_date", "wa_remaining_term_days", "root")
    pool = {k: (("0x" + bytes(v).hex()) if isinstance(v, (bytes, bytearray)) else v)
            for k, v in zip(keys, info[: len(keys)], strict=True)}
    status = poolread.pool_status(d)
    tally = []
    values = dict(zip(status["measure"], status["value"], strict=True))
    for name in STATUSES:
        if name in ("None", "Repurchased"):
            continue
        tally.append({"status": name, "count": int(values[f"{name} count"]), "principal": int(values[f"{name} principal"])})
    performance = poolread.pool_report(d)
    cols = ["period", "payment_date", "beginning_balance", "interest_collected", "scheduled_principal", "prepayments",
            "defaults", "recoveries", "ending_balance", "delinquent_30", "delinquent_60", "delinquent_90_plus",
            "delinquent_60_plus_pct", "cpr_pct", "cdr_pct", "cumulative_net_loss", "cumulative_net_loss_pct",
            "loans_outstanding", "wa_rate_bps", "registry_matches_report"]
    cnl = next((int(struct_field(t, "thresholdBps", 1)) for t in d.params[9]
                if int(struct_field(t, "kind", 0)) == TriggerKind.CUMULATIVE_NET_LOSS), None)
    dq = next((int(struct_field(t, "thresholdBps", 1)) for t in d.params[9]
               if int(struct_field(t, "kind", 0)) == TriggerKind.DELINQUENCY_60_PLUS), None)
    strata = poolread.stratification(d)
    return {
        "spv": d.spv_address, "title": deal_title(d), "currency": currency_info(d), "registry": d.registry,
        "pool_id": d.pool_id, "pool": jsonable(pool), "status_tally": tally,
        "performance": records(performance[[c for c in cols if c in performance.columns]]) if not performance.empty else [],
        "cumulative_loss_trigger_bps": cnl, "delinquency_trigger_bps": dq,
        "concentration": concentration_view(d),
        "stratification": {name: records(t.drop(columns="dimension")) for name, t in strata.items()},
    }


def concentration_view(d: DealReader) -> dict[str, Any]:
    """Per kind (region, industry, obligor): the limit and the largest buckets now and at the cut-off, with
    their shares (bps, rounded down like the registry) and whether they are above the limit."""
    crit = poolread.registry_contract(d).functions.poolCriteria(d.pool_id).call()
    limits = {"region": int(crit[8]), "industry": int(crit[9]), "obligor": int(crit[10])}
    cut = poolread.pool_tape(d)
    state = poolread.registry_states(d)
    frame = pd.DataFrame({"region": cut["region"].astype("int64"), "industry": cut["industry"].astype("int64"),
                          "obligor": cut["obligor"], "cutoff": cut["principal"].astype("int64"),
                          "now": state["principal"].astype("int64")})
    cut_total, now_total = int(frame["cutoff"].sum()), int(frame["now"].sum())
    out: dict[str, Any] = {}
    for kind, limit in limits.items():
        g = frame.groupby(kind)[["cutoff", "now"]].sum().astype("int64")
        g["cutoff_bps"] = (g["cutoff"] * 10_000 // cut_total) if cut_total else 0
        g["bps"] = (g["now"] * 10_000 // now_total) if now_total else 0
        g["breached_now"] = [int(v) * 10_000 > now_total * limit for v in g["now"]]
        g["breached_at_cutoff"] = [int(v) * 10_000 > cut_total * limit for v in g["cutoff"]]
        g = g.sort_values(["now", "cutoff"], ascending=False)
        shown = pd.concat([g.head(CONCENTRATION_TOP), g[g["breached_now"] | g["breached_at_cutoff"]]])
        shown = shown[~shown.index.duplicated()].reset_index().rename(
            columns={kind: "bucket", "now": "principal", "cutoff": "cutoff_principal"})
        shown["bucket"] = shown["bucket"].astype(str)
        out[kind] = {"limit_bps": limit, "buckets": int(len(g)), "breaches": int((g["breached_now"]).sum()),
                     "rows": records(shown[["bucket", "principal", "bps", "cutoff_principal", "cutoff_bps",
                                            "breached_now", "breached_at_cutoff"]])}
    return out


# --------------------------------------------------------------------------------------------------- regulator


def _status_name(code: Any) -> str:
    return STATUSES[int(code)] if 0 <= int(code) < len(STATUSES) else str(code)


def describe(e: Any, d: DealReader, m: Money, loan_ids: Mapping[int, str]) -> str:
    """One line saying what an event means, amounts in currency units."""
    a = e.args
    name = e.event
    symbol_of = dict(zip(d.tokens, d.token_symbols, strict=True))
    cls = lambda i: d.token_symbols[int(i)] if int(i) < len(d.token_symbols) else f"class {i}"  # noqa: E731
    units = lambda v: numbers.format_amount(int(v), d.decimals) + " units"  # noqa: E731 - token units (of face)
    token = symbol_of.get(e.address, e.contract)
    if name in ("TriggerBreached", "TriggerCured"):
        test = TRIGGER_NAMES.get(TriggerKind(int(a["kind"])), str(a["kind"]))
        verb = "breached" if name == "TriggerBreached" else "cured"
        return (f"period {a['period']}: {test} trigger {verb}, value {numbers.format_bps(int(a['valueBps']))} "
                f"against threshold {numbers.format_bps(int(a['thresholdBps']))}")
    if name == "DelinquencyAlert":
        return (f"period {a['period']}: 60+ days delinquency {numbers.format_bps(int(a['delinquent60PlusBps']))} "
                f"above the alert level {numbers.format_bps(int(a['alertBps']))}")
    if name == "InterestShortfall":
        return f"period {a['period']}: {cls(a['classIndex'])} short of {m.amount(int(a['shortfall']))} interest"
    if name == "ReserveDrawn":
        return f"period {a['period']}: {m.amount(int(a['amount']))} drawn, reserve now {m.amount(int(a['reserveBalance']))}"
    if name in ("PrincipalWrittenDown", "PrincipalReinstated"):
        verb = "written down" if name == "PrincipalWrittenDown" else "reinstated"
        return (f"{symbol_of.get(e.address, e.address)}: {m.amount(int(a['amount']))} {verb}, outstanding "
                f"{m.amount(int(a['currentPrincipal']))}")
    if name == "InterestShortfallSet":
        return f"{symbol_of.get(e.address, e.address)}: unpaid interest carried {m.amount(int(a['amount']))}"
    if name == "ClassPaymentHeld":
        return (f"period {a['period']}: {cls(a['classIndex'])}'s token refused {m.amount(int(a['interest']))} interest "
                f"and {m.amount(int(a['principal']))} principal (held by the SPV)")
    if name == "DealEnded":
        return (f"deal ended after period {a['period']}: {m.amount(int(a['releasedToEquity']))} released to equity, "
                f"{m.amount(int(a['finalWriteDown']))} final write-down" + (" (legal final)" if a["legalFinal"] else ""))
    if name in ("FeeShortfallSettled", "InterestShortfallSettled"):
        whose = f"fee {a['feeIndex']}" if name == "FeeShortfallSettled" else cls(a["classIndex"])
        what = "fee" if name == "FeeShortfallSettled" else "interest"
        return (f"end of the deal after period {a['period']}: {whose}'s carried {what} shortfall, "
                f"{m.amount(int(a['paid']))} paid, {m.amount(int(a['lost']))} lost")
    if name == "AssetStatusChanged":
        loan = loan_ids.get(int(a["assetId"]), short_hex(hex(int(a["assetId"]))))
        return (f"loan {loan}: {_status_name(a['from'])} → {_status_name(a['to'])}, principal "
                f"{m.amount(int(a['principal']))}")
    if name == "AssetRepurchased":
        loan = loan_ids.get(int(a["assetId"]), short_hex(hex(int(a["assetId"]))))
        return f"loan {loan} repurchased by the originator at {m.amount(int(a['principal']))}"
    if name in ("RoleGranted", "RoleRevoked"):
        role = ROLE_NAMES.get("0x" + bytes(a["role"]).hex(), short_hex("0x" + bytes(a["role"]).hex()))
        verb = "granted to" if name == "RoleGranted" else "revoked from"
        return f"{role} {verb} {a['account']} by {a['sender']}"
    if name == "ControllerTransfer":
        return f"{token}: controller {a['controller']} moved {units(a['value'])} from {a['from']} to {a['to']}"
    if name == "ControllerRedemption":
        return f"{token}: controller {a['controller']} redeemed {units(a['value'])} of {a['tokenHolder']}"
    if name == "WalletRecovered":
        return f"{token}: {units(a['units'])} of lost wallet {a['lost']} recovered to {a['replacement']}"
    if name in ("TransfersPaused", "TransfersUnpaused"):
        return f"{symbol_of.get(e.address, e.address)}: transfers {'paused' if name == 'TransfersPaused' else 'resumed'} by {a['pauser']}"
    if name == "ReportSubmitted":
        return f"period {a['period']}: servicer {a['servicer']} reported {m.amount(int(a['collections']))} collections"
    if name == "DealClosed":
        return (f"deal closed by {a['closer']}: pool {a['poolId']} bought for {m.amount(int(a['purchasePrice']))}, "
                f"reserve funded {m.amount(int(a['reserveFunded']))}")
    if name == "InvestorRegistered":
        return (f"investor {a['investor']} registered (jurisdiction {a['jurisdiction']}, expires "
                f"{numbers.format_date(int(a['expiry']))})")
    if name == "InvestorFrozen":
        return f"investor {a['investor']} {'frozen' if a['frozen'] else 'unfrozen'} by {a['agent']}"
    if name == "DocumentUpdated":
        return f"{symbol_of.get(e.address, e.address)}: document {bytes(a['name']).rstrip(bytes(1)).decode('utf-8', 'replace')} set to {a['uri']}"
    if name == "Issued":
        return f"{token}: {units(a['value'])} issued to {a['to']}"
    if name == "IssuedByPartition":
        return f"{token}: {units(a['value'])} issued to {a['to']} in partition {_text32(a['partition'])}"
    if name == "IssuanceClosed":
        return f"{token}: issuance closed by {a['by']}"
    if name == "DealBound":
        return f"{token}: bound to the deal {a['deal']} by {a['admin']}"
    if name == "PoolCreated":
        return f"pool {a['poolId']} created for originator {a['originator']}"
    if name == "AssetsRegistered":
        return f"pool {a['poolId']}: {len(a['leaves']):,} loans registered from index {int(a['firstIndex']):,}, principal {m.amount(int(a['principal']))}"
    if name == "PoolSealed":
        return (f"pool {a['poolId']} sealed: {int(a['count']):,} loans, principal {m.amount(int(a['principal']))}, "
                f"root {short_hex('0x' + bytes(a['root']).hex())}")
    if name == "PoolApproved":
        return f"pool {a['poolId']}: {a['operator']} approved by its owner {a['owner']} to take it"
    if name == "PoolTransferred":
        return f"pool {a['poolId']} ({int(a['assetCount']):,} loans) sold by {a['from']} to {a['to']}"
    if name == "JurisdictionAllowed":
        return f"jurisdiction {a['jurisdiction']} {'allowed' if a['allowed'] else 'refused'} by {a['admin']}"
    parts = []
    for k, v in a.items():
        if isinstance(v, (bytes, bytearray)):
            v = short_hex("0x" + bytes(v).hex())
        elif isinstance(v, bool):
            pass
        elif isinstance(v, int) and k in _MONEY_ARGS:
            v = m.amount(v)
        elif isinstance(v, int) and k.lower().endswith("bps"):
            v = numbers.format_bps(v)
        elif isinstance(v, (list, tuple)):
            v = f"[{len(v)} items]"
        elif isinstance(v, dict):
            v = "{…}"
        parts.append(f"{k}={v}")
    return ", ".join(map(str, parts))


#: Event arguments that are amounts of currency (shown in currency units by :func:`describe`'s fallback).
_MONEY_ARGS = frozenset({"amount", "principal", "collections", "purchasePrice", "reserveFunded", "interest", "shortfall",
                         "price", "proceeds", "paid", "owed", "fee", "balance", "releasedToEquity", "finalWriteDown"})


def _text32(value: Any) -> str:
    """A bytes32 name (partition, document) as text when it is printable, else short hex."""
    raw = bytes(value).rstrip(b"\0")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    return text if text and text.isprintable() else short_hex("0x" + bytes(value).hex())


def regulator_view(d: DealReader) -> dict[str, Any]:
    """The regulator page: every alert (rule, severity) and privileged action of the deal's contracts with its
    block, time and transaction, counts by rule and severity, forced transfers apart."""
    m = money(d)
    classify = alerts.pool_classifier(d.registry, d.pool_id)
    tape = poolread.pool_tape(d)
    loan_ids = dict(zip(tape["asset_id"].map(int), tape["loan_id"], strict=True))
    rows: list[dict[str, Any]] = []
    for e in d.events:
        if e.address == d.currency:
            continue
        kind = classify(e)
        if kind is None:
            continue
        rule = alerts.alert_rule(e.event, e.args) if kind == "alert" else None
        rows.append({
            "block": e.block_number, "tx": e.tx_hash, "log_index": e.log_index, "kind": kind,
            "rule": rule[0] if rule else None, "severity": rule[1] if rule else None, "contract": e.contract,
            "address": e.address, "event": e.event, "forced": e.event in alerts.FORCED_TRANSFER_EVENTS,
            "detail": describe(e, d, m, loan_ids),
        })
    times = d.block_times({r["block"] for r in rows})
    for r in rows:
        r["time"] = times[r["block"]]
    rows.reverse()  # newest first
    counts = Counter((r["rule"], r["severity"]) for r in rows if r["kind"] == "alert")
    order = {s: i for i, s in enumerate(alerts.SEVERITIES)}
    summary = [{"rule": rule, "severity": sev, "count": n,
                "last_block": next(r["block"] for r in rows if r["rule"] == rule and r["severity"] == sev)}
               for (rule, sev), n in sorted(counts.items(), key=lambda kv: (order[kv[0][1]], kv[0][0]))]
    return {
        "spv": d.spv_address, "title": deal_title(d), "currency": currency_info(d), "summary": summary,
        "severities": list(alerts.SEVERITIES),
        "alerts": [r for r in rows if r["kind"] == "alert"],
        "privileged": [r for r in rows if r["kind"] == "privileged"],
        "forced_transfers": [r for r in rows if r["forced"]],
        "counts": {"alerts": sum(counts.values()), "privileged": sum(1 for r in rows if r["kind"] == "privileged"),
                   "forced_transfers": sum(1 for r in rows if r["forced"])},
    }


def filter_regulator(view: Mapping[str, Any], *, rule: str | None = None, severity: str | None = None,
                     limit: int = REGULATOR_ROWS) -> dict[str, Any]:
    """The regulator view with its alerts filtered by rule and / or severity, each list cut to ``limit``
    rows (newest first; the totals stay whole)."""
    shown = [r for r in view["alerts"] if (rule is None or r["rule"] == rule) and (severity is None or r["severity"] == severity)]
    return {**view, "alerts": shown[:limit], "privileged": view["privileged"][:limit],
            "forced_transfers": view["forced_transfers"][:limit], "matching_alerts": len(shown),
            "filter": {"rule": rule, "severity": severity, "limit": limit}}


# --------------------------------------------------------------------------------------------------- per request


def loan_view(d: DealReader, query: str) -> dict[str, Any]:
    """A loan by loan id or asset id: its cut-off record, its registry state, status history and Merkle proof
    checked on chain. Raises :class:`chainabs.chain.read.loans.LoanNotFound`."""
    row = loanread.find_loan(d, query)
    record = loanread.loan_record(d, row)
    proof = loanread.loan_proof(d, row)
    return {
        "spv": d.spv_address, "title": deal_title(d), "currency": currency_info(d), "registry": d.registry,
        "pool_id": d.pool_id, "query": query,
        # the asset id is a 256-bit number: a decimal string (JSON numbers lose digits past 2**53 in browsers)
        "record": {**jsonable(record), "asset_id": str(int(record["asset_id"]))},
        "asset_id_hex": hex(int(record["asset_id"])), "state": jsonable(loanread.loan_state(d, record["asset_id"])),
        "history": records(loanread.loan_history(d, record["asset_id"])),
        "proof": {"leaf": proof.leaf, "proof": proof.proof, "root": proof.root, "sealed_root": proof.sealed_root,
                  "verified_on_chain": proof.verified_on_chain},
    }


class UnknownInvestor(LookupError):
    """An address that never held, received or subscribed anything in the deal."""


def investor_view(d: DealReader, address: str) -> dict[str, Any]:
    """An investor's positions per tranche and partition, claimable and claimed funds, and history. Raises
    ``ValueError`` for a malformed address and :class:`UnknownInvestor` for one the deal never saw."""
    if not Web3.is_address(address):
        raise ValueError(f"{address!r} is not an Ethereum address")
    who = Web3.to_checksum_address(address)
    if not investorread.known_investor(d, who):
        raise UnknownInvestor(f"address {who} never subscribed to, held or received a tranche of this deal")
    pos = investorread.investor_positions(d, who)
    pos = pos.merge(pd.DataFrame({"token": d.tokens, "class": range(len(d.tokens))}), on="token")
    claimable = int(pos["interest_withdrawable"].sum() + pos["principal_withdrawable"].sum())
    return {
        "spv": d.spv_address, "title": deal_title(d), "currency": currency_info(d), "address": who,
        "positions": records(pos), "claimable": claimable,
        "claimed": int(pos["interest_withdrawn"].sum() + pos["principal_withdrawn"].sum()),
        "history": records(investorread.investor_history(d, who)),
    }


# --------------------------------------------------------------------------------------------------- snapshot


def build_snapshot(d: DealReader) -> dict[str, Any]:
    """Everything the deal, pool and regulator pages show at the reader's last block."""
    head = d.w3.eth.get_block(d.last_block)
    return {
        "block": int(head["number"]), "block_time": int(head["timestamp"]), "chain_id": int(d.w3.eth.chain_id),
        "deal": deal_view(d), "pool": pool_view(d), "regulator": regulator_view(d),
        "tokens": [{"address": a, "symbol": s, "name": n} for a, s, n in zip(d.tokens, d.token_symbols, d.token_names, strict=True)],
    }
