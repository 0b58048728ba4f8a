"""Investor, pool and regulator reports rebuilt from chain data alone.

Everything here starts from an RPC URL and an SPV address: the SPV's views name the currency, the
registry and the tranche tokens; their event logs, read in block ranges public nodes accept, give every
period, payment, currency movement and privileged action. Nothing is read from files of the run that
produced the deal, so anyone reproduces the same tables.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from web3 import Web3

from chainabs.deal import Ledger
from chainabs.events import DecodedEvent, EventDecoder, decode_deal_params, load_abi, read_events
from chainabs.monitor import classify

#: Contract names whose ABIs decode each part of a deal (brownie build names).
SPV_ABI = "SPV"
TOKEN_ABI = "TrancheToken"
REGISTRY_ABI = "AssetRegistry"
CURRENCY_ABI = "IERC20"
IDENTITY_ABI = "IdentityRegistry"

TRIGGER_NAMES = ("cumulative net loss", "60+ delinquency", "overcollateralisation", "interest coverage")
#: Rows of one table shown in the HTML report (the CSV files have them all).
HTML_MAX_ROWS = 500
#: Coverage tests are breached below their threshold; the others above.
MINIMUM_TRIGGER_KINDS = frozenset({2, 3})


def _field(value: Any, name: str, index: int) -> Any:
    """A struct member from a decoded tuple (web3 gives tuples or attribute dicts)."""
    if isinstance(value, dict):
        return value[name]
    if hasattr(value, name):
        return getattr(value, name)
    return value[index]


@dataclass
class DealData:
    """A deal read from chain: addresses, terms and all events of its contracts."""

    w3: Web3
    spv: Any
    spv_address: str
    currency: str
    registry: str
    tokens: list[str]
    token_names: list[str]
    token_symbols: list[str]
    decimals: int
    params: Any
    terms: Any
    start_block: int
    pool_id: int = 0
    originator: str = ""
    events: list[DecodedEvent] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def of(self, *names: str, contract: str | None = None) -> list[DecodedEvent]:
        """Events with one of ``names`` (optionally of one contract address), in chain order."""
        wanted = set(names)
        return [e for e in self.events if e.event in wanted and (contract is None or e.address == contract)]

    def units(self, amount: int) -> float:
        """Base units -> currency units (for display only; tables keep integers)."""
        return amount / 10**self.decimals


def load_deal(rpc_url: str, spv_address: str, *, start_block: int | None = None, chunk: int = 2_000) -> DealData:
    """Read a deal's addresses, terms and events from ``rpc_url`` given only the SPV address.

    Events of the SPV, tokens and identity registry are read from ``start_block`` (default: the first
    block where one of them has code); the registry's from its own deployment (the pool was created and
    onboarded before the deal existed), keeping only events of the deal's pool and role changes.
    """
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    spv_address = Web3.to_checksum_address(spv_address)
    spv = w3.eth.contract(address=spv_address, abi=load_abi(SPV_ABI))
    terms = spv.functions.terms().call()
    currency, registry = Web3.to_checksum_address(terms[0]), Web3.to_checksum_address(terms[1])
    tokens = [Web3.to_checksum_address(a) for a in spv.functions.classTokens().call()]
    token_abi = load_abi(TOKEN_ABI)
    names, symbols = [], []
    for addr in tokens:
        tok = w3.eth.contract(address=addr, abi=token_abi)
        names.append(tok.functions.name().call())
        symbols.append(tok.functions.symbol().call())
    erc20 = w3.eth.contract(address=currency, abi=load_abi("IERC20Metadata"))
    decimals = erc20.functions.decimals().call()
    watch = deal_contracts(rpc_url, spv_address)
    if start_block is None:
        start_block = min(_deployment_block(w3, a) for a, name in watch.items() if name != REGISTRY_ABI)
    registry_start = min(_deployment_block(w3, registry), start_block)
    contracts = {a: (name, load_abi(name)) for a, name in watch.items()}
    # The registry's ERC-721 per-asset events (a mint per registered asset) are never used: not decoded.
    contracts[registry] = (REGISTRY_ABI, [i for i in contracts[registry][1]
                                          if not (i.get("type") == "event" and i.get("name") in ERC721_EVENTS)])
    data = DealData(
        w3=w3, spv=spv, spv_address=spv_address, currency=currency, registry=registry, tokens=tokens,
        token_names=names, token_symbols=symbols, decimals=decimals, params=decode_deal_params(spv.functions.dealParamsEncoded().call()),
        terms=terms, start_block=start_block, pool_id=int(terms[2]), originator=Web3.to_checksum_address(terms[3]),
    )
    events = read_events(w3, EventDecoder(w3, contracts), start_block, chunk=chunk)
    if registry_start < start_block:
        only_registry = EventDecoder(w3, {registry: contracts[registry]})
        events += read_events(w3, only_registry, registry_start, start_block - 1, chunk=chunk)
    data.events = [e for e in events if e.address != registry or of_pool(e, data.pool_id)]
    data.events += _currency_movements(w3, currency, spv_address, start_block, chunk)
    data.events.sort(key=lambda e: e.order)
    return data


#: The registry's ERC-721 events: registration, status changes, repurchases and pool transfers carry the pool.
ERC721_EVENTS = frozenset({"Transfer", "Approval", "ApprovalForAll"})
#: Registry events without a pool that concern every pool (kept in a deal's events).
REGISTRY_WIDE_EVENTS = frozenset({"RoleGranted", "RoleRevoked", "RoleAdminChanged"})


def of_pool(event: DecodedEvent, pool_id: int) -> bool:
    """True for a registry event of pool ``pool_id`` or a registry-wide one (role changes). ERC-721 per-asset
    events are dropped: registration, status changes and repurchases carry the pool."""
    if "poolId" in event.args:
        return int(event.args["poolId"]) == pool_id
    return event.event in REGISTRY_WIDE_EVENTS


def deal_contracts(rpc_url: str, spv_address: str) -> dict[str, str]:
    """Address -> ABI name of every contract of a deal, discovered from the SPV's views."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 30}))
    spv = w3.eth.contract(address=Web3.to_checksum_address(spv_address), abi=load_abi(SPV_ABI))
    terms = spv.functions.terms().call()
    out = {Web3.to_checksum_address(spv_address): SPV_ABI, Web3.to_checksum_address(terms[1]): REGISTRY_ABI}
    token_abi = load_abi(TOKEN_ABI)
    for addr in spv.functions.classTokens().call():
        out[Web3.to_checksum_address(addr)] = TOKEN_ABI
        identity = w3.eth.contract(address=addr, abi=token_abi).functions.identityRegistry().call()
        out[Web3.to_checksum_address(identity)] = IDENTITY_ABI
    return out


