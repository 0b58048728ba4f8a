"""``chainabs documents``: a deal's ERC-1643 documents on its tranche tokens (``docs/documents.md``).

* ``documents list [--check DIR] [--json]``: every document (name, URI, SHA-256 hash, the tokens carrying it,
  last update); with ``--check DIR`` whether the local copy in ``DIR`` matches the chain (exit status 1 when a
  copy differs or is missing);
* ``documents set NAME FILE --uri URI``: attach a document (hash computed from the file) to every tranche of
  the deal (``DOCUMENT_ROLE``: the arranger; key from ``ARRANGER_PRIVATE_KEY`` / ``ARRANGER_ACCOUNT``, else the
  deployer's);
* ``documents attach-report PERIOD``: rebuild a closed period's investor report from chain data, write it
  and attach its hash as ``investor-report-<period>``.

The deal is ``--spv ADDRESS`` or ``--deal NAME`` (its SPV from ``deployments/<chainid>/<name>.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table
from web3 import Web3

from chainabs.chain import connection
from chainabs.chain import documents as documentlib
from chainabs.chain.contracts import contract_at
from chainabs.chain.deploy import DeploymentError, Manifest
from chainabs.chain.read.deal import read_deal, web3_for
from chainabs.model.numbers import format_datetime
from chainabs.paths import REPORTS_DIR


def spv_of(w3: Web3, spv: str | None, deal: str | None, manifest_root: Path | None = None) -> str:
    """The SPV address: ``spv``, else the one the deployment manifest of ``deal`` on ``w3``'s chain records."""
    if spv:
        if not Web3.is_address(spv):
            raise ValueError(f"--spv: {spv!r} is not an address")
        return Web3.to_checksum_address(spv)
    if not deal:
        raise ValueError("name the deal: --spv ADDRESS or --deal NAME (its manifest in deployments/<chainid>/)")
    chain_id = int(w3.eth.chain_id)
    manifest = Manifest.load(deal, chain_id, manifest_root)
    if not manifest.path.exists():
        raise DeploymentError(f"no deployment of {deal!r} on chain {chain_id} ({manifest.path} does not exist): "
                              "give --spv ADDRESS")
    return Web3.to_checksum_address(manifest.address("spv"))


def tokens_of(w3: Web3, spv: str) -> list[str]:
    """The tranche tokens of the SPV at ``spv`` (refused when no SPV answers there)."""
    from chainabs.chain.abis import load_abi

    if len(w3.eth.get_code(spv)) == 0:
        raise ValueError(f"no contract at {spv} on chain {w3.eth.chain_id}: check the SPV address and the node")
    contract = w3.eth.contract(address=spv, abi=load_abi("SPV"))
    try:
        return [Web3.to_checksum_address(a) for a in contract.functions.classTokens().call()]
    except Exception:  # noqa: BLE001 - any failure means the address is not an SPV
        raise ValueError(f"{spv} is not a ChainABS SPV (it does not answer classTokens())") from None


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


def list_documents(rpc: str, spv: str | None, deal: str | None, *, check: Path | None = None,
                   as_json: bool = False, console: Console | None = None) -> pd.DataFrame:
    """``documents list``: the documents of the deal, per document; with ``check`` the local copies compared."""
    console = console or Console()
    w3 = web3_for(rpc)
    address = spv_of(w3, spv, deal)
    frame = documentlib.read_documents(w3, tokens_of(w3, address))
    if check is not None:
        frame = documentlib.check_documents(frame, check)
        per = frame.groupby(["name", "uri", "hash"], sort=False)[["local", "file"]].first().reset_index()
        out = grouped(frame).merge(per, on=["name", "uri", "hash"], how="left")
    else:
        out = grouped(frame)
    if as_json:
        print(json.dumps({"spv": address, "documents": out.to_dict(orient="records")}, indent=2, default=str))
    else:
        render(out, console, f"Documents of SPV {address}")
    return out


def signer() -> Any:
    """The DOCUMENT_ROLE holder who signs: ``ARRANGER_PRIVATE_KEY`` / ``ARRANGER_ACCOUNT``, else the deployer."""
    account = connection.env_account("ARRANGER_PRIVATE_KEY", "ARRANGER_ACCOUNT")
    return account if account is not None else connection.deployer()


def confirm_live(what: str, assume_yes: bool, console: Console) -> None:
    """On a live network: show what will be sent and ask (no terminal and no ``--yes``: nothing is sent)."""
    if connection.is_local() or assume_yes:
        return
    from brownie import web3

    fee = web3.eth.gas_price
    console.print(f"{what} (gas price {fee / 1e9:.2f} gwei)")
    if not sys.stdin.isatty():
        raise DeploymentError("live network and no terminal to confirm: nothing sent (add --yes to send)")
    if input("Send? [y/N] ").strip().lower() not in {"y", "yes"}:
        raise DeploymentError("cancelled: nothing sent")


