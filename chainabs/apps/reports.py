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

from chainabs.apps import display
from chainabs.apps.display import Money
from chainabs.chain.read import overview
from chainabs.apps.green import green_report_section
from chainabs.apps.reit import reit_report_section
from chainabs.chain.read import pool as poolread
from chainabs.chain.read import tables
from chainabs.chain.read.deal import DealReader, read_deal, struct_field
from chainabs.chain.rulefigures import DealRules
from chainabs.model import numbers
from chainabs.model.collateral import recovery_rates
from chainabs.model.rules import RULES, MonitorRules
from chainabs.model.waterfall import TriggerKind
from chainabs.paths import REPORTS_DIR

#: Rows of one table shown in the HTML report (the CSV files have them all).
HTML_MAX_ROWS = 500
#: Columns of one HTML table: wider tables are shown in parts, each led by the key columns they have.
HTML_MAX_COLUMNS = 8
WIDE_TABLE_KEYS = ("period", "payment_date", "class")


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def money_of(d: DealReader) -> Money:
    """The deal currency as people read it (decimals and symbol from the currency's own views)."""
    return Money(d.decimals, d.currency_symbol)


def _dates(periods: pd.Series, pool: pd.DataFrame) -> pd.Series:
    """Payment dates of periods (from the pool table), as datetimes."""
    by_period = dict(zip(pool["period"], pd.to_datetime(pool["payment_date"]), strict=True))
    return periods.map(by_period)


def _date_axis(ax: Any) -> None:
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=10))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.set_xlabel("payment date")
    for tick in ax.get_xticklabels():
        tick.set_rotation(30)
        tick.set_horizontalalignment("right")