def summary_table(d: DealData) -> pd.DataFrame:
    """Per class: original face, paid interest / principal, write-down, current principal (token views)."""
    rows = []
    token_abi = load_abi(TOKEN_ABI)
    for i, addr in enumerate(d.tokens):
        tok = d.w3.eth.contract(address=addr, abi=token_abi).functions
        rows.append({
            "class": d.token_symbols[i],
            "original_face": tok.originalFace().call(),
            "interest_distributed": tok.totalInterestDistributed().call(),
            "principal_distributed": tok.totalPrincipalDistributed().call(),
            "cumulative_write_down": tok.cumulativeWriteDown().call(),
            "current_principal": tok.currentPrincipal().call(),
            "holders": tok.holderCount().call(),
        })
    return pd.DataFrame(rows)


def _deployment_block(w3: Web3, address: str) -> int:
    """First block where ``address`` has code (binary search over eth_getCode)."""
    lo, hi = 0, w3.eth.block_number
    while lo < hi:
        mid = (lo + hi) // 2
        if len(w3.eth.get_code(address, block_identifier=mid)) > 0:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _currency_movements(w3: Web3, currency: str, spv: str, start: int, chunk: int) -> list[DecodedEvent]:
    """Transfer events of the currency into or out of the SPV."""
    decoder = EventDecoder(w3, {currency: ("Currency", load_abi(CURRENCY_ABI))})
    return [
        e for e in read_events(w3, decoder, start, chunk=chunk)
        if e.event == "Transfer" and spv in (Web3.to_checksum_address(e.args["from"]), Web3.to_checksum_address(e.args["to"]))
    ]


# ------------------------------------------------------------------------------------ pool from registry

#: ``PeriodReport`` members in ABI order (snake case, as :class:`chainabs.waterfall.PeriodReport`).
REPORT_FIELDS: tuple[str, ...] = (
    "interest_collections", "scheduled_principal", "prepayments", "recoveries", "defaults", "delinquent_30",
    "delinquent_60", "delinquent_90_plus", "pool_ending_balance",
)
_REPORT_ABI_NAMES = ("interestCollections", "scheduledPrincipal", "prepayments", "recoveries", "defaults",
                     "delinquent30", "delinquent60", "delinquent90Plus", "poolEndingBalance")


