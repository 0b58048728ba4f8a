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

import pandas as pd
from web3 import Web3

from chainabs.events import DecodedEvent, EventDecoder, load_abi, read_events
from chainabs.monitor import classify

#: Contract names whose ABIs decode each part of a deal (brownie build names).
SPV_ABI = "SPV"
TOKEN_ABI = "TrancheToken"
REGISTRY_ABI = "AssetRegistry"
CURRENCY_ABI = "IERC20"
IDENTITY_ABI = "IdentityRegistry"

TRIGGER_NAMES = ("cumulative net loss", "60+ delinquency", "overcollateralisation", "interest coverage")
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
    events: list[DecodedEvent] = field(default_factory=list)

    def of(self, *names: str, contract: str | None = None) -> list[DecodedEvent]:
        """Events with one of ``names`` (optionally of one contract address), in chain order."""
        wanted = set(names)
        return [e for e in self.events if e.event in wanted and (contract is None or e.address == contract)]

    def units(self, amount: int) -> float:
        """Base units -> currency units (for display only; tables keep integers)."""
        return amount / 10**self.decimals


def load_deal(rpc_url: str, spv_address: str, *, start_block: int | None = None, chunk: int = 2_000) -> DealData:
    """Read a deal's addresses, terms and events from ``rpc_url`` given only the SPV address."""
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
    if start_block is None:
        start_block = _deployment_block(w3, spv_address)
    contracts = {a: (name, load_abi(name)) for a, name in deal_contracts(rpc_url, spv_address).items()}
    decoder = EventDecoder(w3, contracts)
    data = DealData(
        w3=w3, spv=spv, spv_address=spv_address, currency=currency, registry=registry, tokens=tokens,
        token_names=names, token_symbols=symbols, decimals=decimals, params=spv.functions.dealParams().call(),
        terms=terms, start_block=start_block,
    )
    data.events = read_events(w3, decoder, start_block, chunk=chunk)
    data.events += _currency_movements(w3, currency, spv_address, start_block, chunk)
    data.events.sort(key=lambda e: e.key)
    return data


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
    for e in d.of("ClassPaid"):
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
    """Per period: pool balance, collections, delinquency buckets, realized CPR / CDR / severity, net loss."""
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
                "tape_root": "0x" + bytes(e.args["tapeRoot"]).hex() if isinstance(e.args["tapeRoot"], (bytes, bytearray)) else e.args["tapeRoot"],
                "tape_uri": e.args["tapeUri"],
            }
        )
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
        kind = classify(e.event)
        if kind is None or e.address == d.currency:
            continue
        rows.append({"block": e.block_number, "tx": e.tx_hash, "kind": kind, "contract": e.contract,
                     "address": e.address, "event": e.event, "args": {k: _short(v) for k, v in e.args.items()}})
    return pd.DataFrame(rows, columns=["block", "tx", "kind", "contract", "address", "event", "args"])


def _short(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_short(v) for v in value]
    return value


def conservation(d: DealData) -> dict[str, int]:
    """``SPV.ledger()`` with its two identities checked against the currency balance."""
    names = ("subscriptions", "reserve_funded", "collections", "clean_up_proceeds", "paid_to_originator",
             "fees_paid", "distributed", "reserve_balance", "pending_collections", "unsettled_subscriptions")
    values = dict(zip(names, (int(v) for v in d.spv.functions.ledger().call())))
    erc20 = d.w3.eth.contract(address=d.currency, abi=load_abi(CURRENCY_ABI))
    values["currency_balance"] = int(erc20.functions.balanceOf(d.spv_address).call())
    values["received"] = sum(values[k] for k in names[:4])
    values["accounted"] = sum(values[k] for k in names[4:])
    values["balanced"] = int(values["received"] == values["accounted"]
                             and values["currency_balance"] == values["reserve_balance"] + values["pending_collections"] + values["unsettled_subscriptions"])
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


def write_reports(d: DealData, out_dir: Path, *, extra_tables: dict[str, pd.DataFrame] | None = None) -> dict[str, Path]:
    """Write CSV tables, PNG charts and one self-contained HTML report under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = {
        "summary": summary_table(d),
        "investor_report": investor_report(d),
        "pool_performance": pool_report(d),
        "triggers": trigger_report(d),
        "currency_movements": currency_movements(d),
        "regulator_events": regulator_events(d),
    }
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
        parts.append(df.to_html(index=False) if not df.empty else "<p>none</p>")
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
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--start-block", type=int, default=None)
    args = parser.parse_args(argv)
    d = load_deal(args.rpc, args.spv, start_block=args.start_block)
    out = args.out or Path("reports") / f"deal-{d.spv_address[:10].lower()}"
    paths = write_reports(d, out, extra_tables={"holder_statements": holder_statements(d, token_holders(d))})
    Console().print(f"reports for SPV {d.spv_address} written to {out}: {', '.join(sorted(p.name for p in paths.values()))}")
    return paths


if __name__ == "__main__":
    main()