def charts(d: DealReader, investor: pd.DataFrame, pool: pd.DataFrame) -> dict[str, bytes]:
    """PNG charts against payment dates, amounts on currency axes, percentages on percent axes, each with
    its legend: tranche balances, pool balance and delinquency, cumulative loss against its trigger."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    money = money_of(d)
    currency_axis = FuncFormatter(lambda v, _pos: money.compact(v * 10**d.decimals))
    out: dict[str, bytes] = {}
    if not investor.empty and not pool.empty:
        fig, ax = plt.subplots(figsize=(7.5, 3.8))
        for cls, grp in investor.groupby("class", sort=False):
            ax.plot(_dates(grp["period"], pool), grp["ending_balance"] / 10**d.decimals, marker=".", label=cls)
        ax.yaxis.set_major_formatter(currency_axis)
        ax.set_ylabel(f"outstanding balance ({money.symbol})")
        ax.set_title("Tranche balances after each payment date")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        _date_axis(ax)
        ax.legend(title="class")
        out["tranche_balances.png"] = _png(fig)
        plt.close(fig)
    if not pool.empty:
        dates = pd.to_datetime(pool["payment_date"])
        fig, ax = plt.subplots(figsize=(7.5, 3.8))
        line1 = ax.plot(dates, pool["ending_balance"] / 10**d.decimals, color="tab:blue", marker=".", label="pool balance")
        ax.yaxis.set_major_formatter(currency_axis)
        ax.set_ylabel(f"pool balance ({money.symbol})")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax2 = ax.twinx()
        line2 = ax2.plot(dates, pool["delinquent_60_plus_pct"], color="tab:red", marker=".", label="60+ days delinquent")
        ax2.yaxis.set_major_formatter(PercentFormatter(decimals=1))
        ax2.set_ylabel("60+ days delinquent (% of pool)")
        ax2.set_ylim(bottom=0)
        ax.set_title("Pool balance and 60+ days delinquency")
        _date_axis(ax)
        ax.legend(line1 + line2, [str(x.get_label()) for x in line1 + line2], loc="center left")
        out["pool_delinquency.png"] = _png(fig)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(7.5, 3.8))
        ax.plot(dates, pool["cumulative_net_loss_pct"], marker=".", label="cumulative net loss")
        for t in d.params[9]:
            if int(struct_field(t, "kind", 0)) == TriggerKind.CUMULATIVE_NET_LOSS:
                threshold = int(struct_field(t, "thresholdBps", 1))
                ax.axhline(threshold / 100, color="tab:red", linestyle="--",
                           label=f"trigger ({numbers.format_bps(threshold)})")
        ax.yaxis.set_major_formatter(PercentFormatter(decimals=1))
        ax.set_ylabel("% of the original pool")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.set_title("Cumulative net loss against its trigger")
        _date_axis(ax)
        ax.legend()
        out["cumulative_loss.png"] = _png(fig)
        plt.close(fig)
    return out


#: Kinds of the pool status measures (``poolInfo`` member names; ``<status> count`` / ``<status> principal``).
POOL_STATUS_KINDS: dict[str, str] = {
    "originator": display.HEX, "owner": display.HEX, "approved": display.HEX, "isSealed": display.BOOL,
    "registered": display.COUNT, "count": display.COUNT, "principal": display.AMOUNT,
    "cutoffPrincipal": display.AMOUNT, "cutoffCount": display.COUNT, "waRateBps": display.BPS,
    "waMaturityDate": display.DATE, "waRemainingTermDays": display.COUNT,
}


def _pool_status_kind(measure: str) -> str:
    if measure in POOL_STATUS_KINDS:
        return POOL_STATUS_KINDS[measure]
    return display.AMOUNT if measure.endswith(" principal") else display.COUNT


def rule_alerts(d: DealReader, rules: MonitorRules | None = None, green: str | None = None) -> pd.DataFrame:
    """The regulator rules evaluated over the deal's whole history (what the monitor would have written), listed
    by rule (in the order of :data:`chainabs.model.rules.RULES`), then block: rule, severity, block, subject, tx,
    message, figures."""
    start = min((e.block_number for e in d.events), default=d.start_block)
    alerts = DealRules(d.w3, d.spv_address, rules, reader=d, green=green).evaluate(start, d.last_block)
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


def report_tables(d: DealReader, rules: MonitorRules | None = None, green: str | None = None) -> dict[str, pd.DataFrame]:
    """Every table of the reports, by name (the CSV file names): investor, pool and regulator reports (the
    regulator rules with ``rules``' thresholds, default :class:`MonitorRules`; ``green``: a green deal's
    use-of-proceeds ledger, whose rule joins them)."""
    strata = poolread.stratification(d)
    alerts = rule_alerts(d, rules, green)
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
        **recovery_tables(d),
        "currency_movements": tables.currency_movements(d),
        "regulator_events": tables.regulator_events(d),
        "regulator_alerts_by_rule": alerts_by_rule(alerts),
        "regulator_alerts": alerts,
        "documents": documents_table(d),
        **revolving_tables(d),
    }


#: ``EarlyAmortization.kind`` names (``chainabs.model.revolving.EarlyAmortizationKind``).
EARLY_AMORTIZATION_KINDS = {0: "excess spread", 1: "dilution", 2: "60+ delinquency"}


def _reconciliation_kind(name: str) -> str:
    """The kind of a reconciled figure: every ledger entry, cumulative defaults and recoveries and the SPV's
    currency balance are amounts (in currency units, as every amount a user reads); the rest by its name."""
    group, _, field = str(name).rpartition(".")
    if group == "ledger" or field.startswith("cumulative_") or field == "balance_of_spv":
        return display.AMOUNT
    return display.column_kind(field)


def revolving_tables(d: DealReader) -> dict[str, pd.DataFrame]:
    """A revolving deal's purchases, dilutions and early amortization, from chain data (the SPV's
    ``ReceivablesPurchased`` and ``EarlyAmortization``, its servicing court's ``ReceivableDiluted``); nothing for
    a static deal (``SPVTerms.lastRevolvingPeriod`` 0)."""
    if int(struct_field(d.spv.functions.terms().call(), "lastRevolvingPeriod", 10)) == 0:
        return {}
    court = [a for a, name in d.contracts.items() if name == "ServicingCourt"]
    purchases = pd.DataFrame([{
        "period": int(e.args["period"]), "block": e.block_number, "seller": e.args["seller"],
        "receivables": int(e.args["count"]), "principal": int(e.args["principal"]),
        "unspent_principal": int(e.args["unspent"]),
    } for e in d.of("ReceivablesPurchased", contract=d.spv_address)],
        columns=["period", "block", "seller", "receivables", "principal", "unspent_principal"])
    dilutions = pd.DataFrame([{
        "period": int(e.args["period"]), "block": e.block_number, "asset_id": hex(int(e.args["assetId"])),
        "amount": int(e.args["amount"]), "treatment": "repurchase" if e.args["repurchased"] else "loss",
        "evidence": "0x" + bytes(e.args["evidence"]).hex(), "recorded_by": e.args["by"],
    } for e in d.of("ReceivableDiluted") if e.address in court and e.args["spv"] == d.spv_address],
        columns=["period", "block", "asset_id", "amount", "treatment", "evidence", "recorded_by"])
    ended = pd.DataFrame([{
        "ended_with_period": int(e.args["period"]), "block": e.block_number,
        "test": EARLY_AMORTIZATION_KINDS.get(int(e.args["kind"]), str(e.args["kind"])),
        "value_bps": int(e.args["valueBps"]), "limit_bps": int(e.args["limitBps"]),
    } for e in d.of("EarlyAmortization", contract=d.spv_address)],
        columns=["ended_with_period", "block", "test", "value_bps", "limit_bps"])
    by_period = purchases.groupby("period")[["receivables", "principal"]].sum() if len(purchases) else None
    diluted = dilutions.groupby("period")["amount"].sum() if len(dilutions) else None
    periods = sorted(set(purchases["period"]) | set(dilutions["period"]))
    summary = pd.DataFrame([{
        "period": p,
        "receivables_bought": int(by_period.loc[p, "receivables"]) if by_period is not None and p in by_period.index else 0,
        "purchased": int(by_period.loc[p, "principal"]) if by_period is not None and p in by_period.index else 0,
        "diluted": int(diluted.loc[p]) if diluted is not None and p in diluted.index else 0,
    } for p in periods], columns=["period", "receivables_bought", "purchased", "diluted"])
    return {"revolving_period": summary, "revolving_purchases": purchases, "dilutions": dilutions,
            "early_amortization": ended}


def documents_table(d: DealReader) -> pd.DataFrame:
    """The deal's ERC-1643 documents on every tranche (name, URI, SHA-256 hash, last update in UTC): what a
    holder checks a copy against (``chainabs documents list --check DIR``)."""
    frame = overview.documents(d)
    frame["updated_at"] = [numbers.format_datetime(int(t)) for t in frame["updated_at"]]
    return frame


def recovery_tables(d: DealReader) -> dict[str, pd.DataFrame]:
    """Every defaulted loan's recovery (steps with dates, claim at default, cash recovered, outcome) and the
    pool's recovery rates (``chainabs.model.collateral``)."""
    per_loan, totals = recovery_rates(poolread.recovery_timeline(d))
    return {"recoveries": per_loan, "recovery_rates": pd.DataFrame([totals])}