def report_fields(report: Any) -> dict[str, int]:
    """A decoded ``PeriodReport`` struct as {snake_case field: int}."""
    return {name: int(_field(report, abi, k)) for k, (name, abi) in enumerate(zip(REPORT_FIELDS, _REPORT_ABI_NAMES))}


def registry_contract(d: DealData) -> Any:
    """The deal's AssetRegistry as a web3 contract."""
    return d.w3.eth.contract(address=d.registry, abi=load_abi(REGISTRY_ABI))


def pool_tape(d: DealData) -> pd.DataFrame:
    """The pool's cut-off tape rebuilt from chain data: the ``registerAndPool`` calldata of every
    ``AssetsRegistered`` transaction of the pool, each record checked against the leaf the registry emitted.

    Columns: the tape's (:data:`chainabs.tape.TAPE_COLUMNS`, dates as datetime64) plus ``asset_id`` and
    ``leaf``, in registration order.
    """
    if "pool_tape" in d.cache:
        return d.cache["pool_tape"]
    from chainabs.merkle import leaf_hash
    from chainabs.tape import ASSET_TYPES, LEAF_TYPES, TAPE_COLUMNS, asset_id, loan_id_text, unpack_record

    reg = registry_contract(d)
    type_names = {code: name for name, code in ASSET_TYPES.items()}
    rows: list[dict[str, Any]] = []
    for e in d.of("AssetsRegistered", contract=d.registry):
        tx = d.w3.eth.get_transaction(e.tx_hash)
        _, params = reg.decode_function_input(tx["input"])
        leaves = [bytes(x) for x in e.args["leaves"]]
        records = [unpack_record(r) for r in params["records"]]
        if len(records) != len(leaves):
            raise ValueError(f"tx {e.tx_hash}: {len(records)} records for {len(leaves)} registered leaves")
        for record, leaf in zip(records, leaves, strict=True):
            if leaf_hash((d.originator, *record), LEAF_TYPES) != leaf:
                raise ValueError(f"tx {e.tx_hash}: a calldata record does not hash to the emitted leaf {leaf.hex()}")
            row = dict(zip(TAPE_COLUMNS, record, strict=True))
            row["loan_id"] = loan_id_text(row["loan_id"])
            row["asset_type"] = type_names.get(int(row["asset_type"]), str(row["asset_type"]))
            for h in ("obligor", "contract_hash", "schedule_hash"):
                row[h] = "0x" + bytes(row[h]).hex()
            row["asset_id"] = asset_id(d.originator, row["loan_id"])
            row["leaf"] = "0x" + leaf.hex()
            rows.append(row)
    frame = pd.DataFrame(rows, columns=[*TAPE_COLUMNS, "asset_id", "leaf"])
    for col in ("origination_date", "maturity_date"):
        frame[col] = pd.to_datetime(frame[col].astype("int64"), unit="s")
    d.cache["pool_tape"] = frame
    return frame


def _status_names() -> tuple[str, ...]:
    from chainabs.servicing import STATUSES

    return STATUSES


def _position(key: tuple | None) -> int | None:
    """Chain position of an event key (block, tx, log index): log indexes are unique within a block."""
    return None if key is None else int(key[0]) * 1_000_000 + int(key[2])


def status_events(d: DealData, *, after: tuple | None = None, before: tuple | None = None) -> pd.DataFrame:
    """The pool's ``AssetStatusChanged`` and ``AssetRepurchased`` events strictly between event keys
    ``after`` and ``before`` (either optional), in chain order: block, tx, log_index, asset_id, loan_id,
    event, from, to (status names), principal, evidence."""
    if "status_events" not in d.cache:
        names = _status_names()
        tape = pool_tape(d)
        ids = dict(zip(tape["asset_id"], tape["loan_id"], strict=True))
        rows = []
        for e in d.of("AssetStatusChanged", "AssetRepurchased", contract=d.registry):
            a = e.args
            repurchase = e.event == "AssetRepurchased"
            rows.append({
                "block": e.block_number, "tx": e.tx_hash, "log_index": e.log_index, "asset_id": int(a["assetId"]),
                "loan_id": ids.get(int(a["assetId"])), "event": e.event,
                "from": None if repurchase else names[int(a["from"])],
                "to": "Repurchased" if repurchase else names[int(a["to"])],
                "principal": 0 if repurchase else int(a["principal"]),
                "evidence": "0x" + bytes(a["evidence"]).hex(),
            })
        frame = pd.DataFrame(rows, columns=["block", "tx", "log_index", "asset_id", "loan_id", "event", "from", "to",
                                            "principal", "evidence"])
        frame = frame.assign(_pos=frame["block"].astype("int64") * 1_000_000 + frame["log_index"].astype("int64"))
        d.cache["status_events"] = frame.sort_values("_pos", kind="stable").reset_index(drop=True)
    frame = d.cache["status_events"]
    mask = pd.Series(True, index=frame.index)
    if after is not None:
        mask &= frame["_pos"] > _position(after)
    if before is not None:
        mask &= frame["_pos"] < _position(before)
    return frame[mask].drop(columns="_pos").reset_index(drop=True)