def set_document(spv: str | None, deal: str | None, name: str, path: Path, uri: str, *, assume_yes: bool = False,
                 console: Console | None = None) -> list[Any]:
    """``documents set``: attach ``path`` (its SHA-256) as ``name`` with ``uri`` to every tranche of the deal."""
    console = console or Console()
    from brownie import web3

    address = spv_of(web3, spv, deal)
    digest = documentlib.file_hash(path)
    tokens = [contract_at("TrancheToken", a) for a in tokens_of(web3, address)]
    sender = signer()
    confirm_live(f"setDocument({name!r}, {uri!r}, {digest}) on {len(tokens)} tranche tokens from {sender.address}",
                 assume_yes, console)
    receipts = documentlib.set_document(tokens, name, uri, digest, sender=sender)
    if not receipts:
        console.print(f"{name}: already attached with this URI and hash on every tranche; nothing sent")
    for r in receipts:
        console.print(f"{name} -> {r.tx_hash} gas {r.gas_used:,}")
    console.print(f"{name}: {uri}\n  sha256 {digest}")
    return receipts


def attach_report(spv: str | None, deal: str | None, period: int, *, out: Path | None, base_uri: str,
                  assume_yes: bool = False, console: Console | None = None) -> Path:
    """``documents attach-report``: write period ``period``'s investor report and attach its hash."""
    console = console or Console()
    from brownie import web3

    address = spv_of(web3, spv, deal)
    reader = read_deal(connection.endpoint(), address)
    tokens = [contract_at("TrancheToken", a) for a in reader.tokens]
    folder = out or REPORTS_DIR / f"deal-{address[:10].lower()}" / "documents"
    sender = signer()
    data = documentlib.period_report(reader, period)
    confirm_live(f"setDocument({documentlib.report_name(period)!r}, sha256 {documentlib.content_hash(data)}) on "
                 f"{len(tokens)} tranche tokens from {sender.address}", assume_yes, console)
    path, digest, receipts = documentlib.attach_period_report(reader, period, tokens, sender=sender, out_dir=folder,
                                                              base_uri=base_uri)
    console.print(f"{documentlib.report_name(period)}: {path} sha256 {digest}; "
                  + (f"{len(receipts)} transactions" if receipts else "already attached, nothing sent"))
    return path


# ------------------------------------------------------------------------------------------------- command line


def add_parser(sub: Any, network_options: Callable[..., None], connect: Callable[[argparse.Namespace], None],
               read_url: Callable[[argparse.Namespace], str]) -> None:
    """Add ``chainabs documents list|set|attach-report`` to the ``chainabs`` subparsers ``sub``, with the command
    line's network options, connection and reading URL (passed in: the command line imports this module)."""
    text = ("A deal's documents (ERC-1643 on every tranche token): list them with their SHA-256 hashes and check "
            "local copies, attach a document, attach a closed period's investor report.")
    p = sub.add_parser("documents", help=text, description=text)
    p.set_defaults(run=_run, connect=connect, read_url=read_url)
    actions = p.add_subparsers(dest="documents_command", required=True, metavar="ACTION")

    def action(name: str, help_text: str, reading: bool) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=help_text, description=help_text)
        network_options(a, reading=reading)
        which = a.add_mutually_exclusive_group()
        which.add_argument("--spv", metavar="ADDRESS", help="the deal's SPV")
        which.add_argument("--deal", metavar="NAME", help="the deal's name: its SPV from deployments/<chainid>/<name>.json")
        return a

    a = action("list", "Every document: name, URI, SHA-256 hash, tokens; --check DIR compares local copies "
               "(exit status 1 if one differs or is missing).", True)
    a.add_argument("--check", type=Path, default=None, metavar="DIR", help="folder holding copies of the documents")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    a = action("set", "Attach a document to every tranche (hash computed from the file; DOCUMENT_ROLE, key from "
               "ARRANGER_PRIVATE_KEY / ARRANGER_ACCOUNT or the deployer).", False)
    a.add_argument("name", help="document name (at most 32 bytes), e.g. offering_circular")
    a.add_argument("file", type=Path, help="the document file")
    a.add_argument("--uri", required=True, help="where investors read the document")
    a.add_argument("--yes", "-y", action="store_true", help="do not ask before sending (live networks)")
    a = action("attach-report", "Rebuild a closed period's investor report from chain data, write it and attach "
               "its hash as investor-report-<period>.", False)
    a.add_argument("period", type=int, help="the closed period")
    a.add_argument("--out", type=Path, default=None, help="folder of the report file")
    a.add_argument("--base-uri", default="", help="URI prefix where the reports are published")
    a.add_argument("--yes", "-y", action="store_true", help="do not ask before sending (live networks)")


def _run(args: argparse.Namespace, console: Console) -> int:
    action = args.documents_command
    if action == "list":
        out = list_documents(args.read_url(args), args.spv, args.deal, check=args.check, as_json=args.json,
                             console=console)
        return 1 if args.check is not None and (out["local"] != "match").any() else 0
    args.connect(args)
    if action == "set":
        set_document(args.spv, args.deal, args.name, args.file, args.uri, assume_yes=args.yes, console=console)
    else:
        attach_report(args.spv, args.deal, args.period, out=args.out, base_uri=args.base_uri, assume_yes=args.yes,
                      console=console)
    return 0
