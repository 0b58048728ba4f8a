"""Green deals in the applications: the allocation and impact reports rebuilt from the use-of-proceeds ledger's
events (CSV tables, a chart, an HTML section of the deal report and of the explorer), and the demo's allocating
party (projects registered, proceeds allocated and impact reported from the spec's sample projects).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from chainabs.apps import display
from chainabs.apps.display import Money
from chainabs.chain import green as greenchain
from chainabs.chain.green import GreenView, read_green
from chainabs.model import green, numbers
from chainabs.model.spec import DealSpec

#: Column kinds of the green tables (amounts in base units, impact in the metric's unit).
KINDS: dict[str, str] = {"planned": display.AMOUNT, "allocated": display.AMOUNT, "allocations": display.COUNT,
                         "share_bps": display.BPS, "evidence_hash": display.HEX, "project_id": display.HEX,
                         "value_milli": display.COUNT, "value": display.TEXT, "evidence": display.HEX,
                         "period": display.COUNT}


def green_tables(view: GreenView) -> dict[str, pd.DataFrame]:
    """The green report's tables by CSV name: allocations per project, impact per project / period / metric, and
    the ledger's totals (amounts in base units)."""
    alloc = view.allocations()
    impact = view.impact()
    names = dict(zip(alloc["project_id"], alloc["project"], strict=True))
    impact.insert(0, "project", impact["project_id"].map(names).fillna(""))
    summary = pd.DataFrame([{
        "ledger": view.address, "spv": view.spv,
        "eligible_categories": ", ".join(green.categories_of(view.eligible_mask)),
        "allocation_deadline": numbers.format_datetime(view.deadline),
        "net_proceeds": view.net_proceeds, "allocated": view.allocated, "unallocated": view.unallocated,
        "projects": len(alloc), "impact_figures": len(view.of("ImpactReported")),
    }])
    return {"green_allocations": alloc, "green_impact": impact, "green_summary": summary}