def registry_states(d: DealData, *, before: tuple | None = None) -> pd.DataFrame:
    """Every pool asset's registry state (status, principal) just before event key ``before`` (default:
    now), replayed from its registration record and the status events: the cut-off tape's columns with
    ``status`` and ``principal`` updated (repurchased assets: status Repurchased, principal 0)."""
    from chainabs.servicing import status_for_days

    tape = pool_tape(d).copy()
    tape["status"] = status_for_days(tape["days_delinquent"])
    changes = status_events(d, before=before)
    if not changes.empty:
        last = changes.drop_duplicates("asset_id", keep="last").set_index("asset_id")
        hit = tape["asset_id"].isin(last.index)
        tape.loc[hit, "status"] = tape.loc[hit, "asset_id"].map(last["to"])
        tape.loc[hit, "principal"] = tape.loc[hit, "asset_id"].map(last["principal"]).astype("int64")
    tape["principal"] = tape["principal"].astype("int64")
    return tape


def _weighted(state: pd.DataFrame, timestamp: int) -> dict[str, Any]:
    """Count, principal, WA rate, WA maturity date and WA remaining term in days as of unix ``timestamp``
    (the registry's arithmetic: principal-weighted, floors) of the assets with principal outstanding."""
    live = state[state["principal"] > 0]
    p = [int(x) for x in live["principal"]]
    total = sum(p)
    if total == 0:
        return {"loans_outstanding": 0, "registry_principal": 0, "wa_rate_bps": 0, "wa_maturity_date": None,
                "wa_remaining_term_days": 0}
    rate = sum(a * int(r) for a, r in zip(p, live["rate_bps"], strict=True)) // total
    mats = (live["maturity_date"].astype("datetime64[s]").astype("int64")).tolist()
    wa_mat = sum(a * int(m) for a, m in zip(p, mats, strict=True)) // total
    return {"loans_outstanding": len(p), "registry_principal": total, "wa_rate_bps": rate,
            "wa_maturity_date": pd.Timestamp(wa_mat, unit="s").date().isoformat(),
            "wa_remaining_term_days": max(wa_mat - timestamp, 0) // 86_400}


def pool_status(d: DealData) -> pd.DataFrame:
    """The pool now, from the registry's views: count, principal, weighted averages, and per status the
    number of assets and their principal (``statusTally``)."""
    reg = registry_contract(d).functions
    info = reg.poolInfo(d.pool_id).call()
    keys = ("originator", "owner", "approved", "isSealed", "registered", "count", "principal", "cutoffPrincipal",
            "cutoffCount", "waRateBps", "waMaturityDate", "waRemainingTermDays")
    values = dict(zip(keys, info[: len(keys)], strict=True))
    rows = [{"measure": k, "value": v} for k, v in values.items()]
    for code, name in enumerate(_status_names()[1:8], start=1):
        count, principal = reg.statusTally(d.pool_id, code).call()
        rows.append({"measure": f"{name} count", "value": int(count)})
        rows.append({"measure": f"{name} principal", "value": int(principal)})
    return pd.DataFrame(rows)


#: Stratification bands: (column, edges, label unit). Edges are lower bounds of each band.
STRATA: dict[str, tuple[str, tuple[int, ...]]] = {
    "rate": ("rate_bps", (0, 600, 900, 1200, 1500, 1800, 2100, 2400)),
    "original_term": ("term_months", (0, 7, 13, 19, 25, 37, 61)),
    "remaining_term_at_cutoff": ("remaining_term_months", (0, 7, 13, 19, 25, 37, 61)),
    "size": ("principal", ()),
}


def _band_labels(edges: tuple[int, ...], unit: str) -> list[str]:
    return [f"{a}-{b - 1} {unit}" for a, b in zip(edges, edges[1:])] + [f">= {edges[-1]} {unit}"]


def stratification(d: DealData) -> dict[str, pd.DataFrame]:
    """Stratification tables of the pool by rate, original term, remaining term at the cut-off date (months
    of 30 days), region, industry and size: per band the number of loans and principal at the cut-off and
    now (registry state), share of the pool (% of principal) and weighted average rate (current principal).
    Size bands are by cut-off principal, in steps of a tenth of the largest loan rounded up to a currency
    unit."""
    state = registry_states(d)
    cutoff_time = int(registry_contract(d).functions.poolCriteria(d.pool_id).call()[0])
    cut = pool_tape(d)
    frame = pd.DataFrame({
        "rate_bps": cut["rate_bps"].astype("int64"), "term_months": cut["term_months"].astype("int64"),
        "region": cut["region"].astype("int64"), "industry": cut["industry"].astype("int64"),
        "cutoff_principal": cut["principal"].astype("int64"), "principal": state["principal"].astype("int64"),
        "remaining_term_months": ((cut["maturity_date"].astype("datetime64[s]").astype("int64") - cutoff_time)
                                  .clip(lower=0) // (30 * 86_400)).astype("int64"),
    })
    unit = 10**d.decimals
    top = int(frame["cutoff_principal"].max()) if len(frame) else unit
    step = max(unit, -(-top // 10 // unit) * unit)
    size_edges = tuple(range(0, top + step, step))
    out: dict[str, pd.DataFrame] = {}
    for name, (col, edges) in STRATA.items():
        if name == "size":
            col, edges = "cutoff_principal", size_edges
            labels = [f"{a // unit:,}-{b // unit:,}" for a, b in zip(edges, edges[1:])] + [f">= {edges[-1] // unit:,}"]
        else:
            labels = _band_labels(edges, "bps" if name == "rate" else "months")
        band = pd.cut(frame[col], bins=[*edges, np.inf], right=False, labels=labels)
        out[name] = _strata_table(frame.assign(band=band), "band", labels)
    for col in ("region", "industry"):
        out[col] = _strata_table(frame.assign(band=frame[col]), "band", sorted(frame[col].unique()))
    for name, table in out.items():
        table.insert(0, "dimension", name)
    return out


def _strata_table(frame: pd.DataFrame, by: str, order: list[Any]) -> pd.DataFrame:
    frame = frame.assign(rate_w=frame["rate_bps"] * frame["principal"])
    g = frame.groupby(by, observed=False)
    table = pd.DataFrame({
        "cutoff_loans": g["cutoff_principal"].count(),
        "cutoff_principal": g["cutoff_principal"].sum(),
        "loans": g["principal"].apply(lambda s: int((s > 0).sum())),
        "principal": g["principal"].sum(),
        "rate_w": g["rate_w"].sum(),
    }).reindex(order).fillna(0).astype("int64")
    cut_total = int(table["cutoff_principal"].sum())
    total = int(table["principal"].sum())
    table["cutoff_pct"] = 100 * table["cutoff_principal"] / cut_total if cut_total else 0.0
    table["pct"] = 100 * table["principal"] / total if total else 0.0
    table["wa_rate_bps"] = (table["rate_w"] // table["principal"].where(table["principal"] > 0, 1)).where(table["principal"] > 0, 0)
    table = table.drop(columns="rate_w").reset_index().rename(columns={by: "bucket"})
    return table[table["cutoff_loans"] > 0].reset_index(drop=True)


def concentration_report(d: DealData) -> pd.DataFrame:
    """Largest exposures per region, industry and obligor against the pool's limits, at the cut-off (what the
    registry checked at seal) and now (amortisation and defaults move the shares after the seal): one row
    per bucket that is the largest of its kind or above its limit at either date."""
    crit = registry_contract(d).functions.poolCriteria(d.pool_id).call()
    limits = {"region": int(crit[8]), "industry": int(crit[9]), "obligor": int(crit[10])}
    cut = pool_tape(d)
    state = registry_states(d)
    frame = pd.DataFrame({"region": cut["region"].astype("int64"), "industry": cut["industry"].astype("int64"),
                          "obligor": cut["obligor"], "cutoff": cut["principal"].astype("int64"),
                          "now": state["principal"].astype("int64")})
    cut_total, now_total = int(frame["cutoff"].sum()), int(frame["now"].sum())
    rows = []
    for kind, limit in limits.items():
        g = frame.groupby(kind)[["cutoff", "now"]].sum()
        g["cutoff_bps"] = g["cutoff"] * 10_000 // cut_total if cut_total else 0
        g["now_bps"] = g["now"] * 10_000 // now_total if now_total else 0
        largest = {g["cutoff"].idxmax(), g["now"].idxmax()}
        over_cut = g["cutoff"].astype(object) * 10_000 > cut_total * limit
        over_now = g["now"].astype(object) * 10_000 > now_total * limit
        for bucket, r in g.iterrows():
            if bucket in largest or over_cut[bucket] or over_now[bucket]:
                rows.append({"kind": kind, "bucket": bucket, "cutoff_principal": int(r["cutoff"]),
                             "cutoff_bps": int(r["cutoff_bps"]), "principal": int(r["now"]), "bps": int(r["now_bps"]),
                             "limit_bps": limit, "breached_at_cutoff": bool(over_cut[bucket]),
                             "breached_now": bool(over_now[bucket])})
    return pd.DataFrame(rows, columns=["kind", "bucket", "cutoff_principal", "cutoff_bps", "principal", "bps",
                                       "limit_bps", "breached_at_cutoff", "breached_now"])


def asset_status_changes(d: DealData) -> pd.DataFrame:
    """Asset status changes for the regulator: every status event whose status changed (principal-only
    servicing updates left out) and every repurchase, with its transaction."""
    ev = status_events(d)
    return ev[ev["from"] != ev["to"]].drop(columns="log_index").reset_index(drop=True)


# ------------------------------------------------------------------------------------------- tables


def investor_report(d: DealData) -> pd.DataFrame:
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
        interest_due = _field(res, "interestDue", 4)
        interest_paid = _field(res, "interestPaid", 5)
        principal_paid = _field(res, "principalPaid", 6)
        write_down = _field(res, "writeDown", 7)
        residual = int(_field(res, "residual", 14))
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
                    "coupon_bps": int(_field(classes[i], "couponBps", 0)),
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


def pool_report(d: DealData) -> pd.DataFrame:
    """Per period: pool balance, collections, delinquency buckets, realized CPR / CDR / severity, net loss
    (from the servicer's reports), and from the asset registry just before each report: loans outstanding,
    registry principal, weighted average rate, maturity date and remaining term as of the period's payment
    date (registry arithmetic), and whether the registry's principal equals the reported pool balance."""
    original = int(d.params[1])
    begin = original
    cum_defaults = cum_recoveries = 0
    rows = []
    for e in d.of("ReportSubmitted"):
        r = e.args["report"]
        interest, sched, prepay, recov, defaults = (int(_field(r, n, k)) for k, n in enumerate(
            ("interestCollections", "scheduledPrincipal", "prepayments", "recoveries", "defaults")))
        d30, d60, d90 = (int(_field(r, n, k)) for k, n in ((5, "delinquent30"), (6, "delinquent60"), (7, "delinquent90Plus")))
        ending = int(_field(r, "poolEndingBalance", 8))
        cum_defaults += defaults
        cum_recoveries += recov
        base = begin - sched
        smm = prepay / base if base > 0 else 0.0
        mdr = defaults / begin if begin > 0 else 0.0
        rows.append(
            {
                "period": int(e.args["period"]),
                "beginning_balance": begin,
                "interest_collected": interest,
                "scheduled_principal": sched,
                "prepayments": prepay,
                "defaults": defaults,
                "recoveries": recov,
                "ending_balance": ending,
                "delinquent_30": d30,
                "delinquent_60": d60,
                "delinquent_90_plus": d90,
                "delinquent_60_plus_pct": 100 * (d60 + d90) / ending if ending else 0.0,
                "cpr_pct": 100 * (1 - (1 - smm) ** 12),
                "cdr_pct": 100 * (1 - (1 - mdr) ** 12),
                "severity_pct": 100 * (cum_defaults - cum_recoveries) / cum_defaults if cum_defaults else 0.0,
                "cumulative_net_loss": max(cum_defaults - cum_recoveries, 0),
                "cumulative_net_loss_pct": 100 * max(cum_defaults - cum_recoveries, 0) / original,
                **_weighted(registry_states(d, before=e.key), int(d.spv.functions.paymentDate(int(e.args["period"])).call())),
                "tape_root": "0x" + bytes(e.args["tapeRoot"]).hex(),
                "tape_uri": e.args["tapeUri"],
            }
        )
        rows[-1]["registry_matches_report"] = rows[-1]["registry_principal"] == ending
        begin = ending
    return pd.DataFrame(rows)


def trigger_report(d: DealData) -> pd.DataFrame:
    """Per period and trigger: measured value, threshold, breached (from the waterfall's own figures)."""
    triggers = d.params[9]
    rows = []
    for e in d.of("PeriodClosed"):
        res = e.args["result"]
        values = _field(res, "triggerValues", 16)
        mask = int(_field(res, "triggersBreached", 17))
        for j, t in enumerate(triggers):
            kind = int(_field(t, "kind", 0))
            value = int(values[j])
            rows.append(
                {
                    "period": int(e.args["period"]),
                    "trigger": j,
                    "test": TRIGGER_NAMES[kind],
                    "value_bps": None if value == 2**256 - 1 else value,
                    "threshold_bps": int(_field(t, "thresholdBps", 1)),
                    "breached_when": "below" if kind in MINIMUM_TRIGGER_KINDS else "above",
                    "breached": bool((mask >> j) & 1),
                }
            )
    return pd.DataFrame(rows)


def currency_movements(d: DealData) -> pd.DataFrame:
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


def regulator_events(d: DealData) -> pd.DataFrame:
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


def conservation(d: DealData) -> dict[str, int]:
    """``SPV.ledger()`` with its two identities (:class:`chainabs.deal.Ledger`) checked against the currency
    balance."""
    ledger = Ledger(*(int(v) for v in d.spv.functions.ledger().call()))
    values = dict(vars(ledger))
    erc20 = d.w3.eth.contract(address=d.currency, abi=load_abi(CURRENCY_ABI))
    values["currency_balance"] = int(erc20.functions.balanceOf(d.spv_address).call())
    values["received"] = ledger.received
    values["accounted"] = ledger.accounted
    values["balanced"] = int(ledger.received == ledger.accounted and values["currency_balance"] == ledger.held)
    return values


# ----------------------------------------------------------------------------------------- outputs


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def charts(d: DealData, investor: pd.DataFrame, pool: pd.DataFrame) -> dict[str, bytes]:
    """PNG charts: tranche balances, pool balance and delinquency, cumulative loss against its trigger."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, bytes] = {}
    if not investor.empty:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for cls, grp in investor.groupby("class", sort=False):
            ax.plot(grp["period"], grp["ending_balance"] / 10**d.decimals, marker=".", label=cls)
        ax.set_xlabel("period")
        ax.set_ylabel("balance (currency units)")
        ax.set_title("Tranche balances")
        ax.legend()
        out["tranche_balances.png"] = _png(fig)
        plt.close(fig)
    if not pool.empty:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(pool["period"], pool["ending_balance"] / 10**d.decimals, color="tab:blue", label="pool balance")
        ax.set_xlabel("period")
        ax.set_ylabel("pool balance")
        ax2 = ax.twinx()
        ax2.plot(pool["period"], pool["delinquent_60_plus_pct"], color="tab:red", label="60+ delinquent %")
        ax2.set_ylabel("60+ days delinquent, % of pool")
        ax.set_title("Pool balance and delinquency")
        out["pool_delinquency.png"] = _png(fig)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.plot(pool["period"], pool["cumulative_net_loss_pct"], marker=".", label="cumulative net loss %")
        for t in d.params[9]:
            if int(_field(t, "kind", 0)) == 0:
                ax.axhline(int(_field(t, "thresholdBps", 1)) / 100, color="tab:red", linestyle="--", label="trigger")
        ax.set_xlabel("period")
        ax.set_ylabel("% of original pool")
        ax.set_title("Cumulative net loss against its trigger")
        ax.legend()
        out["cumulative_loss.png"] = _png(fig)
        plt.close(fig)
    return out


def report_tables(d: DealData) -> dict[str, pd.DataFrame]:
    """Every table of the reports, by name (the CSV file names): investor, pool and regulator reports."""
    strata = stratification(d)
    concentration = concentration_report(d)
    return {
        "summary": summary_table(d),
        "investor_report": investor_report(d),
        "holder_statements": holder_statements(d, token_holders(d)),
        "pool_performance": pool_report(d),
        "pool_status": pool_status(d),
        "stratification": pd.concat(strata.values(), ignore_index=True),
        "concentration": concentration,
        "triggers": trigger_report(d),
        "concentration_breaches": concentration[concentration["breached_at_cutoff"] | concentration["breached_now"]]
        .reset_index(drop=True),
        "asset_status_changes": asset_status_changes(d),
        "currency_movements": currency_movements(d),
        "regulator_events": regulator_events(d),
    }


def deal_slug(d: DealData) -> str:
    """A folder name for the deal: its tranche tokens' common name prefix, slugified (else the SPV address)."""
    import os
    import re

    prefix = os.path.commonprefix(d.token_names).strip() if len(d.token_names) > 1 else ""
    slug = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")
    return slug or f"deal-{d.spv_address[:10].lower()}"


def write_reports(d: DealData, out_dir: Path, *, extra_tables: dict[str, pd.DataFrame] | None = None) -> dict[str, Path]:
    """Write CSV tables, PNG charts and one self-contained HTML report under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = report_tables(d)
    tables.update(extra_tables or {})
    paths: dict[str, Path] = {}
    for name, df in tables.items():
        path = out_dir / f"{name}.csv"
        df.to_csv(path, index=False)
        paths[name] = path
    images = charts(d, tables["investor_report"], tables["pool_performance"])
    for name, png in images.items():
        (out_dir / name).write_bytes(png)
        paths[name] = out_dir / name
    ledger = conservation(d)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>ChainABS deal report</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}</style></head><body>",
        f"<h1>Deal report: SPV {html.escape(d.spv_address)}</h1>",
        f"<p>Rebuilt from chain data (blocks {d.start_block}..{d.w3.eth.block_number}) of the SPV, its registry "
        f"{html.escape(d.registry)}, tranche tokens {', '.join(html.escape(s) for s in d.token_symbols)} and currency "
        f"{html.escape(d.currency)}. Amounts in base units ({d.decimals} decimals).</p>",
        "<h2>Conservation</h2>", pd.DataFrame([ledger]).to_html(index=False),
    ]
    for name, png in images.items():
        parts.append(f"<h2>{html.escape(name[:-4].replace('_', ' ').title())}</h2>")
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    for name, df in tables.items():
        parts.append(f"<h2>{html.escape(name.replace('_', ' ').title())}</h2>")
        if len(df) > HTML_MAX_ROWS:
            parts.append(f"<p>first {HTML_MAX_ROWS} of {len(df)} rows; all of them in {html.escape(name)}.csv</p>")
        parts.append(df.head(HTML_MAX_ROWS).to_html(index=False) if not df.empty else "<p>none</p>")
    parts.append("</body></html>")
    report = out_dir / "report.html"
    report.write_text("\n".join(parts))
    paths["report.html"] = report
    return paths


def holder_statements(d: DealData, holders: list[str]) -> pd.DataFrame:
    """Each holder's statement per class: balance, claimed and claimable interest and principal."""
    rows = []
    token_abi = load_abi(TOKEN_ABI)
    for i, addr in enumerate(d.tokens):
        tok = d.w3.eth.contract(address=addr, abi=token_abi).functions
        for h in holders:
            h = Web3.to_checksum_address(h)
            balance = tok.balanceOf(h).call()
            wi, wp = tok.withdrawnOf(h).call()
            ci, cp = tok.withdrawableOf(h).call()
            if balance == 0 and wi + wp + ci + cp == 0:
                continue
            rows.append({"class": d.token_symbols[i], "holder": h, "balance": balance, "interest_claimed": wi,
                         "principal_claimed": wp, "interest_claimable": ci, "principal_claimable": cp})
    return pd.DataFrame(rows, columns=["class", "holder", "balance", "interest_claimed", "principal_claimed",
                                       "interest_claimable", "principal_claimable"])


def token_holders(d: DealData) -> list[str]:
    """Every address that ever received a tranche token (from Transfer events)."""
    seen: dict[str, None] = {}
    for e in d.of("Transfer"):
        if e.address in d.tokens:
            to = Web3.to_checksum_address(e.args["to"])
            if int(to, 16) != 0:
                seen[to] = None
    return list(seen)


def main(argv: list[str] | None = None) -> dict[str, Path]:
    """``python -m chainabs.reports --rpc URL --spv ADDRESS [--out DIR]``: a fresh process, chain data only."""
    import argparse

    from rich.console import Console

    parser = argparse.ArgumentParser(description="Rebuild a deal's reports from chain data")
    parser.add_argument("--rpc", required=True)
    parser.add_argument("--spv", required=True)
    parser.add_argument("--out", type=Path, default=None, help="folder (default: reports/<deal>)")
    parser.add_argument("--start-block", type=int, default=None)
    args = parser.parse_args(argv)
    d = load_deal(args.rpc, args.spv, start_block=args.start_block)
    out = args.out or Path("reports") / deal_slug(d)
    paths = write_reports(d, out)
    Console().print(f"reports for SPV {d.spv_address} written to {out}: {', '.join(sorted(p.name for p in paths.values()))}")
    return paths


if __name__ == "__main__":
    main()