#: Page style of report.html (tables: :data:`chainabs.apps.display.TABLE_CSS`).
REPORT_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;
color:#1d2430}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #e3e6ea;padding-bottom:0.2em}
p.meta{color:#4a5564;font-size:14px;line-height:1.5}code{font-size:12px;word-break:break-all}
img{max-width:100%;height:auto}
"""


def deal_title(d: DealReader) -> str:
    """The deal's name: its tranche tokens' common name prefix (else ``SPV <address>``)."""
    prefix = os.path.commonprefix(d.token_names).strip() if len(d.token_names) > 1 else ""
    return prefix or f"SPV {d.spv_address}"


def deal_slug(d: DealReader) -> str:
    """A folder name for the deal: its tranche tokens' common name prefix, slugified (else the SPV address)."""
    prefix = os.path.commonprefix(d.token_names).strip() if len(d.token_names) > 1 else ""
    slug = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")
    return slug or f"deal-{d.spv_address[:10].lower()}"


def write_reports(d: DealReader, out_dir: Path, *, extra_tables: dict[str, pd.DataFrame] | None = None,
                  market: str | None = None, rules: MonitorRules | None = None,
                  green: str | None = None, reit: str | None = None) -> dict[str, Path]:
    """Write CSV tables, PNG charts and one self-contained HTML report under ``out_dir`` (``market``: the trading
    venue whose trades of the deal's tranches get a section, default ``MARKET_ADDRESS``; ``rules``: the regulator
    rules' thresholds; ``green``: a green deal's use-of-proceeds ledger, whose allocation and impact reports get a
    section; ``reit``: a REIT's collateral registry (its properties), whose NAV and distributions get a section)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = report_tables(d, rules, green)
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
    money = money_of(d)
    ledger = tables.conservation(d)
    head = d.w3.eth.get_block("latest")
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>",
        f"<title>Deal report: {html.escape(deal_title(d))}</title>",
        f"<style>{REPORT_CSS}{display.TABLE_CSS}</style></head><body>",
        f"<h1>{html.escape(deal_title(d))}</h1>",
        f"<p class='meta'>Rebuilt from chain data only, blocks {d.start_block:,} to {int(head['number']):,} "
        f"({numbers.format_datetime(int(head['timestamp']))}): the SPV <code>{html.escape(d.spv_address)}</code>, its "
        f"asset registry <code>{html.escape(d.registry)}</code> (pool {d.pool_id}), the tranche tokens "
        f"{', '.join(html.escape(s) for s in d.token_symbols)} and the currency {html.escape(money.symbol)} "
        f"<code>{html.escape(d.currency)}</code>. Amounts in {html.escape(money.symbol)}; CSV files keep base units "
        f"({d.decimals} decimals).</p>",
        "<h2>Where every unit of currency is (SPV ledger)</h2>",
        display.key_value_table(
            [(display.label(k), money.amount(v)) for k, v in ledger.items() if k not in ("balanced",)]
            + [("books balance", "yes" if ledger["balanced"] else "NO")]),
    ]
    for name, png in images.items():
        parts.append(f"<h2>{html.escape(name[:-4].replace('_', ' ').capitalize())}</h2>")
        parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    for name, df in frames.items():
        parts.append(f"<h2>{html.escape(name.replace('_', ' ').capitalize())}</h2>")
        if len(df) > HTML_MAX_ROWS:
            parts.append(f"<p>first {HTML_MAX_ROWS:,} of {len(df):,} rows; all of them in {html.escape(name)}.csv</p>")
        if df.empty:
            parts.append("<p>none</p>")
        elif name == "pool_status":
            parts.append(display.html_long_table(df, money, "measure", ["value"], kind_of=_pool_status_kind))
        elif name == "reconciliation_figures":
            parts.append(display.html_long_table(df.head(HTML_MAX_ROWS), money, "figure", ["chain", "model", "match"],
                                                 kind_of=_reconciliation_kind))
        else:
            flag = next((c for c in ("breached_now", "breached") if c in df.columns), None)
            for group in display.column_groups(df.columns, WIDE_TABLE_KEYS, HTML_MAX_COLUMNS):
                parts.append(display.html_table(df[group], money, max_rows=HTML_MAX_ROWS,
                                                highlight=df[flag] if flag else None))
    parts.append(_market_section(d, out_dir, paths, market))
    if green:
        section, files = green_report_section(d.w3, green, money, out_dir)
        parts.append(section)
        paths.update(files)
    if reit:
        section, files = reit_report_section(d, reit, money, out_dir)
        parts.append(section)
        paths.update(files)
    parts.append("</body></html>")
    report = out_dir / "report.html"
    report.write_text("\n".join(parts))
    paths["report.html"] = report
    return paths


def _market_section(d: DealReader, out_dir: Path, paths: dict[str, Path], market: str | None) -> str:
    """Hook of the secondary market (chainabs.apps.market): its files join ``paths``, its section the page."""
    from chainabs.apps.market import deal_market_section

    before = set(out_dir.iterdir())
    section = deal_market_section(d.w3, d.tokens, d.decimals, out_dir, market)
    paths.update({p.name.removesuffix(".csv"): p for p in set(out_dir.iterdir()) - before})
    return section


def report_deal(rpc: str | Web3, spv: str, *, out: Path | None = None, start_block: int | None = None,
                console: Console | None = None, market: str | None = None,
                rules: MonitorRules | None = None, green: str | None = None,
                reit: str | None = None) -> dict[str, Path]:
    """``chainabs report``: read the deal of ``spv`` from chain data only and write its reports under ``out``
    (default ``reports/<deal>``); returns the files by name."""
    console = console or Console()
    d = read_deal(rpc, spv, start_block=start_block)
    out = out or REPORTS_DIR / deal_slug(d)
    paths = write_reports(d, out, market=market, rules=rules, green=green, reit=reit)
    console.print(f"reports for SPV {d.spv_address} written to {out}: {', '.join(sorted(p.name for p in paths.values()))}")
    return paths
