"""Checking a copy of a period's loan-level servicing tape against what the servicer committed on chain:
its sum-tree commitment (root and totals), the period report's aggregates, and every loan against the asset
registry (read side). What a holder of the tape would then prove on chain with the servicing court.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from web3 import Web3

from chainabs.chain.read.deal import DealReader, read_deal, report_fields, struct_field
from chainabs.chain.read.pool import pool_tape, registry_states, status_events
from chainabs.model.assets import ACTIVE_STATUSES, RECOVERING_STATUSES, status_for_days
from chainabs.model.numbers import format_amount
from chainabs.model.servicing import (
    AGGREGATE_RULES, commit_tape, period_report, read_servicing_tape, validate_servicing_tape,
)
from chainabs.model.servicing_tree import TapeSums
from chainabs.model.tape import TapeValidationError

#: Columns of the mismatch table: one row per difference between the tape and the chain.
MISMATCH_COLUMNS = ("scope", "loan_id", "check", "field", "tape", "chain", "message")
#: Tape problems that leave no row to check (:func:`chainabs.model.servicing.validate_servicing_tape` rules).
WHOLE_TAPE_RULES = frozenset({"missing_column", "empty_tape"})
#: Row problems that leave the row unreadable (left out of the loan checks; the commitment needs every row).
UNREADABLE_RULES = frozenset({"format", "status", "type", "negative", "range", "duplicate_loan"})


def _row(scope: str, loan_id: str | None, check: str, fld: str, tape: Any, chain: Any, message: str) -> dict[str, Any]:
    return dict(zip(MISMATCH_COLUMNS, (scope, loan_id, check, fld, tape, chain, message), strict=True))


def verify_servicing_tape(rpc: str | Web3 | DealReader, spv: str, period: int, tape: pd.DataFrame) -> pd.DataFrame:
    """Check a copy of ``period``'s servicing tape against what is on chain; one row per mismatch.

    ``rpc`` is an RPC URL, a Web3 or an already read :class:`chainabs.chain.read.deal.DealReader`. Columns: scope (tape |
    aggregate | loan), loan_id, check, field, tape value, chain value, message. Empty: the tape is what the
    servicer committed. Checks: the tape's format; its sum tree's root and totals against
    ``ReportSubmitted.commitment``; each ``PeriodReport`` field against the tape's aggregate; the tape's loans
    against the pool's (registration data); per loan, status and ending principal against the registry just
    before the report (a performing loan's balance at most the registry's, which is updated when its status
    changes), beginning principal against the registry at the previous report (the cut-off for period 1; at
    most it for a performing loan), and the leaf against the ``evidence`` of the loan's registry updates.
    """
    d = rpc if isinstance(rpc, DealReader) else read_deal(rpc, spv)
    rows: list[dict[str, Any]] = []
    typed, issues = validate_servicing_tape(tape, period)
    for i in issues:
        where = f"row {i.row}: " if i.row is not None else ""  # a whole-tape issue (a missing column) has no row
        rows.append(_row("tape", i.loan_id, "format", i.field, None, None, f"{where}{i.rule}: {i.message}"))
    if any(i.rule in WHOLE_TAPE_RULES for i in issues):  # no rows to check at all
        return pd.DataFrame(rows, columns=MISMATCH_COLUMNS)
    submitted = [e for e in d.of("ReportSubmitted") if int(e.args["period"]) == period]
    if not submitted:
        rows.append(_row("tape", None, "report", "period", period, None, f"no report submitted for period {period}"))
        return pd.DataFrame(rows, columns=MISMATCH_COLUMNS)
    event = submitted[-1]
    # A format error does not hide the other checks: rows that cannot be read are left out of the loan checks
    # (the commitment and the aggregates need every row, so they are reported as not checked); rows that read
    # but break a rule are checked like the others.
    unreadable = sorted({int(i.row) - 1 for i in issues if i.rule in UNREADABLE_RULES and i.row})
    if unreadable:
        readable = typed.drop(index=typed.index[unreadable]).reset_index(drop=True)
        rows.append(_row("tape", None, "commitment", "root", None, None,
                         f"not checked: {len(unreadable)} row(s) cannot be read (see the format rows); the loans "
                         "that can be read are checked below"))
        rows.extend(_loan_checks(d, readable, event, period, None))
        return pd.DataFrame(rows, columns=MISMATCH_COLUMNS)
    commitment = event.args["commitment"]
    on_root = "0x" + bytes(struct_field(commitment, "root", 0)).hex()
    raw = struct_field(commitment, "sums", 1)
    on_sums = TapeSums(*(int(struct_field(raw, f.name, k)) for k, f in enumerate(dataclasses.fields(TapeSums))))
    try:
        mine = commit_tape(typed, d.originator, period)
    except TapeValidationError as exc:  # e.g. a tape of another period: no commitment, the loans are still checked
        rows.append(_row("tape", None, "commitment", "root", None, None,
                         f"not checked: the tape cannot be committed ({len(exc.issues)} issue(s), see the format "
                         "rows); the loans are checked below"))
        rows.extend(_loan_checks(d, typed, event, period, None))
        return pd.DataFrame(rows, columns=MISMATCH_COLUMNS)
    if "0x" + mine.tree.root.hex() != on_root:
        rows.append(_row("tape", None, "commitment", "root", "0x" + mine.tree.root.hex(), on_root,
                         "the tape's sum-tree root is not the committed root"))
    if mine.tree.sums != on_sums:
        rows.append(_row("tape", None, "commitment", "sums", mine.tree.sums, on_sums,
                         "the tape's totals are not the committed totals"))
    on_chain = report_fields(event.args["report"])
    ours = dataclasses.asdict(period_report(typed))
    for name, value in ours.items():
        if int(on_chain[name]) != int(value):
            rows.append(_row("aggregate", None, "aggregate", name, int(value), int(on_chain[name]),
                             f"{AGGREGATE_RULES[name]} differs from the submitted report by {int(value) - int(on_chain[name])}"))
    rows.extend(_loan_checks(d, typed, event, period, mine))
    return pd.DataFrame(rows, columns=MISMATCH_COLUMNS)


def _loan_checks(d: DealReader, tape: pd.DataFrame, event: Any, period: int, mine: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pool = pool_tape(d)
    pool_ids = set(pool["loan_id"])
    tape_ids = set(tape["loan_id"])
    for lid in sorted(tape_ids - pool_ids):
        rows.append(_row("loan", lid, "membership", "loan_id", lid, None, "loan is not in the deal's pool"))
    reports = [e for e in d.of("ReportSubmitted") if int(e.args["period"]) < period]
    prior_key = reports[-1].key if reports else None
    now = registry_states(d, before=event.key).set_index("loan_id")
    # The tape owes a leaf to every asset in the pool at the report: registered before it (a revolving purchase
    # made while the report is pending joins the next tape) and not repurchased by then.
    registered = {int(a) for e in d.of("AssetsRegistered", contract=d.registry) if e.key < event.key
                  for a in e.args["assetIds"]}
    owed = {lid for lid, aid in zip(pool["loan_id"], pool["asset_id"], strict=True)
            if int(aid) in registered and str(now.at[lid, "status"]) != "Repurchased"}
    for lid in sorted(owed - tape_ids) if mine is not None else ():  # a partial tape: unreadable rows left out
        rows.append(_row("loan", lid, "membership", "loan_id", None, lid, "pool loan missing from the tape"))
    before = registry_states(d, before=prior_key).set_index("loan_id") if prior_key else \
        pool.assign(status=status_for_days(pool["days_delinquent"])).set_index("loan_id")
    changes = status_events(d, after=prior_key, before=event.key)
    evidence = changes.groupby("loan_id")["evidence"].last() if not changes.empty else pd.Series(dtype=object)
    t = tape[tape["loan_id"].isin(pool_ids)].copy()
    t["leaf"] = ["0x" + mine.evidence(lid).hex() for lid in t["loan_id"]] if mine is not None else None
    for r in t.itertuples(index=False):
        lid = r.loan_id
        reg = now.loc[lid]
        if str(reg["status"]) != r.status:
            rows.append(_row("loan", lid, "registry", "status", r.status, str(reg["status"]),
                             "status differs from the asset registry at the report"))
        held, end = int(reg["principal"]), int(r.ending_principal)
        if (end > held) if r.status == "Performing" else (end != held):
            rows.append(_row("loan", lid, "registry", "ending_principal", end, held,
                             "ending principal above the asset registry's at the report" if r.status == "Performing"
                             else "ending principal (or claim) differs from the asset registry at the report"))
        prev = before.loc[lid]
        carried = str(prev["status"]) in ACTIVE_STATUSES or str(prev["status"]) in RECOVERING_STATUSES
        opening = int(prev["principal"]) if carried else 0
        begin = int(r.beginning_principal)
        if (begin > opening) if str(prev["status"]) == "Performing" else (begin != opening):
            rows.append(_row("loan", lid, "continuity", "beginning_principal", begin, opening,
                             "beginning principal differs from the registry at the previous report"))
        if mine is not None and lid in evidence.index and evidence[lid] != r.leaf:
            rows.append(_row("loan", lid, "evidence", "leaf", r.leaf, evidence[lid],
                             "the loan's servicing leaf differs from the evidence of its registry update"))
    rows.extend(_dilution_checks(d, t, event, period, pool))
    return rows


def _dilution_checks(d: DealReader, tape: pd.DataFrame, event: Any, period: int, pool: pd.DataFrame) -> list[dict[str, Any]]:
    """Each receivable the deal's court recorded as diluted in ``period`` (before the report) must have its
    dilution booked on its own row: in ``prepaid_principal`` when the originator repurchased it, in
    ``defaulted_principal`` when it was written off (``ServicingCourt.challengeDilution``)."""
    court = {a for a, name in d.contracts.items() if name == "ServicingCourt"}
    diluted: dict[int, int] = {}
    repurchased = False
    for e in d.of("ReceivableDiluted"):
        if e.address in court and e.args["spv"] == d.spv_address and int(e.args["period"]) == period \
                and e.key < event.key:
            aid = int(e.args["assetId"])
            diluted[aid] = diluted.get(aid, 0) + int(e.args["amount"])
            repurchased = bool(e.args["repurchased"])
    if not diluted:
        return []
    loan_of = {int(aid): lid for lid, aid in zip(pool["loan_id"], pool["asset_id"], strict=True)}
    column = "prepaid_principal" if repurchased else "defaulted_principal"
    booked = dict(zip(tape["loan_id"], tape[column].astype("int64"), strict=True))
    rows: list[dict[str, Any]] = []
    for aid, amount in sorted(diluted.items()):
        lid = loan_of.get(aid)
        if lid is None or lid not in booked or int(booked[lid]) >= amount:
            continue  # a loan missing from the tape is reported as such above
        money = lambda v: format_amount(v, d.decimals, d.currency_symbol)  # noqa: E731
        rows.append(_row("loan", lid, "dilution", column, int(booked[lid]), amount,
                         f"diluted by {money(amount)} this period ({'repurchased by the originator' if repurchased else 'written off'}), "
                         f"the tape books {money(int(booked[lid]))}"))
    return rows


def verify_file(rpc: str | Web3 | DealReader, spv: str, period: int, tape: Path, *, out: Path | None = None,
                console: Console | None = None) -> pd.DataFrame:
    """``chainabs verify-tape``: check the servicing tape file ``tape`` of ``period``; print the verdict and
    every mismatch (and write them as CSV to ``out``). Returns the mismatches (empty: the tape is genuine)."""
    console = console or Console()
    result = verify_servicing_tape(rpc, spv, period, read_servicing_tape(tape))
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        result.to_csv(out, index=False)
    if result.empty:
        console.print(f"[green]period {period}: the tape matches the servicer's commitment (root, aggregates, every loan)[/]")
    else:
        console.print(f"[bold red]period {period}: {len(result)} mismatch(es)[/]")
        for line in mismatch_lines(result, SHOWN_MISMATCHES):
            console.print(line, highlight=False, markup=False, soft_wrap=False)
        if out:
            console.print(f"every mismatch in {out}", highlight=False)
    return result


#: How many mismatches the terminal shows (all of them go to ``--out``).
SHOWN_MISMATCHES = 50


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def mismatch_lines(result: pd.DataFrame, limit: int = SHOWN_MISMATCHES) -> list[str]:
    """The mismatches as short lines that read at 80 columns: ``[scope] loan check field: message`` and, when
    known, an indented ``tape X / chain Y`` line (the terminal wraps the message, not a table)."""
    lines = []
    for r in result.head(limit).itertuples(index=False):
        where = " ".join(str(x) for x in (r.loan_id, r.check, r.field) if not _blank(x))
        lines.append(f"- [{r.scope}] {where}: {r.message}")
        if not (_blank(r.tape) and _blank(r.chain)):
            lines.append(f"    tape {r.tape} / chain {r.chain}")
    if len(result) > limit:
        lines.append(f"... and {len(result) - limit} more")
    return lines