def allocation_chart(tables: dict[str, pd.DataFrame], money: Money) -> bytes:
    """Planned and allocated amount per project, and the unallocated balance (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    alloc = tables["green_allocations"]
    summary = tables["green_summary"].iloc[0]
    labels = [f"{p}\n({c.replace('_', ' ')})" for p, c in zip(alloc["project"], alloc["category"], strict=True)]
    planned = [int(v) / 10**money.decimals for v in alloc["planned"]]
    allocated = [int(v) / 10**money.decimals for v in alloc["allocated"]]
    unallocated = summary["unallocated"]
    if unallocated is not None and not pd.isna(unallocated):
        labels.append("unallocated")
        planned.append(0.0)
        allocated.append(int(unallocated) / 10**money.decimals)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    ys = range(len(labels))
    ax.barh([y + 0.2 for y in ys], planned, height=0.4, label="planned", color="tab:gray")
    ax.barh([y - 0.2 for y in ys], allocated, height=0.4, label="allocated", color="tab:green")
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: money.compact(v * 10**money.decimals)))
    ax.set_xlabel(f"amount ({money.symbol})")
    ax.set_title("Use of proceeds: planned and allocated per project")
    ax.grid(alpha=0.3, axis="x")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def html_section(tables: dict[str, pd.DataFrame], money: Money, chart: bytes | None = None) -> str:
    """The green section of the deal report (and of the explorer's deal page)."""
    s = tables["green_summary"].iloc[0]
    unalloc = s["unallocated"]
    shown = "not recorded yet" if unalloc is None or pd.isna(unalloc) else money.amount(int(unalloc))
    parts = ["<h2>Green use of proceeds</h2>",
             f"<p class='meta'>Rebuilt from the events of the use-of-proceeds ledger <code>{html.escape(s['ledger'])}"
             f"</code>. Eligible categories: {html.escape(s['eligible_categories'])}; allocation deadline "
             f"{html.escape(s['allocation_deadline'])}.</p>",
             display.key_value_table([
                 ("net proceeds", "not recorded yet" if pd.isna(s["net_proceeds"]) or s["net_proceeds"] is None
                  else money.amount(int(s["net_proceeds"]))),
                 ("allocated", money.amount(int(s["allocated"]))), ("unallocated", shown),
                 ("projects", f"{int(s['projects']):,}"), ("impact figures", f"{int(s['impact_figures']):,}")])]
    if chart:
        parts.append(f"<img alt='green allocation' src='data:image/png;base64,{base64.b64encode(chart).decode()}'>")
    parts.append("<h2>Green allocation report</h2>")
    alloc = tables["green_allocations"]
    parts.append(display.html_table(alloc, money, kinds=KINDS) if len(alloc) else "<p>none</p>")
    parts.append("<h2>Green impact report</h2>")
    impact = tables["green_impact"]
    parts.append(display.html_table(impact.drop(columns=["value_milli"]), money, kinds=KINDS) if len(impact)
                 else "<p>none</p>")
    return "\n".join(parts)


def write_green_reports(view: GreenView, out_dir: Path, money: Money) -> tuple[str, dict[str, Path]]:
    """Write the green tables (CSV) and chart under ``out_dir``; returns the HTML section and the files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = green_tables(view)
    paths: dict[str, Path] = {}
    for name, df in tables.items():
        paths[name] = out_dir / f"{name}.csv"
        df.to_csv(paths[name], index=False)
    chart = allocation_chart(tables, money)
    paths["green_allocation.png"] = out_dir / "green_allocation.png"
    paths["green_allocation.png"].write_bytes(chart)
    return html_section(tables, money, chart), paths


def green_report_section(w3: Any, ledger: str | None, money: Money, out_dir: Path) -> tuple[str, dict[str, Path]]:
    """The deal report's hook: with a ledger address, its section and files; else nothing."""
    if not ledger:
        return "", {}
    return write_green_reports(read_green(w3, ledger), out_dir, money)


# ------------------------------------------------------------------------------------------------ the demo


def demo_allocate(ledger: Any, spec: DealSpec, roles: dict[str, Any], anyone: Any, console: Console) -> int:
    """After closing: the net proceeds read from the SPV, the spec's sample projects registered and each
    allocated its share (``allocate_bps`` of the net proceeds, the last one taking the rounding); returns the
    net proceeds."""
    g = spec.green
    assert g is not None
    allocator = roles[g.allocator]
    net = greenchain.record_net_proceeds(ledger, anyone)
    total_bps = sum(p.allocate_bps for p in g.projects)
    shares = [net * p.allocate_bps // 10_000 for p in g.projects]
    if total_bps == 10_000 and shares:
        shares[-1] = net - sum(shares[:-1])
    for p, share in zip(g.projects, shares, strict=True):
        greenchain.register_project(ledger, p.name, p.category, spec.units(p.planned), p.evidence, allocator)
        if share:
            greenchain.allocate(ledger, p.name, share, f"{p.evidence}#allocation", allocator)
    dec = spec.currency.decimals
    console.print(f"   green: net proceeds {numbers.format_amount(net, dec)} {spec.currency.symbol} allocated to "
                  f"{len(g.projects)} projects, {numbers.format_amount(int(ledger.unallocated()), dec)} unallocated")
    return net


def demo_impact(ledger: Any, spec: DealSpec, roles: dict[str, Any], period: int) -> int:
    """The spec's sample impact figures of ``period``; returns how many were reported."""
    g = spec.green
    assert g is not None
    n = 0
    for p in g.projects:
        for f in p.impact:
            if f.period == period:
                greenchain.report_impact(ledger, p.name, period, f.metric, int(f.value * green.IMPACT_SCALE),
                                         f"{p.evidence}#impact-{period}-{f.metric}", roles[g.allocator])
                n += 1
    return n


def green_json(view: GreenView) -> dict[str, Any]:
    """The explorer's JSON of a green ledger: summary, allocations and impact (amounts in base units)."""
    tables = green_tables(view)

    def records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [{k: (str(v) if k == "value" else (None if pd.isna(v) else (int(v) if hasattr(v, "item") else v)))
                 for k, v in row.items()} for row in df.to_dict("records")]

    summary = records(tables["green_summary"])[0]
    return {"summary": summary, "allocations": records(tables["green_allocations"]),
            "impact": records(tables["green_impact"])}
