"""Deal documents on the tranche tokens (ERC-1643: a name, a URI and the hash of the document's content).

Every tranche token of a deal carries the deal's documents (``contracts/token/DocumentStore.sol``). The
content hash is the **SHA-256 of the file's bytes** (``sha256sum FILE`` gives the same hex), so anyone holding a
copy of a document checks it against the chain with standard tools.

* :func:`set_document` attaches one document (name, URI, hash computed from the file) to every tranche of a
  deal; only a holder of the token's ``DOCUMENT_ROLE`` may (the arranger; the deployment grants it), and each
  change emits ``DocumentUpdated``;
* :func:`document_steps` is the same as resumable deployment steps (``chainabs deploy`` attaches the documents
  named in the spec's ``documents:`` section);
* :func:`read_documents` lists what the tokens carry and :func:`check_documents` compares local files with it;
* :func:`attach_period_report` writes a closed period's investor report (rebuilt from chain data, so anyone
  can rebuild the same bytes) and attaches its hash as ``investor-report-<period>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
from web3 import Web3

from chainabs.chain.abis import load_abi
from chainabs.chain.contracts import role_id
from chainabs.chain.deploy import CallStep, Step
from chainabs.chain.read.deal import DealReader, batch_call
from chainabs.chain.read.tables import investor_report
from chainabs.chain.sender import Receipt, transact

#: The AccessControl role that may set and remove a token's documents.
DOCUMENT_ROLE = "DOCUMENT_ROLE"
#: Columns of :func:`read_documents`.
COLUMNS = ("token", "address", "name", "uri", "hash", "updated_at")
#: Name prefix of the per-period investor reports.
REPORT_PREFIX = "investor-report-"


class DocumentError(ValueError):
    """A document that cannot be attached or checked (bad name, missing file, wrong signer)."""


# ------------------------------------------------------------------------------------------------- pure helpers


def encode_name(name: str) -> bytes:
    """A document name as the bytes32 the contract keys it by (UTF-8, right-padded); 1 to 32 bytes."""
    raw = name.strip().encode("utf-8")
    if not raw:
        raise DocumentError("document name: empty")
    if len(raw) > 32:
        raise DocumentError(f"document name {name!r}: {len(raw)} bytes, at most 32")
    return raw.ljust(32, b"\0")


def decode_name(value: Any) -> str:
    """The text of a bytes32 document name."""
    raw = bytes(value) if not isinstance(value, str) else bytes.fromhex(value.removeprefix("0x"))
    return raw.rstrip(b"\0").decode("utf-8", "replace")


def content_hash(data: bytes) -> str:
    """The document hash of ``data``: SHA-256, as 0x-hex (what ``sha256sum`` prints, with 0x)."""
    return "0x" + hashlib.sha256(data).hexdigest()


def file_hash(path: str | Path) -> str:
    """:func:`content_hash` of a file's bytes; a missing file is a one-line :class:`DocumentError`."""
    p = Path(path)
    if not p.is_file():
        raise DocumentError(f"document file {p}: not found")
    return content_hash(p.read_bytes())


def _same(record: Sequence[Any], uri: str, digest: str) -> bool:
    """Whether a ``getDocument`` answer (uri, hash, updated) already holds ``uri`` and ``digest``."""
    return str(record[0]) == uri and "0x" + bytes(record[1]).hex() == digest.lower()


# ------------------------------------------------------------------------------------------------- writing


def document_steps(documents: Mapping[str, tuple[str, str]], classes: int) -> list[Step]:
    """Resumable deployment steps attaching ``documents`` (name -> (uri, hash)) to tranche tokens
    ``class0..class<n-1>`` of a manifest. The step key carries the hash, so an edited file is attached again
    on the next run; each step first checks the token (a re-run after a kill sends nothing twice)."""
    steps: list[Step] = []
    for name, (uri, digest) in documents.items():
        key32 = encode_name(name)
        for i in range(classes):
            steps.append(CallStep(f"class{i}-document-{name}-{digest[2:10]}", f"class{i}", "setDocument",
                                  (key32, uri, digest), done=_document_done))
    return steps


def _document_done(contract: Any, args: list[Any]) -> bool:
    return _same(contract.getDocument(args[0]), str(args[1]), str(args[2]))


def document_role_steps(classes: int, holder: str) -> list[Step]:
    """Deployment steps granting ``DOCUMENT_ROLE`` on every tranche token to ``holder`` (unless it has it)."""
    return [CallStep(f"class{i}-document-role", f"class{i}", "grantRole", (role_id(DOCUMENT_ROLE), holder),
                     done=lambda c, a: bool(c.hasRole(a[0], a[1])))
            for i in range(classes)]


def document_plan(documents: Mapping[str, tuple[str, str]], classes: int, holder: str) -> list[Step]:
    """``DOCUMENT_ROLE`` on every tranche granted to ``holder`` (the arranger: it attaches the deal's documents
    and, every period, the period's investor report), then steps attaching ``documents`` (name -> (uri, hash))
    to every tranche."""
    return document_role_steps(classes, holder) + document_steps(documents, classes)


def spec_documents(spec: Any, base_dir: Path) -> dict[str, tuple[str, str]]:
    """A deal spec's documents as name -> (URI, SHA-256 of the file), the files read now."""
    return {name: (spec.documents[name].uri, file_hash(path)) for name, path in spec.document_files(base_dir).items()}


