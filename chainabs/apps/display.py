"""How chain figures are shown to people, in the reports' HTML page, their charts and the explorer: what each
column of the read side's tables holds (an amount in base units, basis points, a percentage, a date, a
hash...) and the cell it becomes: currency units with separators and the symbol, percentages with their
unit, dates as dates, long hashes shortened (the whole value in the cell's title). The data itself stays in
integers; only its display changes (formatting helpers: :mod:`chainabs.model.numbers`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from chainabs.model import numbers

#: Column kinds.
AMOUNT, BPS, PCT, DATE, TIME, RATIO, FACTOR, COUNT, HEX, TEXT, BOOL = (
    "amount", "bps", "pct", "date", "time", "ratio", "factor", "count", "hex", "text", "bool")

#: Columns in the currency's base units (every amount column of the read side's tables).
AMOUNT_COLUMNS = frozenset({
    # tranches, investor report, holders, positions
    "original_face", "interest_distributed", "principal_distributed", "cumulative_write_down", "current_principal",
    "beginning_balance", "interest_due", "interest_paid", "residual_paid", "interest_shortfall", "principal_paid",
    "write_down", "ending_balance", "principal_deficiency", "balance", "interest_claimed", "principal_claimed",
    "interest_claimable", "principal_claimable", "interest_withdrawable", "principal_withdrawable",
    "interest_withdrawn", "principal_withdrawn", "principal_outstanding", "unrestricted", "locked", "supply",
    # pool
    "interest_collected", "scheduled_principal", "prepayments", "defaults", "recoveries", "delinquent_30",
    "delinquent_60", "delinquent_90_plus", "cumulative_net_loss", "registry_principal", "cutoff_principal",
    "principal", "original_principal",
    # currency, fees, reserve, ledger, reconciliation
    "amount", "interest", "fixed_amount", "paid", "owed", "shortfall", "reserve_balance", "initial", "target",
    "floor", "chain_interest", "model_interest", "chain_principal", "model_principal", "chain_write_down",
    "model_write_down", "chain_balance", "model_balance",
    # revolving period (chainabs.model.revolving_path)
    "principal_collected", "dilution", "purchased", "principal_to_notes", "interest_to_notes", "pool_balance",
    # revolving period on chain (chainabs.apps.reports.revolving_tables)
    "diluted", "unspent_principal",
})
#: Columns holding unix seconds.
TIME_COLUMNS = frozenset({"time", "updated_at", "origination_date", "maturity_date", "timestamp"})
#: Columns of addresses, hashes and other long hex.
HEX_COLUMNS = frozenset({"tx", "address", "holder", "counterparty", "evidence", "tape_root", "leaf", "obligor",
                         "hash", "recipient", "contract_hash", "schedule_hash", "asset_id", "owner", "token_address",
                         "seller", "recorded_by"})
#: Whole-number columns that are not money.
COUNT_COLUMNS = frozenset({"period", "block", "loans", "cutoff_loans", "loans_outstanding", "holders", "trigger",
                           "class", "fee", "count", "wa_remaining_term_days", "term_months", "days_delinquent",
                           "region", "industry", "distributions", "log_index", "decimals", "pool_id", "alerts",
                           "receivables", "receivables_bought"})
#: Ratios shown as plain decimals (the investor report's factor: current / original).
RATIO_COLUMNS = frozenset({"factor_ratio"})


def column_kind(name: str, value: Any = None) -> str:
    """The kind of a column by its name (``value``, a sample, tells floats and booleans apart)."""
    if name in AMOUNT_COLUMNS:
        return AMOUNT
    if name.endswith("_bps") or name == "bps":
        return BPS
    if name.endswith("_pct") or name == "pct":
        return PCT
    if name.endswith("_date") and name not in TIME_COLUMNS:
        return DATE
    if name in TIME_COLUMNS:
        return TIME
    if name in HEX_COLUMNS:
        return HEX
    if name == "factor":
        return FACTOR if isinstance(value, int) and not isinstance(value, bool) else RATIO
    if name in COUNT_COLUMNS:
        return COUNT
    if isinstance(value, bool) or name.startswith(("breached", "is_", "match", "registry_matches")):
        return BOOL
    return TEXT


def unclassified_numeric(frame: pd.DataFrame) -> list[str]:
    """Numeric columns of ``frame`` that :func:`column_kind` does not know (they would show raw numbers)."""
    out = []
    for col in frame.columns:
        if pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
            sample = frame[col].iloc[0] if len(frame) else None
            if column_kind(str(col), sample) == TEXT:
                out.append(str(col))
    return out


@dataclass(frozen=True)
class Money:
    """The deal currency as people read it."""

    decimals: int
    symbol: str

    def amount(self, value: int, places: int = 2) -> str:
        return numbers.format_amount(int(value), self.decimals, self.symbol, places)

    def compact(self, value: float) -> str:
        return numbers.format_compact(value, self.decimals, self.symbol)


def short_hex(value: str, keep: int = 6) -> str:
    """``0x1234…abcd`` for long hex (addresses, hashes); short values unchanged."""
    text = str(value)
    return text if len(text) <= 2 * keep + 3 else f"{text[: keep + 2]}…{text[-keep:]}"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def cell_text(kind: str, value: Any, money: Money) -> str:
    """The text of one cell (plain, not escaped); a list of values is shown value by value."""
    if isinstance(value, (list, tuple)):
        return ", ".join(cell_text(kind, v, money) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_argument_text(str(k), v, money)}" for k, v in value.items())
    if _missing(value):
        return "n/a" if kind in (BPS, PCT, DATE, TIME) else ""
    if isinstance(value, str) and kind in (AMOUNT, BPS, FACTOR, COUNT, TIME):
        return value  # already written for people (a rule alert's figures in currency units, a document's UTC time)
    if kind == AMOUNT:
        return money.amount(int(value))
    if kind == BPS:
        return numbers.format_bps(int(value))
    if kind == PCT:
        return numbers.format_pct(float(value))
    if kind == DATE:
        return str(value)[:10] if not isinstance(value, (int, float)) else numbers.format_date(int(value))
    if kind == TIME:
        if isinstance(value, pd.Timestamp):
            return value.date().isoformat()
        return numbers.format_datetime(int(value))
    if kind == FACTOR:
        return numbers.format_factor(int(value))
    if kind == RATIO:
        return f"{float(value):.6f}" if math.isfinite(float(value)) else "n/a"
    if kind == COUNT:
        return numbers.format_count(int(value)) if not isinstance(value, str) else value
    if kind == BOOL:
        return "yes" if bool(value) else "no"
    return str(value)


def _argument_text(name: str, value: Any, money: Money) -> str:
    """An event argument in a table cell: long hex and very large ids shortened, amounts in units."""
    if isinstance(value, str) and value.startswith("0x"):
        return short_hex(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**20:
        return short_hex(hex(value))
    return cell_text(column_kind(name, value), value, money)


def cell_html(kind: str, value: Any, money: Money) -> str:
    """One cell's HTML content: escaped text; long hex shortened with the whole value as its title."""
    text = cell_text(kind, value, money)
    if kind == HEX and len(text) > 15:
        return f'<span class="hex" title="{html.escape(text)}">{html.escape(short_hex(text))}</span>'
    return html.escape(text)


