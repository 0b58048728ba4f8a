"""The deal's pool from the asset registry: the cut-off tape rebuilt from onboarding calldata, every status
change, the registry's state of each asset at any event, the pool now, stratification, concentration
against the limits, and the pool's performance period by period.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from chainabs.chain.events import DecodedEvent
from chainabs.chain.read.deal import REGISTRY_ABI, DealReader, report_fields, struct_field
from chainabs.model.assets import (
    ACTIVE_STATUSES, ASSET_TYPE_NAMES, LEAF_TYPES, STATUSES, TAPE_COLUMNS, asset_id, loan_id_text, status_for_days,
    unpack_record,
)
from chainabs.model.collateral import disposal_timeline
from chainabs.model.merkle import leaf_hash


#: Events the cut-off tape is rebuilt from, and those the assets' status history is.
TAPE_EVENTS = frozenset({"AssetsRegistered"})
STATUS_EVENTS = TAPE_EVENTS | {"AssetStatusChanged", "AssetRepurchased"}
#: Events the pool's performance table is built from.
PERFORMANCE_EVENTS = STATUS_EVENTS | {"ReportSubmitted", "ReportCancelled"}


def registry_contract(d: DealReader) -> Any:
    """The deal's AssetRegistry as a web3 contract."""
    return d.contract(REGISTRY_ABI, d.registry)


def pool_tape(d: DealReader) -> pd.DataFrame:
    """The pool's cut-off tape rebuilt from chain data: the ``registerAndPool`` calldata of every
    ``AssetsRegistered`` transaction of the pool, each record checked against the leaf the registry emitted.

    Columns: the tape's (:data:`chainabs.model.tape.TAPE_COLUMNS`, dates as datetime64) plus ``asset_id`` and
    ``leaf``, in registration order.
    """
    return d.cached("pool_tape", lambda: _pool_tape(d), depends=TAPE_EVENTS)


def _pool_tape(d: DealReader) -> pd.DataFrame:
    reg = registry_contract(d)
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
            row["asset_type"] = ASSET_TYPE_NAMES.get(int(row["asset_type"]), str(row["asset_type"]))
            for h in ("obligor", "contract_hash", "schedule_hash"):
                row[h] = "0x" + bytes(row[h]).hex()
            row["asset_id"] = asset_id(d.originator, row["loan_id"])
            row["leaf"] = "0x" + leaf.hex()
            rows.append(row)
    frame = pd.DataFrame(rows, columns=[*TAPE_COLUMNS, "asset_id", "leaf"])
    for col in ("origination_date", "maturity_date"):
        frame[col] = pd.to_datetime(frame[col].astype("int64"), unit="s")
    return frame


def _position(key: tuple | None) -> int | None:
    """Chain position of an event key (block, tx, log index): log indexes are unique within a block."""
    return None if key is None else int(key[0]) * 1_000_000 + int(key[2])


def status_events(d: DealReader, *, after: tuple | None = None, before: tuple | None = None) -> pd.DataFrame:
    """The pool's ``AssetStatusChanged`` and ``AssetRepurchased`` events strictly between event keys
    ``after`` and ``before`` (either optional), in chain order: block, tx, log_index, asset_id, loan_id,
    event, from, to (status names), principal, evidence."""
    frame = d.cached("status_events", lambda: _status_events(d), depends=STATUS_EVENTS)
    mask = pd.Series(True, index=frame.index)
    if after is not None:
        mask &= frame["_pos"] > _position(after)
    if before is not None:
        mask &= frame["_pos"] < _position(before)
    return frame[mask].drop(columns="_pos").reset_index(drop=True)


def _status_events(d: DealReader) -> pd.DataFrame:
    tape = pool_tape(d)
    ids = dict(zip(tape["asset_id"], tape["loan_id"], strict=True))
    rows = []
    for e in d.of("AssetStatusChanged", "AssetRepurchased", contract=d.registry):
        a = e.args
        repurchase = e.event == "AssetRepurchased"
        rows.append({
            "block": e.block_number, "tx": e.tx_hash, "log_index": e.log_index, "asset_id": int(a["assetId"]),
            "loan_id": ids.get(int(a["assetId"])), "event": e.event,
            "from": None if repurchase else STATUSES[int(a["from"])],
            "to": "Repurchased" if repurchase else STATUSES[int(a["to"])],
            "principal": 0 if repurchase else int(a["principal"]),
            "evidence": "0x" + bytes(a["evidence"]).hex(),
        })
    frame = pd.DataFrame(rows, columns=["block", "tx", "log_index", "asset_id", "loan_id", "event", "from", "to",
                                        "principal", "evidence"])
    frame = frame.assign(_pos=frame["block"].astype("int64") * 1_000_000 + frame["log_index"].astype("int64"))
    return frame.sort_values("_pos", kind="stable").reset_index(drop=True)


def registry_states(d: DealReader, *, before: tuple | None = None) -> pd.DataFrame:
    """Every pool asset's registry state (status, principal) just before event key ``before`` (default:
    now), replayed from its registration record and the status events: the cut-off tape's columns with
    ``status`` and ``principal`` updated (repurchased assets: status Repurchased, principal 0)."""
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


