"""Investor, pool and regulator reports rebuilt from chain data alone, written as CSV tables, PNG charts
and one self-contained HTML page.

The tables come from the read side (:mod:`chainabs.chain.read`): anyone with an RPC URL and the SPV's
address reproduces the same files.
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from web3 import Web3

from chainabs.chain.read import pool as poolread
from chainabs.chain.read import tables
from chainabs.chain.read.deal import DealReader, read_deal, struct_field
from chainabs.chain.rulefigures import DealRules
from chainabs.model.rules import RULES, MonitorRules
from chainabs.model.waterfall import TriggerKind
from chainabs.paths import REPORTS_DIR

#: Rows of one table shown in the HTML report (the CSV files have them all).
HTML_MAX_ROWS = 500


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def charts(d: DealReader, investor: pd.DataFrame, pool: pd.DataFrame) -> dict[str, bytes]:
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
            if int(struct_field(t, "kind", 0)) == TriggerKind.CUMULATIVE_NET_LOSS:
                ax.axhline(int(struct_field(t, "thresholdBps", 1)) / 100, color="tab:red", linestyle="--", label="trigger")
        ax.set_xlabel("period")
        ax.set_ylabel("% of original pool")
        ax.set_title("Cumulative net loss against its trigger")
        ax.legend()
        out["cumulative_loss.png"] = _png(fig)
        plt.close(fig)
    return out


def rule_alerts(d: DealReader, rules: MonitorRules | None = None) -> pd.DataFrame:
    """The regulator rules evaluated over the deal's whole history (what the monitor would have written), listed
    by rule (in the order of :data:`chainabs.model.rules.RULES`), then block: rule, severity, block, subject, tx,
    message, figures."""
    start = min((e.block_number for e in d.events), default=d.start_block)
    alerts = DealRules(d.w3, d.spv_address, rules, reader=d).evaluate(start, d.last_block)
    order = {rule: k for k, rule in enumerate(RULES)}
    rows = [{"rule": a.rule, "severity": a.severity, "block": a.block, "subject": a.subject, "tx": a.tx,
             "message": a.message, "figures": a.figures} for a in sorted(alerts, key=lambda a: (order[a.rule], a.block))]
    return pd.DataFrame(rows, columns=["rule", "severity", "block", "subject", "tx", "message", "figures"])


def alerts_by_rule(alerts: pd.DataFrame) -> pd.DataFrame:
    """Per rule (every rule, also those that never fired): severity, what it checks, alerts, first and last block."""
    rows = []
    for rule, info in RULES.items():
        mine = alerts[alerts["rule"] == rule]
        rows.append({"rule": rule, "severity": info.severity, "checks": info.checks, "alerts": len(mine),
                     "first_block": int(mine["block"].min()) if len(mine) else None,
                     "last_block": int(mine["block"].max()) if len(mine) else None})
    return pd.DataFrame(rows)


def report_tables(d: DealReader, rules: MonitorRules | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the reports, by name (the CSV file names): investor, pool and regulator reports (the
    regulator rules with ``rules``' thresholds, default :class:`MonitorRules`)."""
    strata = poolread.stratification(d)
    alerts = rule_alerts(d, rules)
    concentration = poolread.concentration_report(d)
    return {
        "summary": tables.summary_table(d),
        "investor_report": tables.investor_report(d),
        "holder_statements": tables.holder_statements(d, tables.token_holders(d)),
        "pool_performance": poolread.pool_report(d),
        "pool_status": poolread.pool_status(d),
        "stratification": pd.concat(strata.values(), ignore_index=True),
        "concentration": concentration,
        "triggers": tables.trigger_report(d),
        "concentration_breaches": concentration[concentration["breached_at_cutoff"] | concentration["breached_now"]]
        .reset_index(drop=True),
        "asset_status_changes": poolread.asset_status_changes(d),
        "currency_movements": tables.currency_movements(d),
        "regulator_events": tables.regulator_events(d),
        "regulator_alerts_by_rule": alerts_by_rule(alerts),
        "regulator_alerts": alerts,
    }


def deal_slug(d: DealReader) -> str:
    """A folder name for the deal: its tranche tokens' common name prefix, slugified (else the SPV address)."""
    prefix = os.path.commonprefix(d.token_names).strip() if len(d.token_names) > 1 else ""
    slug = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")
    return slug or f"deal-{d.spv_address[:10].lower()}"


def write_reports(d: DealReader, out_dir: Path, *, extra_tables: dict[str, pd.DataFrame] | None = None,
                  rules: MonitorRules | None = None) -> dict[str, Path]:
    """Write CSV tables, PNG charts and one self-contained HTML report under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = report_tables(d, rules)
    frames.update(extra_tables or {})
    paths: dict[str, Path] = {}
    for name, df in frames.items():
        path = out_dir / f"{name}.csv"
        df.to_csv(path, index=False)
        paths[name] = path
    images = charts(d, frames["investor_report"], frames["pool_performance"])
    for name, png in images.items():
        (out_dir / name).write_bytes(png)
        paths[name] = out_dir / name
    ledger = tables.conservation(d)
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
    for name, df in frames.items():
        parts.append(f"<h2>{html.escape(name.replace('_', ' ').title())}</h2>")
        if len(df) > HTML_MAX_ROWS:
            parts.append(f"<p>first {HTML_MAX_ROWS} of {len(df)} rows; all of them in {html.escape(name)}.csv</p>")
        parts.append(df.head(HTML_MAX_ROWS).to_html(index=False) if not df.empty else "<p>none</p>")
    parts.append("</body></html>")
    report = out_dir / "report.html"
    report.write_text("\n".join(parts))
    paths["report.html"] = report
    return paths


def report_deal(rpc: str | Web3, spv: str, *, out: Path | None = None, start_block: int | None = None,
                console: Console | None = None, rules: MonitorRules | None = None) -> dict[str, Path]:
    """``chainabs report``: read the deal of ``spv`` from chain data only and write its reports under ``out``
    (default ``reports/<deal>``); returns the files by name."""
    console = console or Console()
    d = read_deal(rpc, spv, start_block=start_block)
    out = out or REPORTS_DIR / deal_slug(d)
    paths = write_reports(d, out, rules=rules)
    console.print(f"reports for SPV {d.spv_address} written to {out}: {', '.join(sorted(p.name for p in paths.values()))}")
    return paths