def set_document(tokens: Iterable[Any], name: str, uri: str, digest: str, *, sender: Any) -> list[Receipt]:
    """Attach document ``name`` (``uri``, ``digest``) to every token of ``tokens`` (brownie contracts) on which it
    is not already so; returns the receipts (empty when nothing changed). Refuses before sending when
    ``sender`` lacks ``DOCUMENT_ROLE`` on a token."""
    key32 = encode_name(name)
    if not uri.strip():
        raise DocumentError(f"document {name}: give its URI (where the document can be read)")
    tokens = list(tokens)
    role = role_id(DOCUMENT_ROLE)
    for token in tokens:
        if not token.hasRole(role, sender.address):
            raise DocumentError(f"{sender.address} does not hold DOCUMENT_ROLE on {token.symbol()} ({token.address}): "
                                "the token's admin grants it (the arranger holds it after `chainabs deploy`)")
    receipts = []
    for token in tokens:
        if _same(token.getDocument(key32), uri, digest):
            continue
        receipts.append(transact(token.setDocument, key32, uri, digest, sender=sender))
    return receipts


# ------------------------------------------------------------------------------------------------- reading


def read_documents(w3: Web3, tokens: Sequence[str]) -> pd.DataFrame:
    """Every document of every token in ``tokens`` (addresses): token symbol and address, name, URI, hash,
    time of the last update (unix seconds), tokens in the given order, names in the token's order."""
    abi = load_abi("TrancheToken")
    rows = []
    for address in tokens:
        contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        fn = contract.functions
        symbol = fn.symbol().call()
        names = fn.getAllDocuments().call()
        for name, (uri, digest, updated) in zip(names, batch_call(w3, [fn.getDocument(n) for n in names]),
                                                strict=True):
            rows.append({"token": symbol, "address": contract.address, "name": decode_name(name), "uri": uri,
                         "hash": "0x" + bytes(digest).hex(), "updated_at": int(updated)})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def local_file(folder: Path, name: str, uri: str) -> Path | None:
    """The local copy of a document in ``folder``: the file named like the URI's last path segment, else a
    file named ``<name>`` (any extension); None when there is none."""
    segment = Path(urlparse(uri).path or uri).name
    if segment and (folder / segment).is_file():
        return folder / segment
    matches = sorted(p for p in folder.glob(f"{name}.*") if p.is_file())
    if (folder / name).is_file():
        matches.insert(0, folder / name)
    return matches[0] if matches else None


def check_documents(frame: pd.DataFrame, folders: Path | Sequence[Path]) -> pd.DataFrame:
    """``frame`` (:func:`read_documents`) with a ``local`` column: ``match`` when the file found in ``folders``
    (:func:`local_file`, the first folder holding one) hashes to the on-chain hash, ``MISMATCH`` when it does not,
    ``missing`` when there is no such file (the deal's own documents and its period reports usually live in two
    folders)."""
    folders = [folders] if isinstance(folders, Path) else list(folders)
    for folder in folders:
        if not folder.is_dir():
            raise DocumentError(f"--check {folder}: not a folder")
    status, files = [], []
    for row in frame.itertuples():
        path = next((p for p in (local_file(f, row.name, row.uri) for f in folders) if p is not None), None)
        files.append(str(path) if path else "")
        if path is None:
            status.append("missing")
        else:
            status.append("match" if file_hash(path) == str(row.hash).lower() else "MISMATCH")
    return frame.assign(file=files, local=status)


# ------------------------------------------------------------------------------------------------- period reports


def report_name(period: int) -> str:
    """The document name of period ``period``'s investor report."""
    return f"{REPORT_PREFIX}{int(period)}"


def period_report(d: DealReader, period: int) -> bytes:
    """Period ``period``'s investor report as CSV bytes, rebuilt from chain data only (per class: balances,
    interest due / paid / shortfall, principal, write-down, factor; amounts in base units): the same bytes
    for anyone who rebuilds it, so its hash can be checked. Raises :class:`DocumentError` before the period
    is closed."""
    table = investor_report(d)
    rows = table[table["period"] == int(period)] if len(table) else table
    if rows.empty:
        closed = sorted(set(table["period"])) if len(table) else []
        raise DocumentError(f"period {period} is not closed yet (closed periods: {closed or 'none'})")
    return rows.to_csv(index=False, lineterminator="\n").encode()


def attach_period_report(d: DealReader, period: int, tokens: Sequence[Any], *, sender: Any, out_dir: Path,
                         base_uri: str = "") -> tuple[Path, str, list[Receipt]]:
    """Write period ``period``'s investor report (:func:`period_report`) to ``out_dir`` and attach its hash to
    every tranche of ``tokens`` (brownie contracts) as ``investor-report-<period>``, URI ``base_uri`` + file
    name (default: the file name). Returns (file, hash, receipts); sends nothing when already attached."""
    data = period_report(d, period)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{report_name(period)}.csv"
    path.write_bytes(data)
    digest = content_hash(data)
    uri = (base_uri.rstrip("/") + "/" if base_uri else "") + path.name
    return path, digest, set_document(tokens, report_name(period), uri, digest, sender=sender)