def pool_status(d: DealReader) -> pd.DataFrame:
    """The pool now, from the registry's views: count, principal, weighted averages, and per status the
    number of assets and their principal (``statusTally``)."""
    reg = registry_contract(d).functions
    info = reg.poolInfo(d.pool_id).call()
    keys = ("originator", "owner", "approved", "isSealed", "registered", "count", "principal", "cutoffPrincipal",
            "cutoffCount", "waRateBps", "waMaturityDate", "waRemainingTermDays")
    values = dict(zip(keys, info[: len(keys)], strict=True))
    rows = [{"measure": k, "value": v} for k, v in values.items()]
    for code, name in enumerate(STATUSES):
        if name in ("None", "Repurchased"):
            continue
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


def stratification(d: DealReader) -> dict[str, pd.DataFrame]:
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


def concentration_report(d: DealReader) -> pd.DataFrame:
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


def asset_status_changes(d: DealReader) -> pd.DataFrame:
    """Asset status changes for the regulator: every status event whose status changed (principal-only
    servicing updates left out) and every repurchase, with its transaction."""
    ev = status_events(d)
    return ev[ev["from"] != ev["to"]].drop(columns="log_index").reset_index(drop=True)


def pool_report(d: DealReader) -> pd.DataFrame:
    """Per period: pool balance, collections, delinquency buckets, realized CPR / CDR / severity, net loss
    (from the servicer's reports), and from the asset registry just before each report: loans outstanding,
    registry principal, weighted average rate, maturity date and remaining term as of the period's payment
    date (registry arithmetic), and whether the registry agrees with the report (its delinquency buckets equal
    the report's, its active loans hold at least the pool balance)."""
    return d.cached("pool_report", lambda: _pool_report(d), depends=PERFORMANCE_EVENTS).copy()


def standing_reports(d: DealReader) -> list[DecodedEvent]:
    """The SPV's ``ReportSubmitted`` events less those the trustee cancelled (a report cancelled and submitted
    again is one period, with the figures of the report that stands), in chain order."""
    live: list[DecodedEvent] = []
    for e in d.of("ReportSubmitted", "ReportCancelled", contract=d.spv_address):
        if e.event == "ReportSubmitted":
            live.append(e)
        else:
            period = int(e.args["period"])
            live = [r for r in live if int(r.args["period"]) != period]
    return live


def _pool_report(d: DealReader) -> pd.DataFrame:
    original = int(d.params[1])
    begin = original
    cum_defaults = cum_recoveries = 0
    rows = []
    for e in standing_reports(d):
        state = registry_states(d, before=e.key)
        r = report_fields(e.args["report"])
        interest, sched, prepay = r["interest_collections"], r["scheduled_principal"], r["prepayments"]
        recov, defaults, ending = r["recoveries"], r["defaults"], r["pool_ending_balance"]
        d30, d60, d90 = r["delinquent_30"], r["delinquent_60"], r["delinquent_90_plus"]
        cum_defaults += defaults
        cum_recoveries += recov
        base = begin - sched
        smm = prepay / base if base > 0 else 0.0
        mdr = defaults / begin if begin > 0 else 0.0
        payment_date = int(d.spv.functions.paymentDate(int(e.args["period"])).call())
        rows.append(
            {
                "period": int(e.args["period"]),
                "payment_date": pd.Timestamp(payment_date, unit="s").date().isoformat(),
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
                **_weighted(state, payment_date),
                "tape_root": "0x" + bytes(struct_field(e.args["commitment"], "root", 0)).hex(),
                "tape_loans": int(struct_field(struct_field(e.args["commitment"], "sums", 1), "count", 6)),
                "tape_uri": e.args["tapeUri"],
            }
        )
        # The registry's late loans are the report's buckets; its active loans hold at least the pool balance
        # (a performing loan's balance is updated in the registry only when its status changes).
        buckets = tuple(int(state.loc[state["status"] == s, "principal"].sum())
                        for s in ("Delinquent30", "Delinquent60", "Delinquent90"))
        active = int(state.loc[state["status"].isin(ACTIVE_STATUSES), "principal"].sum())
        rows[-1]["registry_matches_report"] = buckets == (d30, d60, d90) and active >= ending
        begin = ending
    return pd.DataFrame(rows)




def recovery_timeline(d: DealReader) -> pd.DataFrame:
    """Per defaulted loan of the pool: its recovery steps with their dates, claim at default, cash recovered
    and outcome (:func:`chainabs.model.collateral.disposal_timeline`), with the loan id."""
    return d.cached("recovery_timeline", lambda: _recovery_timeline(d), depends=STATUS_EVENTS | {"RecoveryRecorded"})


def _recovery_timeline(d: DealReader) -> pd.DataFrame:
    events = status_events(d)
    tape = pool_tape(d)
    balance = dict(zip(tape["asset_id"], tape["principal"].astype("int64"), strict=True))
    before = []
    for aid, principal in zip(events["asset_id"], events["principal"], strict=True):
        before.append(int(balance.get(aid, 0)))
        balance[aid] = int(principal)
    blocks = sorted(set(int(b) for b in events["block"]))
    times = {b: int(d.w3.eth.get_block(b)["timestamp"]) for b in blocks}
    changes = events.assign(principal_before=before, time=[times[int(b)] for b in events["block"]])
    cash = pd.DataFrame([(int(e.args["assetId"]), int(e.args["amount"]))
                         for e in d.of("RecoveryRecorded", contract=d.registry)], columns=["asset_id", "amount"])
    timeline = disposal_timeline(changes, cash)
    ids = dict(zip(tape["asset_id"], tape["loan_id"], strict=True))
    timeline.insert(1, "loan_id", timeline["asset_id"].map(ids))
    return timeline