#: Kinds aligned right in tables.
NUMERIC_KINDS = frozenset({AMOUNT, BPS, PCT, RATIO, FACTOR, COUNT})


#: Headers that say more than their column's name.
LABELS: dict[str, str] = {
    "pct": "share", "cutoff_pct": "share at cut-off", "bps": "share", "cutoff_bps": "share at cut-off",
    "limit_bps": "limit", "wa_rate_bps": "WA rate", "cutoff_loans": "loans at cut-off",
    "cutoff_principal": "principal at cut-off", "value_bps": "value", "threshold_bps": "threshold",
    "headroom_bps": "headroom", "coupon_bps": "coupon", "pool_bps": "rate p.a.", "wa_remaining_term_days": "WA remaining term (days)",
    "delinquent_60_plus_pct": "60+ delinquent", "cumulative_net_loss_pct": "cumulative net loss (% of pool)",
    "cpr_pct": "CPR", "cdr_pct": "CDR", "severity_pct": "severity",
}


def label(name: str) -> str:
    """A column name as a header: ``interest_due`` -> ``interest due``; the unit suffixes ``_bps`` and
    ``_pct`` dropped (the cells carry their unit)."""
    if name in LABELS:
        return LABELS[name]
    for suffix in ("_bps", "_pct"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name.replace("_", " ")


def column_groups(columns: Iterable[str], keys: Iterable[str], width: int = 10) -> list[list[str]]:
    """A wide table's columns in groups of at most ``width``, each group led by the ``keys`` columns present
    (e.g. the period and its date), so that each part fits the page."""
    cols = [str(c) for c in columns]
    lead = [k for k in keys if k in cols]
    rest = [c for c in cols if c not in lead]
    step = max(width - len(lead), 1)
    return [lead + rest[i : i + step] for i in range(0, len(rest), step)] or [lead]


def html_table(frame: pd.DataFrame, money: Money, *, kinds: Mapping[str, str] | None = None,
               labels: Mapping[str, str] | None = None, max_rows: int | None = None,
               highlight: str | Iterable[bool] | None = None, css: str = "") -> str:
    """A table that fits the page: a scrolling wrapper, headers that wrap, numbers right-aligned in their
    units, long hex shortened. ``highlight``: a boolean column (or one flag per row) whose true rows are
    marked (e.g. breaches)."""
    kinds = dict(kinds or {})
    labels = labels or {}
    shown = frame if max_rows is None else frame.head(max_rows)
    cols = [str(c) for c in frame.columns]
    for c in cols:
        if c not in kinds:
            sample = frame[c].iloc[0] if len(frame) else None
            kinds[c] = column_kind(c, sample.item() if hasattr(sample, "item") else sample)
    head = "".join(f'<th class="{"num" if kinds[c] in NUMERIC_KINDS else ""}">{html.escape(labels.get(c, label(c)))}</th>'
                   for c in cols)
    body = []
    if isinstance(highlight, str):
        flags = [bool(v) for v in frame[highlight]]
    else:
        flags = [bool(v) for v in highlight] if highlight is not None else [False] * len(frame)
    for record, flagged in zip(shown.to_dict("records"), flags, strict=False):
        mark = ' class="flag"' if flagged else ""
        cells = "".join(f'<td class="{"num" if kinds[c] in NUMERIC_KINDS else kinds[c]}">{cell_html(kinds[c], record[c], money)}</td>'
                        for c in cols)
        body.append(f"<tr{mark}>{cells}</tr>")
    return (f'<div class="table-wrap"><table class="{css}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def html_long_table(frame: pd.DataFrame, money: Money, key: str, values: Iterable[str], *,
                    kind_of: Any = None) -> str:
    """A table of (name, value...) rows whose values differ in kind by row (``kind_of(name)``; default: the
    kind of a column of that name, after the last dot: ``ledger.fees_paid`` is an amount)."""
    values = list(values)
    kind_of = kind_of or (lambda name: column_kind(str(name).rsplit(".", 1)[-1]))
    head = f"<th>{html.escape(label(key))}</th>" + "".join(f'<th class="num">{html.escape(label(v))}</th>' for v in values)
    body = []
    for record in frame.to_dict("records"):
        kind = kind_of(record[key])
        if kind == TEXT and any(isinstance(record[v], (int, float)) and not isinstance(record[v], bool) for v in values):
            kind = COUNT
        cells = "".join(
            f'<td class="{"num" if kind in NUMERIC_KINDS else kind}">'
            f'{cell_html(BOOL if isinstance(record[v], bool) else kind, record[v], money)}</td>' for v in values)
        body.append(f"<tr><th>{html.escape(str(record[key]))}</th>{cells}</tr>")
    return (f'<div class="table-wrap"><table class="kv"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def key_value_table(items: Iterable[tuple[str, str]]) -> str:
    """A two-column table of (label, already formatted value) pairs."""
    rows = "".join(f'<tr><th>{html.escape(k)}</th><td class="num">{html.escape(v)}</td></tr>' for k, v in items)
    return f'<div class="table-wrap"><table class="kv"><tbody>{rows}</tbody></table></div>'


#: CSS shared by the report page and the explorer's tables.
TABLE_CSS = """
.table-wrap{max-width:100%;overflow-x:auto;margin:0.5em 0 1.2em}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid #e3e6ea;padding:4px 8px;vertical-align:top}
thead th{background:#f3f5f7;font-weight:600;text-align:left;white-space:normal;overflow-wrap:anywhere;min-width:4em;max-width:11em}
th.num,td.num{text-align:right;white-space:nowrap}
td.date,td.time{white-space:nowrap}
td.hex{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;white-space:nowrap}
tr.flag td{background:#fdecea}
table.kv th{text-align:left;font-weight:500;background:none;max-width:none;white-space:nowrap}
"""


def print_table(console: Console, table: Table) -> None:
    """Print ``table`` whole on ``console``: as wide as its cells need when that is more than the console's width
    (a terminal wraps the long lines; an amount is never cut to an ellipsis)."""
    for column in table.columns:
        column.no_wrap = True
    natural = Measurement.get(console, console.options.update_width(10_000), table).maximum
    width = console.width
    if natural <= width:
        console.print(table)
        return
    console.width = natural  # rich caps a print's width at the console's
    try:
        console.print(table)
    finally:
        console.width = width
