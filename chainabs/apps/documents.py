"""``chainabs documents``: a deal's ERC-1643 documents on its tranche tokens (``docs/documents.md``).

* ``documents list [--check DIR] [--json]``: every document (name, URI, SHA-256 hash, the tokens carrying it,
  last update); with ``--check DIR`` whether the local copy in ``DIR`` matches the chain (exit status 1 when a
  copy differs or is missing);
* ``documents set NAME FILE --uri URI``: attach a document (hash computed from the file) to every tranche of
  the deal (``DOCUMENT_ROLE``: the arranger);
* ``documents attach-report PERIOD``: rebuild a closed period's investor report from chain data, write it
  and attach its hash as ``investor-report-<period>``.

They find the node, the deal and the signer, and ask before sending on a live network, as every deal-operation
command does (:mod:`chainabs.apps.operate`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from chainabs.apps import operate
from chainabs.apps.output import emit_json
from chainabs.chain import documents as documentlib
from chainabs.chain.read.deal import read_deal
from chainabs.model.numbers import format_datetime
from chainabs.paths import REPORTS_DIR


def grouped(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per document (name, URI, hash) with the tokens that carry it and its latest update."""
    if frame.empty:
        return pd.DataFrame(columns=["name", "uri", "hash", "tokens", "updated_at"])
    out = (frame.groupby(["name", "uri", "hash"], sort=False)
           .agg(tokens=("token", lambda s: ", ".join(s)), updated_at=("updated_at", "max")).reset_index())
    return out


def render(frame: pd.DataFrame, console: Console, title: str) -> None:
    """Print documents (:func:`grouped`, optionally with the ``local`` check) one block per document, so that
    a full hash and URI stay readable on an 80-column terminal."""
    if frame.empty:
        console.print(f"{title}: no documents")
        return
    table = Table(title=title, show_lines=True)
    table.add_column("document", overflow="fold")
    table.add_column("URI / SHA-256 hash", overflow="fold")
    if "local" in frame.columns:
        table.add_column("local copy", overflow="fold")
    for row in frame.itertuples():
        cells = [f"[bold]{row.name}[/]\n{row.tokens}\n{format_datetime(int(row.updated_at))}",
                 f"{row.uri}\n{row.hash}"]
        if "local" in frame.columns:
            style = "green" if row.local == "match" else "red"
            cells.append(f"[{style}]{row.local}[/]" + (f"\n{row.file}" if row.file else ""))
        table.add_row(*cells)
    console.print(table)


def list_documents(options: operate.Options, *, check: Path | Sequence[Path] | None = None,
                   console: Console | None = None) -> pd.DataFrame:
    """``documents list``: the documents of the deal, per document; with ``check`` the local copies compared."""
    with operate.opened(options, console) as ctx:
        address = ctx.deal.spv.address
        frame = documentlib.read_documents(ctx.w3, [t.address for t in ctx.deal.tokens])
    if check:
        frame = documentlib.check_documents(frame, check)
        per = frame.groupby(["name", "uri", "hash"], sort=False)[["local", "file"]].first().reset_index()
        out = grouped(frame).merge(per, on=["name", "uri", "hash"], how="left")
    else:
        out = grouped(frame)
    if options.json:
        emit_json({"spv": address, "documents": out.to_dict(orient="records")}, indent=2, default=str)
    else:
        render(out, ctx.console, f"Documents of SPV {address}")
    return out


def set_document(options: operate.Options, name: str, path: Path, uri: str, *,
                 console: Console | None = None) -> dict[str, Any]:
    """``documents set``: attach ``path`` (its SHA-256) as ``name`` with ``uri`` to every tranche of the deal."""
    digest = documentlib.file_hash(path)
    with operate.opened(options, console) as ctx:
        documentlib.set_document(ctx.deal.tokens, name, uri, digest, sender=ctx.signer("arranger"))
        result = {"name": name, "uri": uri, "hash": digest}
        return operate.report(ctx, result, f"{name}: {uri} sha256 {digest} on every tranche")


def attach_report(options: operate.Options, period: int, *, out: Path | None, base_uri: str,
                  console: Console | None = None) -> dict[str, Any]:
    """``documents attach-report``: write period ``period``'s investor report and attach its hash."""
    with operate.opened(options, console) as ctx:
        address = ctx.deal.spv.address
        reader = read_deal(operate.node_url(options), address)
        folder = out or REPORTS_DIR / f"deal-{address[:10].lower()}" / "documents"
        path, digest, _ = documentlib.attach_period_report(reader, period, ctx.deal.tokens,
                                                           sender=ctx.signer("arranger"), out_dir=folder,
                                                           base_uri=base_uri)
        result = {"name": documentlib.report_name(period), "file": str(path), "hash": digest}
        return operate.report(ctx, result, f"{documentlib.report_name(period)}: {path} sha256 {digest}")
